"""Dates as typed in chat (SPEC §4)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.dates import format_day, parse_day, week_start

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-11-23", date(2026, 11, 23)),
        ("2026/11/5", date(2026, 11, 5)),
        ("2026年11月5日", date(2026, 11, 5)),
        ("11-23", date(2026, 11, 23)),
        ("11/20", date(2026, 11, 20)),
        ("11月23日", date(2026, 11, 23)),
        ("11月25号", date(2026, 11, 25)),
        ("１１月２３日", date(2026, 11, 23)),
        ("今天", TODAY),
        ("明天", date(2026, 11, 24)),
        ("后天", date(2026, 11, 25)),
        ("昨天", date(2026, 11, 22)),
        ("Today", TODAY),
        ("tomorrow", date(2026, 11, 24)),
    ],
)
def test_accepted_day_forms(typed: str, expected: date) -> None:
    assert parse_day(typed, TODAY) == expected


@pytest.mark.parametrize(
    "typed", ["高等数学", "2-30", "2026-02-30", "13-01", "第2节", "11月", "2020003", "", "1-2-3"]
)
def test_not_a_day(typed: str) -> None:
    assert parse_day(typed, TODAY) is None


def test_a_day_without_a_year_is_the_nearest_one() -> None:
    assert parse_day("12-30", date(2027, 1, 2)) == date(2026, 12, 30)
    assert parse_day("01-03", date(2026, 12, 30)) == date(2027, 1, 3)
    assert parse_day("2-29", date(2028, 3, 1)) == date(2028, 2, 29)


def test_format_day_and_week_start() -> None:
    assert format_day(TODAY, "zh") == "11月23日（周一）"
    assert format_day(TODAY, "en") == "Mon 23 Nov"
    assert week_start(date(2026, 11, 29)) == TODAY
    assert week_start(TODAY) == TODAY
