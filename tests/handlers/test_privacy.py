"""隐私 and consent: the notice, separate consent before health data (PIPL Art. 29), withdrawal."""

from __future__ import annotations

from sqlalchemy import select, update

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage.models import AuditEntry, CheckIn, CheckInRevision, Person, Request
from tests.conftest import make_config, start_app


def clear_consent(app: App, *numbers: str) -> None:
    with app.uow() as s:
        s.execute(
            update(Person)
            .where(Person.number.in_(numbers))
            .values(consent_version=None, consent_at=None)
        )


def consent_of(app: App, number: str) -> tuple[int | None, object]:
    with app.uow(readonly=True) as s:
        p = s.scalars(select(Person).where(Person.number == number)).one()
        return p.consent_version, p.consent_at


def checkin_rows(app: App) -> int:
    with app.uow(readonly=True) as s:
        return len(list(s.scalars(select(CheckIn)))) + len(list(s.scalars(select(CheckInRevision))))


async def test_privacy_notice_says_what_why_who_and_how_long(bot: TestAdapter) -> None:
    [reply] = await bot.say("stranger", "隐私")
    for part in ("收集什么", "为什么", "谁能看到", "保存多久", "180 天", "1095 天", "第 1 版"):
        assert part in reply.text
    [reply] = await bot.say("2020001", "/privacy", group="护理172")
    assert "你已同意本版说明" in reply.text


async def test_binding_shows_the_privacy_notice_to_a_student_who_has_not_agreed(
    app: App, bot: TestAdapter
) -> None:
    clear_consent(app, "2020005")
    await bot.say("T001", "解绑 2020005")
    [reply] = await bot.say("new-phone", "绑定 2020005 陈嘉怡", group="护理172")
    assert "绑定成功" in reply.text and "隐私说明（第 1 版）" in reply.text
    assert "发送「同意」" in reply.text


async def test_checkin_without_consent_is_refused_and_stores_nothing(
    app: App, bot: TestAdapter
) -> None:
    clear_consent(app, "2020001")
    [reply] = await bot.say("2020001", "打卡 36.5", group="护理172")
    assert "同意隐私说明" in reply.text
    [reply] = await bot.say("2020001", "打卡 36.5")
    assert "同意隐私说明" in reply.text
    assert checkin_rows(app) == 0


