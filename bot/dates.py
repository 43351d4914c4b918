"""Dates as people type them (SPEC §4): 2026-11-23, 11-23, 11月23日, 今天, 明天, 后天 (and
full-width). Shared by every command that takes a date (leave, attendance, reports, export).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

from storage.errors import BadArguments

_RELATIVE = {
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "yesterday": -1,
    "今天": 0,
    "今日": 0,
    "today": 0,
    "明天": 1,
    "明日": 1,
    "tomorrow": 1,
    "后天": 2,
}
_FULL = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?$")
_SHORT = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})[日号]?$")


def parse_day(token: str, today: date) -> date | None:
    """The date a token names, or None when it is not a date (nor a day that exists)."""
    try:
        return try_parse_date(token, today)
    except BadArguments:
        return None


def try_parse_date(token: str, today: date) -> date | None:
    """The date a token names, or None when it is not written as a date at all; a date that
    does not exist (02-30) is a malformed command.

    A month-day without a year is the nearest such day: `1-5` typed on 12-28 is next
    January, and `12-30` typed on 1-2 is last December.
    """
    text = unicodedata.normalize("NFKC", token).strip().lower()
    if text in _RELATIVE:
        return today + timedelta(days=_RELATIVE[text])
    full = _FULL.match(text)
    if full:
        return _make(int(full.group(1)), int(full.group(2)), int(full.group(3)), token)
    short = _SHORT.match(text)
    if short is None:
        return None
    month, day = int(short.group(1)), int(short.group(2))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    candidates = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        raise _no_such_day(token)
    return min(candidates, key=lambda d: (abs((d - today).days), d < today))


def parse_date(token: str, today: date) -> date:
    """Like `try_parse_date`, but a token that is not a date is a malformed command."""
    found = try_parse_date(token, today)
    if found is None:
        raise BadArguments(
            f"日期「{token}」看不懂，可以写 2026-11-23、11-23、11月23日、今天、明天或后天。",
            f"Cannot read the date {token!r}; write 2026-11-23, 11-23, today or tomorrow.",
        )
    return found


def _make(year: int, month: int, day: int, token: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _no_such_day(token) from None


def _no_such_day(token: str) -> BadArguments:
    return BadArguments(f"没有「{token}」这一天。", f"There is no such day as {token!r}.")


def short_day(day: date, today: date) -> str:
    """A short date for replies: 11-23, with the year only when it is not this year."""
    return f"{day:%m-%d}" if day.year == today.year else f"{day:%Y-%m-%d}"


WEEKDAYS_ZH = "一二三四五六日"
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_day(day: date, lang: str) -> str:
    """`11月23日（周一）` or `Mon 23 Nov`."""
    if lang == "en":
        return f"{WEEKDAYS_EN[day.weekday()]} {day.day} {MONTHS_EN[day.month - 1]}"
    return f"{day.month}月{day.day}日（周{WEEKDAYS_ZH[day.weekday()]}）"


def week_start(day: date) -> date:
    """The Monday of the week that holds `day`."""
    return day - timedelta(days=day.weekday())
