"""Dates as people type them (SPEC §4)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.dates import (
    bad_date,
    day_label,
    format_day,
    parse_date,
    parse_day,
    parse_days,
    parse_range,
    short_day,
    try_parse_date,
    week_start,
)
from storage.errors import BadArguments

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-11-25", date(2026, 11, 25)),
        ("2026/11/25", date(2026, 11, 25)),
        ("2026年11月25日", date(2026, 11, 25)),
        ("11-25", date(2026, 11, 25)),
        ("11/25", date(2026, 11, 25)),
        ("11月25日", date(2026, 11, 25)),
        ("11月25号", date(2026, 11, 25)),
        ("11月25", date(2026, 11, 25)),
        ("１１－２５", date(2026, 11, 25)),
        ("今天", TODAY),
        ("明天", date(2026, 11, 24)),
        ("后天", date(2026, 11, 25)),
        ("昨天", date(2026, 11, 22)),
        ("Tomorrow", date(2026, 11, 24)),
    ],
)
def test_accepted_forms(typed: str, expected: date) -> None:
    assert parse_date(typed, TODAY) == expected


@pytest.mark.parametrize(
    ("today", "typed", "expected"),
    [
        (date(2026, 12, 28), "1-5", date(2027, 1, 5)),
        (date(2027, 1, 2), "12-30", date(2026, 12, 30)),
        (date(2026, 6, 1), "5-20", date(2026, 5, 20)),
        (date(2028, 1, 10), "2-29", date(2028, 2, 29)),
    ],
)
def test_a_date_without_year_is_the_nearest_one(today: date, typed: str, expected: date) -> None:
    assert parse_date(typed, today) == expected


@pytest.mark.parametrize("typed", ["下周", "abc", "2026-11", "36.5", "13-01", "L37", "病假"])
def test_non_dates_are_not_dates(typed: str) -> None:
    assert try_parse_date(typed, TODAY) is None
    with pytest.raises(BadArguments):
        parse_date(typed, TODAY)


@pytest.mark.parametrize("typed", ["02-30", "2026-02-29", "11月31日"])
def test_impossible_days_are_refused(typed: str) -> None:
    with pytest.raises(BadArguments, match="没有"):
        try_parse_date(typed, TODAY)


def test_february_29_far_from_a_leap_year_is_refused() -> None:
    with pytest.raises(BadArguments, match="没有"):
        parse_date("2-29", date(2026, 6, 1))


def test_short_day_shows_the_year_only_when_needed() -> None:
    assert short_day(date(2026, 12, 1), TODAY) == "12月1日"
    assert short_day(date(2027, 1, 5), TODAY) == "2027年1月5日"


@pytest.mark.parametrize(("typed", "expected"), [("11-25", date(2026, 11, 25)), ("02-30", None)])
def test_parse_day_never_raises(typed: str, expected: date | None) -> None:
    assert parse_day(typed, TODAY) == expected


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


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("周一", date(2026, 11, 23)),
        ("周五", date(2026, 11, 27)),
        ("星期日", date(2026, 11, 29)),
        ("礼拜天", date(2026, 11, 29)),
        ("下周一", date(2026, 11, 30)),
        ("下星期三", date(2026, 12, 2)),
        ("本周五", date(2026, 11, 27)),
        ("下下周一", date(2026, 12, 7)),
    ],
)
def test_weekdays_are_days_of_this_or_next_week(typed: str, expected: date) -> None:
    assert parse_date(typed, TODAY) == expected


def test_a_past_weekday_is_next_weeks_only_when_looking_ahead() -> None:
    thursday = date(2026, 11, 26)
    assert parse_date("周一", thursday) == date(2026, 11, 23)
    assert parse_date("周一", thursday, future=True) == date(2026, 11, 30)
    assert parse_date("本周一", thursday, future=True) == date(2026, 11, 23)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("明天到后天", (date(2026, 11, 24), date(2026, 11, 25))),
        ("明天-后天", (date(2026, 11, 24), date(2026, 11, 25))),
        ("周三至周五", (date(2026, 11, 25), date(2026, 11, 27))),
        ("11-24-11-26", (date(2026, 11, 24), date(2026, 11, 26))),
        ("11月24日到11月26日", (date(2026, 11, 24), date(2026, 11, 26))),
        ("明天到", None),
        ("病假", None),
        ("到后天", None),
    ],
)
def test_ranges_in_one_token(typed: str, expected: tuple[date, date] | None) -> None:
    assert parse_range(typed, TODAY) == expected


@pytest.mark.parametrize(
    ("typed", "expected"), [("3天", 3), ("１０天", 10), ("2days", 2), ("3", None), ("三天", None)]
)
def test_lengths_in_days(typed: str, expected: int | None) -> None:
    assert parse_days(typed) == expected


def test_the_date_error_examples_are_ahead_of_today() -> None:
    error = bad_date("大后天", date(2027, 12, 30))
    text = error.render("zh")
    assert "2028-01-02、1-2、1月2日" in text and "2027" not in text


def test_one_date_style() -> None:
    assert day_label(date(2026, 12, 2)) == "12月2日"
    assert day_label(date(2026, 12, 2), "en") == "2 Dec"
    assert day_label(date(2027, 1, 5), today=TODAY) == "2027年1月5日"
    assert day_label(date(2026, 12, 2), weekday=True) == "12月2日（周三）"