async def test_agreeing_records_version_and_time_and_then_checkin_works(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    clear_consent(app, "2020001")
    [reply] = await bot.say("2020001", "同意")
    assert "已记录" in reply.text
    assert consent_of(app, "2020001") == (1, clock.now())
    [reply] = await bot.say("2020001", "打卡 36.5", group="护理172")
    assert reply.text.startswith("✓")
    with app.uow(readonly=True) as s:
        assert "consent" in set(s.scalars(select(AuditEntry.action)))


async def test_withdrawing_stops_checkins_and_tells_the_counselor(
    app: App, bot: TestAdapter
) -> None:
    [ask] = await bot.say("2020001", "撤回同意")
    assert "确认撤回请发送：撤回同意 确认" in ask.text
    assert consent_of(app, "2020001")[0] == 1
    sent = await bot.say("2020001", "撤回同意 确认")
    to = {s.to.chat_id: s.text for s in sent}
    assert "已撤回同意" in to["2020001"]
    assert set(to) == {"2020001", "T001"}
    assert "张晓明（2020001，护理172）撤回了隐私同意" in to["T001"]
    assert consent_of(app, "2020001") == (None, None)
    [reply] = await bot.say("2020001", "打卡 36.5")
    assert "同意隐私说明" in reply.text
    assert checkin_rows(app) == 0
    with app.uow(readonly=True) as s:
        assert "consent_withdrawn" in set(s.scalars(select(AuditEntry.action)))


async def test_withdrawing_takes_back_the_subsidy_under_review(app: App, bot: TestAdapter) -> None:
    await bot.say("2020005", "补助 800 家里突发困难")
    [ask] = await bot.say("2020005", "撤回同意")
    assert "你正在审核中的补助申请 S1 也会一并撤销" in ask.text
    with app.uow(readonly=True) as s:
        assert (
            s.scalar(select(Request.status).where(Request.kind == "subsidy")) == "pending_counselor"
        )
    sent = await bot.say("2020005", "撤回同意 确认")
    assert any("S1 已一并撤销" in s.text for s in sent if s.to.chat_id == "2020005")
    [reply] = await bot.say("T001", "批准 S1")
    assert "已撤销" in reply.text
    with app.uow(readonly=True) as s:
        assert s.scalar(select(Request.status).where(Request.kind == "subsidy")) == "cancelled"


async def test_a_new_notice_version_asks_everyone_again(
    database_url: str, clock: ManualClock
) -> None:
    cfg = make_config(database_url, privacy={"notice_version": 2})
    app, bot = await start_app(cfg, clock)
    try:
        with app.uow() as s:
            s.execute(update(Person).values(consent_version=1))
        [reply] = await bot.say("2020001", "打卡 36.5")
        assert "同意隐私说明" in reply.text
        [reply] = await bot.say("2020001", "隐私")
        assert "第 2 版" in reply.text and "还没有同意" in reply.text
        await bot.say("2020001", "同意")
        assert consent_of(app, "2020001")[0] == 2
        [reply] = await bot.say("2020001", "打卡 36.5")
        assert reply.text.startswith("✓")
    finally:
        await app.stop()
        app.engine.dispose()


async def test_the_demo_school_has_already_agreed(app: App) -> None:
    with app.uow(readonly=True) as s:
        versions = set(s.scalars(select(Person.consent_version)))
    assert versions == {1}


async def test_subsidy_without_consent_is_refused_and_stores_nothing(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("2020001", "撤回同意 确认")
    [reply] = await bot.say("2020001", "补助 500 家庭困难")
    assert "同意隐私说明" in reply.text
    with app.uow(readonly=True) as s:
        assert list(s.scalars(select(Request).where(Request.kind == "subsidy"))) == []
    await bot.say("2020001", "同意")
    sent = await bot.say("2020001", "补助 500 家庭困难")
    assert any("S1" in s.text for s in sent)


async def test_chat_starting_with_agree_in_a_group_records_no_consent(
    app: App, bot: TestAdapter
) -> None:
    clear_consent(app, "2020001")
    for chat in ("同意 楼上", "同意 明天再说", "同意楼上的说法"):
        assert await bot.say("2020001", chat, group="护理172") == []
    assert consent_of(app, "2020001") == (None, None)
    [reply] = await bot.say("2020001", "同意 1", group="护理172")
    assert reply.text.startswith("✓ 已记录")
    assert consent_of(app, "2020001")[0] == 1


async def test_agree_with_more_words_in_private_gets_the_exact_form(
    app: App, bot: TestAdapter
) -> None:
    clear_consent(app, "2020001")
    [reply] = await bot.say("2020001", "同意 明天再说")
    assert "只需发送「同意」两个字" in reply.text and "格式：同意" in reply.text
    [reply] = await bot.say("2020001", "同意 2")
    assert "当前的隐私说明是第 1 版" in reply.text
    assert consent_of(app, "2020001") == (None, None)
    [reply] = await bot.say("2020001", "同意")
    assert reply.text.startswith("✓ 已记录")


async def test_withdraw_followed_by_chat_withdraws_nothing(app: App, bot: TestAdapter) -> None:
    await bot.say("2020005", "补助 800 家里突发困难")
    assert await bot.say("2020005", "撤回同意 是啥", group="护理172") == []
    [reply] = await bot.say("2020005", "撤回同意 是啥")
    assert "撤回同意 确认" in reply.text and "格式：撤回同意" in reply.text
    assert consent_of(app, "2020005")[0] == 1
    with app.uow(readonly=True) as s:
        assert (
            s.scalar(select(Request.status).where(Request.kind == "subsidy")) == "pending_counselor"
        )
        assert "consent_withdrawn" not in set(s.scalars(select(AuditEntry.action)))


async def test_withdrawal_in_a_group_says_what_it_withdraws_only_privately(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("2020005", "补助 800 家里突发困难")
    sent = await bot.say("2020005", "撤回同意", group="护理172")
    to = {(s.to.chat_id, s.to.is_group): s.text for s in sent}
    assert to[("护理172", True)] == "已私信发给你。"
    assert "S1 也会一并撤销" in to[("2020005", False)]
    sent = await bot.say("2020005", "撤回同意 确认", group="护理172")
    to = {(s.to.chat_id, s.to.is_group): s.text for s in sent}
    assert to[("护理172", True)] == "已私信发给你。"
    assert "已撤回同意" in to[("2020005", False)] and "S1 已一并撤销" in to[("2020005", False)]
    assert consent_of(app, "2020005") == (None, None)
