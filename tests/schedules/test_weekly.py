"""The Monday 09:00 attendance summary: counselors only, exactly once, grace and holidays."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.clock import ManualClock
from bot.config import Config
from storage.models import Delivery
from tests.conftest import TZ, make_config, seed_school, start_app

MON = date(2026, 11, 23)
TUE, WED, THU = (MON + timedelta(days=i) for i in range(1, 4))
NEXT_MON = MON + timedelta(days=7)


def at(hh: int, mm: int = 0, day: date = NEXT_MON) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TZ)


def weekly(bot: TestAdapter) -> list[Sent]:
    return [s for s in bot.sent if "考勤周报" in s.text]


async def post_week(bot: TestAdapter, clock: ManualClock) -> None:
    """Hand counts: 2020003 absent 3 times, 2020017 twice and 2020021 late once;
    护理172 posted nothing on Wednesday or Friday, 检验172 nothing all week."""
    clock.set(at(10, day=MON))
    await bot.say("2020002", "考勤 高等数学 缺勤 03 017 迟到 021", group="护理172")
    clock.set(at(10, day=TUE))
    await bot.say("2020002", "考勤 高等数学 缺勤 03", group="护理172")
    clock.set(at(10, day=THU))
    await bot.say("2020002", "考勤 大学英语 缺勤 03 017", group="护理172")


async def run_at(app: App, clock: ManualClock, when: datetime) -> None:
    clock.set(when)
    assert app.scheduler is not None
    await app.scheduler.run_due()


def weekly_deliveries(app: App) -> list[tuple[str, date, str]]:
    with app.uow(readonly=True) as s:
        rows = s.scalars(select(Delivery).where(Delivery.job == "weekly_attendance"))
        return [(d.scope, d.day, d.status) for d in rows]


async def test_weekly_summary_goes_to_each_counselor_on_monday_at_nine(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await post_week(bot, clock)
    await run_at(app, clock, at(8, 59))
    assert weekly(bot) == []
    await run_at(app, clock, at(9, 0))
    [summary] = weekly(bot)
    assert (summary.to.chat_id, summary.to.is_group) == ("T001", False)
    lines = summary.text.splitlines()
    assert lines[0] == "📋 考勤周报 11月23日（周一）–11月29日（周日）"
    assert "【护理172】已登记 3 节课" in lines
    assert "  2020003 王雨桐：3 / 0 / 0 ⚠️" in lines
    assert "  2020017 何欣然：2 / 0 / 0" in lines
    assert "  2020021 梁梦瑶：0 / 1 / 0" in lines
    assert "⚠️ 本周缺勤 3 次及以上，请跟进：王雨桐（2020003）" in lines
    assert "未登记考勤的教学日：11月25日（周三）、11月27日（周五）" in lines
    assert "【检验172】已登记 0 节课" in lines
    assert (
        "未登记考勤的教学日：11月23日（周一）、11月24日（周二）、11月25日（周三）、"
        "11月26日（周四）、11月27日（周五）"
    ) in lines


async def test_weekly_summary_is_sent_exactly_once(
    config: Config, app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await post_week(bot, clock)
    await run_at(app, clock, at(9, 0))
    await run_at(app, clock, at(9, 30))
    await run_at(app, clock, at(10, 0, day=NEXT_MON + timedelta(days=1)))
    assert len(weekly(bot)) == 1
    # A restart on the same database sends nothing again.
    again, bot2 = await start_app(config, ManualClock(at(9, 45)), seed=False)
    try:
        assert weekly(bot2) == []
    finally:
        await again.stop()
        again.engine.dispose()
    [(scope, day, status)] = weekly_deliveries(app)
    assert scope.startswith("person:") and day == NEXT_MON and status == "sent"


async def test_weekly_summary_missed_within_grace_is_sent_on_start(database_url: str) -> None:
    app, bot = await start_app(make_config(database_url), ManualClock(at(10, 55)))
    try:
        assert [s.to.chat_id for s in weekly(bot)] == ["T001"]
    finally:
        await app.stop()
        app.engine.dispose()


async def test_weekly_summary_past_grace_is_logged_as_skipped(database_url: str) -> None:
    config = make_config(database_url)
    seed_school(config, at(6))  # on the roster before 09:00
    app, bot = await start_app(config, ManualClock(at(11, 5)), seed=False)
    try:
        assert weekly(bot) == []
        [(_scope, day, status)] = weekly_deliveries(app)
        assert (day, status) == (NEXT_MON, "skipped")
    finally:
        await app.stop()
        app.engine.dispose()


async def test_a_holiday_monday_skips_the_weekly_summary(database_url: str) -> None:
    cfg = make_config(database_url, schedule={"skip_dates": [NEXT_MON.isoformat()]})
    clock = ManualClock(at(8))
    app, bot = await start_app(cfg, clock)
    try:
        await run_at(app, clock, at(9))
        assert weekly(bot) == []
        assert weekly_deliveries(app) == []
    finally:
        await app.stop()
        app.engine.dispose()


async def test_no_summary_on_other_days(app: App, bot: TestAdapter, clock: ManualClock) -> None:
    for offset in range(1, 7):
        await run_at(app, clock, at(9, day=MON + timedelta(days=offset)))
    assert weekly(bot) == []


async def test_configured_day_and_time_cover_the_seven_days_before(database_url: str) -> None:
    cfg = make_config(
        database_url,
        schedule={"weekly_attendance_day": "fri", "weekly_attendance": "17:00"},
        bot={"language": "en"},
    )
    friday = MON + timedelta(days=4)
    clock = ManualClock(at(16, 59, day=friday))
    app, bot = await start_app(cfg, clock)
    try:
        assert [s for s in bot.sent if "Attendance," in s.text] == []
        await run_at(app, clock, at(17, day=friday))
        [summary] = [s for s in bot.sent if "Attendance," in s.text]
        assert summary.to.chat_id == "T001"
        assert summary.text.splitlines()[0] == "📋 Attendance, Fri 20 Nov – Thu 26 Nov"
    finally:
        await app.stop()
        app.engine.dispose()
