"""Dates as people type them: 2026-11-23, 11-23, 11月23日, 今天, 明天, 后天 (and full-width)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

_RELATIVE = {
    "今天": 0,
    "今日": 0,
    "today": 0,
    "明天": 1,
    "明日": 1,
    "tomorrow": 1,
    "后天": 2,
    "昨天": -1,
    "yesterday": -1,
}
_FULL = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_SHORT = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})[日号]?$")


def parse_day(token: str, today: date) -> date | None:
    """The date a token names, or None when it is not a date.

    A month-day without a year is the nearest such day: in a December, "1-5" is next January.
    """
    text = unicodedata.normalize("NFKC", token).strip().lower()
    if text in _RELATIVE:
        return today + timedelta(days=_RELATIVE[text])
    try:
        m = _FULL.match(text)
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _SHORT.match(text)
        if m:
            month, day = int(m.group(1)), int(m.group(2))
            candidates = [
                date(today.year + dy, month, day)
                for dy in (-1, 0, 1)
                if _valid(today.year + dy, month, day)
            ]
            if not candidates:
                return None
            return min(candidates, key=lambda d: abs((d - today).days))
    except ValueError:
        return None
    return None


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True
