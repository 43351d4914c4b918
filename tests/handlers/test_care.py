"""心理预警 reaches exactly the student's counselors and the college's mental-health
contacts, never a group, the student or anyone else; reads are audited and a school admin
sees counts only; 心理委员 reports with a zero report allowed and private reminders; the
consent basis; care records purged after their own retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.adapters.testing import Sent, TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage import campaigns, care
from storage.models import AuditEntry, Campaign, CampaignResponse, CareAlert, Person, Role
from tests.conftest import TZ, make_config, row_counts, start_app
from tests.handlers.people import add_staff, database_text

TEXT = "最近几天情绪很低落，说过不想活了"
CONTACTS = {"医学院": ["T005"]}


async def started(
    database_url: str, clock: ManualClock, **sections: dict[str, Any]
) -> tuple[App, TestAdapter]:
    config = make_config(
        database_url,
        care={"mental_health_contacts": CONTACTS, **sections.pop("care", {})},
        **sections,
    )
    app, bot = await start_app(config, clock)
    add_staff(app, "T005", "孙心理", Role.COUNSELOR, ())
    return app, bot


@pytest.fixture
async def care_bot(database_url: str, clock: ManualClock) -> AsyncIterator[tuple[App, TestAdapter]]:
    app, bot = await started(database_url, clock)
    yield app, bot
    await app.stop()
    app.engine.dispose()


def recipients(sent: list[Sent]) -> set[str]:
    return {s.to.chat_id for s in sent}


def holding(sent: list[Sent], text: str) -> set[str]:
    return {s.to.chat_id for s in sent if text in s.text}


def alerts(app: App) -> list[CareAlert]:
    with app.uow(readonly=True) as s:
        return list(s.scalars(select(CareAlert)))


def name_of(app: App, number: str) -> str:
    with app.uow(readonly=True) as s:
        name = s.scalar(select(Person.name).where(Person.number == number))
        assert name is not None
        return name


@pytest.mark.parametrize("reporter", ["2020002", "2020031", "T002", "T009"])
async def test_an_alert_reaches_exactly_the_counselor_and_the_mental_health_contact(
    care_bot: tuple[App, TestAdapter], reporter: str
) -> None:
    app, bot = care_bot
    sent = await bot.say(reporter, f"心理预警 2020005 {TEXT}")
    # Every queued message: the designated readers get the content, the reporter a
    # confirmation without it; nobody else hears anything, no group, not the student.
    assert recipients(sent) == {reporter, "T001", "T005"}
    assert holding(sent, TEXT) == {"T001", "T005"}
    assert all(not s.to.is_group for s in bot.sent)
    [confirmation] = [s for s in sent if s.to.chat_id == reporter]
    assert TEXT not in confirmation.text and "2 位" in confirmation.text
    [row] = alerts(app)
    assert row.text == TEXT
    # The audit log says it happened, never what it said.
    with app.uow(readonly=True) as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "care.alert")))
    assert [e.target for e in entries] == ["person:2020005"] and TEXT not in str(entries[0].detail)


async def test_a_name_works_and_an_ambiguous_one_is_refused_with_masked_candidates(
    care_bot: tuple[App, TestAdapter],
) -> None:
    app, bot = care_bot
    name = name_of(app, "2020005")
    sent = await bot.say("2020002", f"心理预警 {name} {TEXT}")
    assert holding(sent, TEXT) == {"T001", "T005"}
    with app.uow() as s:
        s.execute(update(Person).where(Person.number == "2020040").values(name=name))
    before = row_counts(app)
    [reply] = await bot.say("2020002", f"心理预警 {name} 又一次")
    assert reply.to.chat_id == "2020002"
    assert "护理172 20***05" in reply.text and "检验172 20***40" in reply.text
    assert "2020005" not in reply.text and "2020040" not in reply.text
    assert row_counts(app) == before
    [reply] = await bot.say("2020002", "心理预警 不存在的人 情况")
    assert "找不到" in reply.text
    [reply] = await bot.say("2020002", "心理预警 2020005")
    assert "格式：心理预警" in reply.text
    assert row_counts(app) == before


async def test_in_a_group_it_hints_private_chat_stores_nothing_and_echoes_nothing(
    care_bot: tuple[App, TestAdapter],
) -> None:
    app, bot = care_bot
    before = row_counts(app)
    [reply] = await bot.say("2020002", f"心理预警 2020005 {TEXT}", group="护理172")
    assert "私聊" in reply.text and TEXT not in reply.text and "2020005" not in reply.text
    assert row_counts(app) == before
    assert TEXT not in database_text(app, skip=("inbound_messages",))


async def test_only_designated_readers_read_alerts_each_read_audited(
    care_bot: tuple[App, TestAdapter],
) -> None:
    app, bot = care_bot
    await bot.say("2020002", f"心理预警 2020005 {TEXT}")
    for reader in ("T001", "T005"):
        [reply] = await bot.say(reader, "预警记录")
        assert TEXT in reply.text, reader
    for other in ("T002", "T003"):
        [reply] = await bot.say(other, "预警记录")
        assert TEXT not in reply.text and "没有你可以查看" in reply.text
    [counts] = await bot.say("T009", "预警记录")
    assert "医学院 1" in counts.text and TEXT not in counts.text
    with app.uow(readonly=True) as s:
        reads = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "care_read")))
    assert sorted(e.actor for e in reads) == ["T001 王芳", "T005 孙心理"]


async def test_an_undeliverable_alert_goes_one_level_up_without_its_content(
    care_bot: tuple[App, TestAdapter],
) -> None:
    _app, bot = care_bot
    bot.unreachable.add("T001")
    sent = await bot.say("2020002", f"心理预警 2020005 {TEXT}")
    ups = [s for s in sent if s.to.chat_id == "T003"]
    assert len(ups) == 1 and "未能送达" in ups[0].text and "王芳（T001）" in ups[0].text
    assert TEXT not in ups[0].text
    assert holding(sent, TEXT) == {"T005"}


async def test_with_no_designated_reader_the_college_office_is_told_without_content(
    database_url: str, clock: ManualClock
) -> None:
    config = make_config(database_url)
    app, bot = await start_app(config, clock)
    try:
        with app.uow() as s:
            s.execute(update(Person).where(Person.number == "T001").values(active=False))
        sent = await bot.say("2020002", f"心理预警 2020005 {TEXT}")
        assert recipients(sent) == {"2020002", "T003"}
        assert holding(sent, TEXT) == set()
    finally:
        await app.stop()
        app.engine.dispose()


async def test_under_a_consent_basis_an_alert_is_delivered_but_kept_only_with_consent(
    database_url: str, clock: ManualClock
) -> None:
    app, bot = await started(database_url, clock, privacy={"care_basis": "consent"})
    try:
        sent = await bot.say("2020002", f"心理预警 2020005 {TEXT}")
        assert holding(sent, TEXT) == {"T001", "T005"}
        assert alerts(app) == []
        [reply] = [s for s in sent if s.to.chat_id == "2020002"]
        assert "不保存" in reply.text
        [reply] = await bot.say("2020005", "同意 关怀")
        assert "已记录你的单独同意" in reply.text
        await bot.say("2020002", f"心理预警 2020005 {TEXT}")
        assert len(alerts(app)) == 1
        # Parents are a separate consent: agreeing to care records is not agreeing to that.
        with app.uow(readonly=True) as s:
            student = s.scalar(select(Person.id).where(Person.number == "2020005"))
            assert student is not None
            assert not care.has_consent(s, student, care.PARENTS)
        await bot.say("2020005", "同意 家长")
        await bot.say("2020005", "撤回同意 家长")
        with app.uow(readonly=True) as s:
            assert not care.has_consent(s, student, care.PARENTS)
            assert care.has_consent(s, student, care.CARE)
    finally:
        await app.stop()
        app.engine.dispose()


def make_rep(app: App, number: str = "2020002") -> None:
    with app.uow() as s:
        s.execute(update(Person).where(Person.number == number).values(psych_rep=True))


async def test_a_psych_rep_reports_zero_or_a_concern_privately(
    care_bot: tuple[App, TestAdapter],
) -> None:
    app, bot = care_bot
    [reply] = await bot.say("2020001", "心理周报 无异常")
    assert "只有心理委员" in reply.text
    make_rep(app)
    sent = await bot.say("2020002", "心理周报 无异常")
    assert recipients(sent) == {"2020002"} and "本周无异常" in sent[0].text
    sent = await bot.say("2020002", "心理周报 有同学连续失眠一周")
    assert holding(sent, "有同学连续失眠一周") == {"T001", "T005"}
    assert "已更新" in next(s for s in sent if s.to.chat_id == "2020002").text
    with app.uow(readonly=True) as s:
        [report] = s.scalars(select(CampaignResponse))
    assert report.answers == {"abnormal": True, "text": "有同学连续失眠一周"}
    [reply] = await bot.say("2020002", "心理周报 无异常", group="护理172")
    assert "私聊" in reply.text


async def test_reminders_go_privately_to_reps_who_have_not_reported(
    care_bot: tuple[App, TestAdapter], clock: ManualClock
) -> None:
    app, bot = care_bot
    make_rep(app, "2020002")
    make_rep(app, "2020031")
    await bot.say("2020031", "心理周报 无异常")
    bot.clear()
    friday = date(2026, 11, 27)
    clock.set(datetime.combine(friday, time(16, 0), tzinfo=TZ))
    assert app.scheduler is not None
    await app.scheduler.run_due()
    reminders = [s for s in bot.sent if "心理周报" in s.text]
    # 2020004 is the demo's 心理委员 of 护理172.
    assert recipients(reminders) == {"2020002", "2020004"}
    assert all(not s.to.is_group for s in bot.sent)


async def test_care_records_are_purged_after_their_own_retention(
    care_bot: tuple[App, TestAdapter], clock: ManualClock
) -> None:
    app, bot = care_bot
    await bot.say("2020002", f"心理预警 2020005 {TEXT}")
    with app.uow() as s:
        assert care.purge(s, clock.now() - timedelta(days=365), now=clock.now()) == 0
    with app.uow() as s:
        assert care.purge(s, clock.now() + timedelta(seconds=1), now=clock.now()) == 1
    assert alerts(app) == []


async def test_the_housekeeping_job_purges_care_records_by_their_own_period(
    care_bot: tuple[App, TestAdapter], clock: ManualClock
) -> None:
    from storage import retention

    app, bot = care_bot
    await bot.say("2020002", f"心理预警 2020005 {TEXT}")
    later = clock.now() + timedelta(days=31)
    for days, left in ((365, 1), (30, 0)):
        with app.uow() as s:
            retention.housekeeping(
                s,
                now=later,
                tz=TZ,
                retention_days=180,
                subsidy_retention_days=1095,
                care_retention_days=days,
            )
        assert len(alerts(app)) == left
    with app.uow(readonly=True) as s:
        [entry, *_] = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "purge.care")
            .order_by(AuditEntry.id.desc())
        )
    assert entry.detail == {"alerts": 1, "psych_reports": 0}


async def test_a_counselor_refers_an_alert_and_the_referee_becomes_a_reader(
    care_bot: tuple[App, TestAdapter],
) -> None:
    app, bot = care_bot
    add_staff(app, "T006", "周老师", Role.COUNSELOR, ())
    await bot.say("2020002", f"心理预警 2020005 {TEXT}")
    [reply] = await bot.say("T006", "预警记录")
    assert TEXT not in reply.text
    # Someone who may not read it cannot refer it either: it is simply not found.
    before = row_counts(app)
    [reply] = await bot.say("T002", "转介 #1 T006")
    assert "找不到" in reply.text
    [reply] = await bot.say("T001", "转介 1")
    assert "格式：转介" in reply.text
    assert row_counts(app) == before
    sent = await bot.say("T001", "转介 #1 T006")
    assert recipients(sent) == {"T001", "T006"}
    assert holding(sent, TEXT) == {"T006"}
    [reply] = await bot.say("T006", "预警记录")
    assert TEXT in reply.text
    with app.uow(readonly=True) as s:
        reads = [
            e.actor for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "care_read"))
        ]
    assert reads == ["T006 周老师"]


async def test_the_period_opens_by_itself_and_the_reminder_is_private_with_counts_to_readers(
    care_bot: tuple[App, TestAdapter], clock: ManualClock
) -> None:
    app, bot = care_bot
    make_rep(app, "2020002")
    make_rep(app, "2020031")
    bot.clear()
    friday = date(2026, 11, 27)
    assert app.scheduler is not None
    # Nobody has reported: the morning's job opens the period's campaign.
    clock.set(datetime.combine(friday, time(7, 0), tzinfo=TZ))
    await app.scheduler.run_due()
    with app.uow(readonly=True) as s:
        [opened] = s.scalars(select(Campaign))
    assert (opened.kind, opened.number, opened.in_groups) == ("psych", 20261123, False)
    await bot.say("2020031", "心理周报 无异常")
    bot.clear()
    clock.set(datetime.combine(friday, time(16, 0), tzinfo=TZ))
    await app.scheduler.run_due()
    assert bot.sent and all(not s.to.is_group for s in bot.sent)
    reminders = [s for s in bot.sent if "心理周报" in s.text]
    # Exactly the reps who have not reported (2020004 is the demo's 心理委员 of 护理172).
    assert recipients(reminders) == {"2020002", "2020004"}
    # The list goes to the care readers: 护理172's counselor and the mental-health contact;
    # a head teacher and the school office hear nothing, and no answer is repeated.
    staff = [s for s in bot.sent if s not in reminders]
    assert recipients(staff) == {"T001", "T005"}
    assert all("2/3" in s.text or "1/3" in s.text for s in staff)
    assert not any(name_of(app, "2020031") in s.text for s in staff)
    with app.uow(readonly=True) as s:
        c = campaigns.as_instance(opened, campaigns.KINDS.register(care.PSYCH))
        assert campaigns.progress(s, c, "2026-W48").total.done == 1
