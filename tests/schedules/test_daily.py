"""The daily jobs with the injected clock: times, exactly-once delivery, grace, holidays."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import date, datetime, time, timedelta
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.clock import ManualClock
from bot.config import Config
from storage import deliveries
from storage.models import Delivery, Person, Role, SchoolClass, StaffAssignment
from tests.conftest import TZ, make_config, pg_only, seed_school, start_app

DAY = date(2026, 11, 23)


def at(hh: int, mm: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=TZ)


async def move(app: App, clock: ManualClock, when: datetime) -> None:
    clock.set(when)
    assert app.scheduler is not None
    await app.scheduler.run_due()


def group_msgs(bot: TestAdapter, chat: str) -> list[Sent]:
    return bot.to_chat(chat, group=True)


def private(bot: TestAdapter, user: str) -> list[Sent]:
    # DAY is a Monday: the weekly attendance summary (tests/schedules/test_weekly.py) is not
    # one of the daily deliveries counted here.
    return [s for s in bot.to_chat(user, group=False) if "考勤周报" not in s.text]


def rollups(bot: TestAdapter, user: str) -> list[Sent]:
    """The roll-up summaries with their ledgers (the admins' charts come apart)."""
    return [
        s
        for s in private(bot, user)
        if s.message.attachment is not None and s.message.attachment.filename.endswith(".xlsx")
    ]


def chart_of(bot: TestAdapter, user: str) -> Sent:
    [chart] = [
        s
        for s in private(bot, user)
        if s.message.attachment is not None and s.message.attachment.mime_type == "image/png"
    ]
    return chart


def delivery_rows(app: App) -> list[tuple[str, str, date, str]]:
    with app.uow(readonly=True) as s:
        return [
            (d.job, d.scope, d.day, d.status)
            for d in s.scalars(select(Delivery).order_by(Delivery.id))
        ]


async def test_prompt_goes_to_every_bound_group_at_seven(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(6, 59))
    await move(app, clock, at(6, 59))
    assert bot.sent == []
    await move(app, clock, at(7, 0))
    assert [s.to.chat_id for s in bot.sent] == ["护理172", "检验172"]
    text = bot.sent[0].text
    assert "11:00" in text and "打卡" in text and "/checkin" in text


async def test_deadline_mentions_exactly_the_missing_students_and_lists_them_to_staff(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    for n in range(2020001, 2020029):  # all of 护理172 but 2020029 and 2020030
        await bot.say(str(n), "打卡 36.5", group="护理172")
    bot.clear()
    await move(app, clock, at(11))
    [reminder] = group_msgs(bot, "护理172")
    assert [m.user_id for m in reminder.message.mentions] == ["2020029", "2020030"]
    assert "2 位同学未打卡" in reminder.text
    [other] = group_msgs(bot, "检验172")
    assert len(other.message.mentions) == 30
    [counselor] = private(bot, "T001")
    assert "护理172：未打卡 2 人" in counselor.text and "董思琪(2020029)" in counselor.text
    assert "检验172：未打卡 30 人" in counselor.text
    [head] = private(bot, "T002")
    assert "护理172" in head.text and "检验172" not in head.text
    assert private(bot, "T003") == []


async def test_rollup_sends_summaries_and_ledgers_to_every_level(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    await bot.say("2020001", "打卡 36.5", group="护理172")
    await bot.say("2020003", "打卡 38.0", group="护理172")
    await move(app, clock, at(11))
    clock.set(at(11, 30))
    await bot.say("2020031", "打卡 36.6", group="检验172")
    bot.clear()
    await move(app, clock, at(12))
    [counselor] = private(bot, "T001")
    assert "护理172：应打卡 30，已打卡 2（迟交 0），未打卡 28，异常 1" in counselor.text
    assert "检验172：应打卡 30，已打卡 1（迟交 1），未打卡 29，异常 0" in counselor.text
    assert "补助" not in counselor.text
    assert counselor.message.attachment is not None
    assert counselor.message.attachment.filename == "台账-王芳-2026-11-23.xlsx"
    wb = load_workbook(BytesIO(counselor.message.attachment.content))
    assert wb.sheetnames == ["打卡", "未打卡", "异常", "请假", "考勤", "统计图"]
    # Counselors get their chart on request (汇总 图); the ledger carries the native charts.
    assert len(wb["统计图"]._charts) == 2
    [head] = private(bot, "T002")
    assert (
        head.message.attachment is not None
        and head.message.attachment.filename == "台账-护理172-2026-11-23.xlsx"
    )
    [college] = rollups(bot, "T003")
    assert "医学院" in college.text and "待审批补助" in college.text
    assert college.message.attachment is not None
    assert "补助" in load_workbook(BytesIO(college.message.attachment.content)).sheetnames
    [school] = rollups(bot, "T009")
    assert "全校" in school.text and "医学院（2 个班）" in school.text
    assert bot.to_chat("护理172", group=True) == []


async def test_every_job_fires_in_order_when_the_clock_jumps(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(6))
    await move(app, clock, at(12, 5))
    # 07:00 is past the two-hour grace at 12:05; 11:00 and 12:00 are not.
    kinds = [(s.to.chat_id, "⏰" in s.text, s.message.attachment is not None) for s in bot.sent]
    assert kinds[:2] == [("护理172", True, False), ("检验172", True, False)]
    assert all(a for _, _, a in kinds[-4:])
    jobs = [j for j, *_ in delivery_rows(app)]
    assert jobs.index("deadline") < jobs.index("rollup")
    assert ("prompt", "*", DAY, "skipped") in delivery_rows(app)


async def test_jobs_run_in_the_configured_zone(database_url: str) -> None:
    cfg = make_config(database_url, bot={"timezone": "Europe/Berlin"})
    berlin = datetime(2026, 11, 23, 6, 0, tzinfo=TZ).astimezone(TZ)
    clock = ManualClock(berlin)
    app, bot = await start_app(cfg, clock)
    try:
        # 07:00 in Shanghai is midnight in Berlin: nothing is due there yet.
        await move(app, clock, datetime(2026, 11, 23, 7, 0, tzinfo=TZ))
        assert [s for s in bot.sent if "🌅" in s.text] == []
        from zoneinfo import ZoneInfo

        await move(app, clock, datetime(2026, 11, 23, 7, 0, tzinfo=ZoneInfo("Europe/Berlin")))
        assert len([s for s in bot.sent if "🌅" in s.text]) == 2
    finally:
        await app.stop()
        app.engine.dispose()


async def test_a_job_near_midnight_is_sent_for_its_own_day_after_midnight(
    database_url: str,
) -> None:
    cfg = make_config(
        database_url, schedule={"prompt": "23:50", "deadline": "23:55", "rollup": "23:58"}
    )
    clock = ManualClock(at(23, 0))
    app, bot = await start_app(cfg, clock)
    try:
        await move(app, clock, at(0, 10, DAY + timedelta(days=1)))
        prompts = [s for s in bot.sent if "🌅" in s.text]
        assert len(prompts) == 2 and "11月23日" in prompts[0].text
        sent = {(j, d) for j, _, d, st in delivery_rows(app) if st == "sent" and j == "prompt"}
        assert sent == {("prompt", DAY)}
    finally:
        await app.stop()
        app.engine.dispose()


async def test_running_again_sends_nothing_twice(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await move(app, clock, at(12))
    first = len(bot.sent)
    await move(app, clock, at(12, 1))
    await move(app, clock, at(13))
    assert len(bot.sent) == first


async def test_restart_after_send_sends_nothing_twice(config: Config) -> None:
    clock = ManualClock(at(12))
    app, bot = await start_app(config, clock)
    await app.scheduler.run_due()  # type: ignore[union-attr]
    sent_before = len(bot.sent)
    await app.stop()
    app.engine.dispose()
    again, bot2 = await start_app(config, clock, seed=False)
    try:
        assert sent_before > 0
        assert bot2.sent == []
    finally:
        await again.stop()
        again.engine.dispose()


async def test_restart_between_claim_and_send(config: Config, clock: ManualClock) -> None:
    """A claim that never got to sending is taken over; one caught sending is never repeated."""
    clock.set(at(6))
    app, _ = await start_app(config, clock)
    await app.stop()
    with app.uow() as s:
        t001 = s.scalar(select(Person.id).where(Person.number == "T001"))
        t003 = s.scalar(select(Person.id).where(Person.number == "T003"))
        # The process died after claiming T001's roll-up (nothing sent) ...
        assert deliveries.claim(s, "rollup", f"person:{t001}", DAY, at(12)) is not None
        # ... and while sending T003's (it may have gone out).
        sending = deliveries.claim(s, "rollup", f"person:{t003}", DAY, at(12))
        assert sending is not None
        deliveries.mark(s, sending, deliveries.Status.SENDING, at(12))
    app.engine.dispose()
    clock.set(at(12, 5))
    again, bot2 = await start_app(config, clock, seed=False)
    try:
        assert len(rollups(bot2, "T001")) == 1
        assert rollups(bot2, "T003") == []
        assert len(rollups(bot2, "T009")) == 1
    finally:
        await again.stop()
        again.engine.dispose()


async def test_start_at_half_past_twelve_sends_the_missed_rollup_once(config: Config) -> None:
    clock = ManualClock(at(12, 30))
    app, bot = await start_app(config, clock)
    try:
        assert len(private(bot, "T001")) == 2  # 11:00 list and 12:00 roll-up, both within grace
        await app.scheduler.run_due()  # type: ignore[union-attr]
        assert len(private(bot, "T001")) == 2
    finally:
        await app.stop()
        app.engine.dispose()


async def test_start_past_grace_skips_the_rollup_and_logs_why(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    seed_school(config, at(6))  # the school was on the roster before the bot went down
    clock = ManualClock(at(15))
    with caplog.at_level(logging.WARNING, logger="schedules.runner"):
        app, bot = await start_app(config, clock, seed=False)
    try:
        assert private(bot, "T001") == []
        assert any("skipped job rollup for 2026-11-23" in r.getMessage() for r in caplog.records)
        assert ("rollup", "*", DAY, "skipped") in delivery_rows(app)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="schedules.runner"):
            await app.scheduler.run_due()  # type: ignore[union-attr]
        assert not any("rollup for 2026-11-23" in r.getMessage() for r in caplog.records)
    finally:
        await app.stop()
        app.engine.dispose()


async def test_a_new_deployment_logs_no_missed_jobs_from_before_its_roster_existed(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(at(15))  # the roster is imported at 15:00, and the bot starts
    with caplog.at_level(logging.WARNING, logger="schedules.runner"):
        app, bot = await start_app(config, clock)
    try:
        assert not [r for r in caplog.records if "skipped job" in r.getMessage()]
        assert [row for row in delivery_rows(app) if row[3] == "skipped"] == []
        await move(app, clock, at(12, 0, DAY + timedelta(days=1)))
        assert len(rollups(bot, "T001")) == 1  # from the next day on, every job runs
    finally:
        await app.stop()
        app.engine.dispose()


async def test_a_job_missed_after_the_roster_existed_is_still_logged_when_the_bot_starts(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    seed_school(config, at(11, 30))  # imported after 07:00 and 11:00, before 12:00
    with caplog.at_level(logging.WARNING, logger="schedules.runner"):
        app, _bot = await start_app(config, ManualClock(at(15)), seed=False)
    try:
        skipped = [r.getMessage() for r in caplog.records if "skipped job" in r.getMessage()]
        assert len(skipped) == 1 and "skipped job rollup for 2026-11-23" in skipped[0]
    finally:
        await app.stop()
        app.engine.dispose()


async def test_checkin_holiday_skips_prompt_and_reminder_but_not_the_rollup(
    database_url: str,
) -> None:
    cfg = make_config(database_url, checkin={"skip_dates": [DAY.isoformat()]})
    clock = ManualClock(at(6))
    app, bot = await start_app(cfg, clock)
    try:
        await move(app, clock, at(7))
        await move(app, clock, at(11))
        assert [s for s in bot.sent if "考勤周报" not in s.text] == []
        await move(app, clock, at(11, 30))
        await move(app, clock, at(12))
        assert len(private(bot, "T001")) == 1
    finally:
        await app.stop()
        app.engine.dispose()


async def test_an_empty_class_still_gets_a_zero_report(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    with app.uow() as s:
        college_id = s.scalar(select(SchoolClass.college_id).limit(1))
        empty = SchoolClass(code="空班", college_id=college_id)
        s.add(empty)
        t = Person(
            number="T010",
            name="孙老师",
            role=Role.COUNSELOR.value,
            created_at=at(6),
            updated_at=at(6),
        )
        s.add(t)
        s.flush()
        s.add(StaffAssignment(person_id=t.id, class_id=empty.id))
        from storage.models import ChatAccount

        s.add(ChatAccount(platform="test", platform_user_id="T010", person_id=t.id, bound_at=at(6)))
    await move(app, clock, at(12))
    [report] = [s for s in private(bot, "T010") if s.message.attachment is not None]
    assert "空班：应打卡 0，已打卡 0（迟交 0），未打卡 0，异常 0，请假 0" in report.text
    assert report.message.attachment is not None


async def test_college_override_moves_that_colleges_jobs(database_url: str) -> None:
    cfg = make_config(database_url, schedule={"colleges": {"医学院": {"prompt": "06:30"}}})
    clock = ManualClock(at(6))
    app, bot = await start_app(cfg, clock)
    try:
        await move(app, clock, at(6, 30))
        assert len([s for s in bot.sent if "🌅" in s.text]) == 2
        await move(app, clock, at(7))
        assert len([s for s in bot.sent if "🌅" in s.text]) == 2
    finally:
        await app.stop()
        app.engine.dispose()


def _run_in_thread(config: Config, when: datetime, results: list[int]) -> None:
    async def main() -> None:
        app, bot = await start_app(config, ManualClock(when), seed=False)
        try:
            results.append(len(bot.sent))
        finally:
            await app.stop()
            app.engine.dispose()

    asyncio.run(main())


def _two_schedulers_send_each_delivery_once(config: Config) -> None:
    async def seed() -> None:
        app, _ = await start_app(config, ManualClock(at(6)), seed=True)
        await app.stop()
        app.engine.dispose()

    asyncio.run(seed())
    results: list[int] = []
    threads = [
        threading.Thread(target=_run_in_thread, args=(config, at(12, 10), results))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 2 groups + 2 staff lists at 11:00, 4 roll-ups at 12:00 and the college's and the
    # school's charts: shared by the two processes.
    assert sum(results) == 10
    engine_app, _ = asyncio.run(_open(config))
    with engine_app.uow(readonly=True) as s:
        sent = s.execute(
            # The purge job rides on the delivery log too, but sends nothing.
            select(Delivery.job, Delivery.scope).where(
                Delivery.status == "sent", Delivery.job != "purge"
            )
        ).all()
    engine_app.engine.dispose()
    pairs = [(job, scope) for job, scope in sent]
    assert len(pairs) == len(set(pairs)) == 8, pairs


async def _open(config: Config) -> tuple[App, TestAdapter]:
    app, bot = await start_app(config, ManualClock(at(6)), seed=False)
    await app.stop()
    return app, bot


@pg_only
def test_two_schedulers_on_postgresql_send_each_delivery_once(config: Config) -> None:
    _two_schedulers_send_each_delivery_once(config)


def test_two_schedulers_on_one_database_send_each_delivery_once(config: Config) -> None:
    _two_schedulers_send_each_delivery_once(config)


async def test_the_rollup_shows_a_request_submitted_at_0630_on_its_local_date(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    # 06:30 in Beijing is 22:30 UTC the day before.
    clock.set(at(6, 30))
    await bot.say("2020010", "请假 明天 事假 回家")
    await move(app, clock, at(12, 0, DAY + timedelta(days=1)).replace(second=5))
    [rollup] = [s for s in private(bot, "T001") if "打卡汇总" in s.text]
    assert "L1（护理172 " in rollup.text and "，11月23日 提交）" in rollup.text


async def test_the_school_rollup_says_how_the_days_messages_fared_and_who_was_not_reached(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    # The head teacher has blocked the bot: the fever alert to them cannot be delivered.
    bot.unreachable.add("T002")
    await bot.say("2020001", "打卡 38.5 发热", group="护理172")
    await bot.say("2020003", "打卡 36.5", group="护理172")
    bot.clear()
    await move(app, clock, at(12))
    [college] = [s for s in private(bot, "T003") if "汇总" in s.text]
    assert "（T002）：提醒或审批通知 — 无法私信（blocked the bot）" in college.text
    [school] = [s for s in private(bot, "T009") if "汇总" in s.text]
    # The head teacher's alert, 11:00 list and roll-up (sent before the school's) did not
    # go out; everything else did.
    line = school.text.splitlines()[-1]
    assert line.startswith("📮 今日消息投递：已送达 ")
    assert line.endswith("无法送达 3")
    assert "重试过 0" in line and "过期未送出 0" in line


async def test_rollup_to_college_and_school_admins_carries_a_chart_png(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clock.set(at(8))
    await bot.say("2020001", "打卡 36.5", group="护理172")
    await bot.say("2020003", "打卡 38.0", group="护理172")
    bot.clear()
    await move(app, clock, at(12))
    for user, label in (("T003", "医学院"), ("T009", "全校")):
        chart = chart_of(bot, user)
        attachment = chart.message.attachment
        assert attachment is not None
        assert attachment.filename == f"统计图-{label}-2026-11-23.png"
        assert attachment.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert chart.text == f"📈 {label} 近 14 天打卡趋势"
    # Class staff get no picture at 12:00: theirs comes with 汇总 图.
    for user in ("T001", "T002"):
        assert all(
            s.message.attachment is None or s.message.attachment.filename.endswith(".xlsx")
            for s in private(bot, user)
        )
    # One delivery per admin: the chart goes out with the summary it belongs to.
    with app.uow(readonly=True) as s:
        rows = s.scalars(
            select(Delivery).where(Delivery.job == "rollup", Delivery.day == DAY)
        ).all()
    assert len(rows) == 4 and {r.status for r in rows} == {"sent"}
