"""Dates as people type them in chat (SPEC §4): 2026-11-23, 11-23, 11月23日, 今天, 明天, 后天."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

RELATIVE = {
    "今天": 0,
    "今日": 0,
    "明天": 1,
    "明日": 1,
    "后天": 2,
    "昨天": -1,
    "昨日": -1,
    "前天": -2,
    "today": 0,
    "tomorrow": 1,
    "yesterday": -1,
}

_FULL = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?$")
_SHORT = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})[日号]?$")

WEEKDAYS_ZH = "一二三四五六日"
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_day(token: str, today: date) -> date | None:
    """The day a token names, or None when it is not a date (or not a real one, like 2-30).

    A date without a year is taken in the year that puts it nearest to today, so `12-30`
    typed on 2 January means last December and `01-03` typed on 30 December next January.
    """
    text = unicodedata.normalize("NFKC", token).strip().lower()
    if text in RELATIVE:
        return today + timedelta(days=RELATIVE[text])
    m = _FULL.match(text)
    if m is not None:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _SHORT.match(text)
    if m is None:
        return None
    month, day = int(m.group(1)), int(m.group(2))
    candidates = [
        d for year in (today.year - 1, today.year, today.year + 1) if (d := _make(year, month, day))
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda d: (abs((d - today).days), d))


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def format_day(day: date, lang: str) -> str:
    """`11月23日（周一）` or `Mon 23 Nov`."""
    if lang == "en":
        return f"{WEEKDAYS_EN[day.weekday()]} {day.day} {MONTHS_EN[day.month - 1]}"
    return f"{day.month}月{day.day}日（周{WEEKDAYS_ZH[day.weekday()]}）"


def week_start(day: date) -> date:
    """The Monday of the week that holds `day`."""
    return day - timedelta(days=day.weekday())
