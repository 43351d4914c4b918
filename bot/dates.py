"""Dates as people type them (SPEC §4): 2026-11-23, 11-23, 11月23日, 今天, 明天, 后天, 周五,
下周一 (and full-width), and the one way every text shows a date (`day_label`: 12月2日).
Shared by every command that takes a date (leave, attendance, reports, export).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

from bot.texts import Catalogue, PerLanguage, Text
from storage.errors import BadArguments


class DateTexts(Catalogue):
    bad_date = Text(
        "日期{what}看不懂，可以写 {iso}、{short}、{long}、今天、明天、后天、周五 或 下周一。",
        "Cannot read the date{what}; write {iso}, {short}, {long}, today or tomorrow.",
    )
    quoted = Text("「{token}」", " {token!r}")
    no_such_day = Text("没有「{token}」这一天。", "There is no such day as {token!r}.")
    day = Text("{month}月{day}日", "{day} {month}")
    day_in_year = Text("{year}年{month}月{day}日", "{day} {month} {year}")
    with_weekday = Text("{text}（周{weekday}）", "{weekday} {text}")


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
_WEEKDAY = re.compile(r"^(下下|下|本|这)?(?:周|星期|礼拜)([一二三四五六日天])$")
_WEEKS_AHEAD = {"下": 1, "下下": 2}
_WEEKDAY_INDEX = {c: i for i, c in enumerate("一二三四五六日")} | {"天": 6}
_RANGE_SEPARATORS = ("到", "至", "~", "-")
# A length of leave: 3天 (days).
_DAYS = re.compile(r"^(\d{1,3})(?:天|days?)$")
_FULL = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?$")
_SHORT = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})[日号]?$")


def parse_day(token: str, today: date) -> date | None:
    """The date a token names, or None when it is not a date (nor a day that exists)."""
    try:
        return try_parse_date(token, today)
    except BadArguments:
        return None


def try_parse_date(token: str, today: date, *, future: bool = False) -> date | None:
    """The date a token names, or None when it is not written as a date at all; a date that
    does not exist (02-30) is a malformed command.

    A month-day without a year is the nearest such day: `1-5` typed on 12-28 is next
    January, and `12-30` typed on 1-2 is last December. A weekday (`周五`) is that day of
    this week, `下周一` of next week; with `future` (leave), a bare weekday already past this
    week is next week's.
    """
    text = unicodedata.normalize("NFKC", token).strip().lower()
    if text in _RELATIVE:
        return today + timedelta(days=_RELATIVE[text])
    weekday = _WEEKDAY.match(text)
    if weekday:
        prefix, name = weekday.groups()
        weeks = _WEEKS_AHEAD.get(prefix or "", 0)
        found = week_start(today) + timedelta(weeks=weeks, days=_WEEKDAY_INDEX[name])
        if future and prefix is None and found < today:
            found += timedelta(weeks=1)
        return found
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


def parse_date(token: str, today: date, *, future: bool = False) -> date:
    """Like `try_parse_date`, but a token that is not a date is a malformed command."""
    found = try_parse_date(token, today, future=future)
    if found is None:
        raise bad_date(token, today)
    return found


def bad_date(token: str | None, today: date) -> BadArguments:
    """The refusal of a date nobody can read, with examples that are never in the past."""
    ahead = today + timedelta(days=3)
    return BadArguments(
        DateTexts.bad_date,
        what=DateTexts.quoted.bind(token=token) if token else "",
        iso=f"{ahead:%Y-%m-%d}",
        short=f"{ahead.month}-{ahead.day}",
        long=PerLanguage(lambda lang: day_label(ahead, lang)),
    )


def parse_days(token: str) -> int | None:
    """A length in days (`3天`), or None when the token is not one."""
    found = _DAYS.match(unicodedata.normalize("NFKC", token).strip().lower())
    return int(found.group(1)) if found else None


def parse_range(token: str, today: date, *, future: bool = False) -> tuple[date, date] | None:
    """A range in one token, `明天到后天` or `明天-后天` (or `11-23-11-25`), else None."""
    text = unicodedata.normalize("NFKC", token).strip()
    for sep in _RANGE_SEPARATORS:
        start = 0
        while (i := text.find(sep, start)) > 0:
            head, tail = text[:i], text[i + len(sep) :]
            start = i + 1
            first = parse_day_ahead(head, today, future)
            if first is None:
                continue
            last = parse_day_ahead(tail, today, future)
            if last is not None:
                return first, last
    return None


def parse_day_ahead(token: str, today: date, future: bool) -> date | None:
    try:
        return try_parse_date(token, today, future=future)
    except BadArguments:
        return None


def _make(year: int, month: int, day: int, token: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _no_such_day(token) from None


def _no_such_day(token: str) -> BadArguments:
    return BadArguments(DateTexts.no_such_day, token=token)


# The names `DateTexts` writes, per language (the weekday after 周, the month).
WEEKDAYS = {"zh": tuple("一二三四五六日"), "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
MONTHS = {
    "zh": tuple(str(m) for m in range(1, 13)),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def day_label(
    day: date, lang: str = "zh", *, today: date | None = None, weekday: bool = False
) -> str:
    """How every text shows a date: `12月2日` (`2 Dec`), with the year when `today` is given
    and is in another year (`2027年1月5日`), and the weekday when asked (`12月2日（周三）`)."""
    with_year = today is not None and day.year != today.year
    month = MONTHS[lang][day.month - 1]
    text = (DateTexts.day_in_year if with_year else DateTexts.day)(
        lang, year=day.year, month=month, day=day.day
    )
    if not weekday:
        return text
    return DateTexts.with_weekday(lang, text=text, weekday=WEEKDAYS[lang][day.weekday()])


def short_day(day: date, today: date, lang: str = "zh") -> str:
    """A date in a reply, the year shown only when it is not this year."""
    return day_label(day, lang, today=today)


def format_day(day: date, lang: str) -> str:
    """`11月23日（周一）` or `Mon 23 Nov`."""
    return day_label(day, lang, weekday=True)


def week_start(day: date) -> date:
    """The Monday of the week that holds `day`."""
    return day - timedelta(days=day.weekday())
