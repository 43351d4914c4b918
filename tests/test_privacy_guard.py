"""The privacy guard itself: it must catch a leak, or every router test's check is worthless."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.messages import ChatAddress, Mention, OutgoingMessage
from storage.identity import actor_for_number
from storage.leave import LEAVE
from storage.subsidy import SUBSIDY
from tests.handlers.people import add_event, add_request

GROUP = ChatAddress("test", "护理172", True)


async def leak(bot: TestAdapter, text: str, mentions: tuple[Mention, ...] = ()) -> None:
    await bot.send(GROUP, OutgoingMessage(text, mentions=mentions))


async def test_guard_catches_a_temperature_and_a_symptom_in_a_group(bot: TestAdapter) -> None:
    await bot.say("2020001", "打卡 38.2 咳嗽 @武汉市 在宿舍休息中", group="护理172")
    for text in ("张晓明 38.2", "有人咳嗽", "来自武汉市", "在宿舍休息中"):
        with pytest.raises(AssertionError, match="leaks"):
            await leak(bot, text)


async def test_guard_catches_a_student_id_next_to_health_words(bot: TestAdapter) -> None:
    with pytest.raises(AssertionError, match="next to health data"):
        await leak(bot, "2020003 体温异常")
    with pytest.raises(AssertionError, match="next to health data"):
        await leak(bot, "请跟进：", mentions=(Mention("2020003", "2020003 发热"),))


async def test_guard_catches_leave_and_subsidy_details(app: App, bot: TestAdapter) -> None:
    now = app.clock.now()
    with app.uow() as s:
        student = actor_for_number(s, "2020001")
        assert student.class_id is not None
        leave = add_request(
            s,
            LEAVE,
            student_id=student.person_id,
            class_id=student.class_id,
            payload={"type": "sick", "reason": "急性胃肠炎需要输液"},
            starts_on=now.date(),
            ends_on=now.date() + timedelta(days=1),
            status="pending",
            created_at=now,
        )
        add_event(s, leave, "followup", now, note="已去校医院复查")
        add_request(
            s,
            SUBSIDY,
            student_id=student.person_id,
            class_id=student.class_id,
            payload={"amount_cents": 123400, "reason": "父亲住院家庭困难"},
            status="pending_counselor",
            created_at=now,
        )
    for text in ("急性胃肠炎需要输液", "已去校医院复查", "父亲住院家庭困难", "申请 1234 元"):
        with pytest.raises(AssertionError, match="leaks"):
            await leak(bot, text)


async def test_guard_lets_counts_names_and_the_bots_own_texts_through(
    bot: TestAdapter,
) -> None:
    await bot.say("2020001", "打卡 38.2 咳嗽", group="护理172")
    await leak(bot, "✓ 张晓明 已打卡 1/30")
    await leak(bot, "体温应在 35.0℃–42.0℃ 之间。")
    [reply] = await bot.say("stranger", "隐私", group="护理172")
    assert "保存多久" in reply.text


async def test_guard_catches_a_campaigns_sensitive_answer(app: App, bot: TestAdapter) -> None:
    from storage import campaigns
    from storage.campaigns import NOTICE, Audience
    from storage.forms import Field, FieldType, Form

    form = Form(
        (
            Field("dest", "去向", "Destination", FieldType.TEXT),
            Field("illness", "病史", "Illness", FieldType.TEXT, sensitive=True),
        )
    )
    now = app.clock.now()
    with app.uow() as s:
        c = campaigns.create(
            s,
            NOTICE,
            title="登记",
            audience=Audience(school=True),
            deadline=now + timedelta(hours=2),
            now=now,
            created_by=None,
            form=form,
        )
        student = actor_for_number(s, "2020001")
        campaigns.respond(
            s,
            c,
            person_id=student.person_id,
            class_id=student.class_id or 0,
            answers={"dest": "湖北恩施", "illness": "哮喘"},
            now=now,
            key="once",
        )
    await leak(bot, "去向：湖北恩施")  # not sensitive: allowed
    with pytest.raises(AssertionError, match="leaks"):
        await leak(bot, "张晓明 有哮喘")


async def test_guard_catches_a_mental_health_alert(bot: TestAdapter) -> None:
    await bot.say("2020002", "心理预警 2020005 最近几天情绪很低落")
    with pytest.raises(AssertionError, match="leaks"):
        await leak(bot, "有同学最近几天情绪很低落")
