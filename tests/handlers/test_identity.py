"""Binding accounts and groups (SPEC §3)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from storage import identity
from storage.models import AuditEntry, ChatAccount, GroupChat, Person


def account_of(app: App, number: str) -> list[str]:
    with app.uow(readonly=True) as s:
        return list(
            s.scalars(
                select(ChatAccount.platform_user_id)
                .join(Person, Person.id == ChatAccount.person_id)
                .where(Person.number == number)
            )
        )


async def test_unbound_account_is_told_how_to_bind(bot: TestAdapter) -> None:
    [reply] = await bot.say("stranger", "打卡 36.5", group="护理172")
    assert "绑定 <学号> <姓名>" in reply.text


async def test_a_taken_student_id_tells_the_student_and_the_counselor_at_once(
    app: App, bot: TestAdapter
) -> None:
    sent = await bot.say("intruder", "绑定 2020001 张晓明", group="护理172")
    to = {s.to.chat_id: s.text for s in sent}
    assert set(to) == {"护理172", "T001"}
    assert "已绑定其他账号" in to["护理172"] and "辅导员可以重置绑定" in to["护理172"]
    assert "张晓明（2020001）" in to["T001"] and "解绑 2020001" in to["T001"]
    assert account_of(app, "2020001") == ["2020001"]


async def test_counselor_reset_lets_the_student_bind_a_new_account(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("T001", "解绑 2020005")
    assert "已重置" in reply.text
    assert account_of(app, "2020005") == []
    [reply] = await bot.say("new-phone", "绑定 2020005 陈嘉怡", group="护理172")
    assert "绑定成功" in reply.text
    assert account_of(app, "2020005") == ["new-phone"]
    with app.uow(readonly=True) as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"unbind", "bind"} <= actions


async def test_bind_with_wrong_name_is_refused(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", "解绑 2020005")
    [reply] = await bot.say("new-phone", "绑定 2020005 张三", group="护理172")
    assert "花名册里没有" in reply.text
    assert account_of(app, "2020005") == []


async def test_bind_in_another_class_group_is_refused(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", "解绑 2020040")
    [reply] = await bot.say("new-phone", "绑定 2020040 吕晨阳", group="护理172")
    assert "不在本群绑定的班级" in reply.text
    assert account_of(app, "2020040") == []


async def test_private_bind_needs_a_one_time_code(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", "解绑 2020005")
    [reply] = await bot.say("new-phone", "绑定 2020005 陈嘉怡")
    assert "绑定码" in reply.text
    [reply] = await bot.say("T001", "绑定码 2020005")
    assert "72 小时内有效" in reply.text
    code = reply.text.split("绑定码：")[1][:8]
    [reply] = await bot.say("new-phone", f"绑定 2020005 陈嘉怡 {code.lower()}")
    assert "绑定成功" in reply.text
    # The code works once only.
    await bot.say("T001", "解绑 2020005")
    [reply] = await bot.say("other-phone", f"绑定 2020005 陈嘉怡 {code}")
    assert "无效或已过期" in reply.text


async def test_bind_in_an_unbound_group_is_refused(bot: TestAdapter) -> None:
    [reply] = await bot.say("someone", "绑定 2020001 张晓明", group="random-group")
    assert "还没有绑定班级" in reply.text


async def test_counselor_binds_a_group_to_own_class_only(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "绑定班级 护理172", group="new-group")
    assert "已绑定班级 护理172" in reply.text
    with app.uow(readonly=True) as s:
        group = identity.group_for_chat(s, "test", "new-group")
        assert group is not None
    [reply] = await bot.say("2020002", "绑定班级 护理172", group="other-group")
    assert "没有权限" in reply.text
    [reply] = await bot.say("T001", "绑定班级 不存在的班", group="other-group")
    assert "找不到" in reply.text
    with app.uow(readonly=True) as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(GroupChat)
                .where(GroupChat.chat_id == "other-group")
            )
            == 0
        )


async def test_bindgroup_in_private_chat_is_refused(bot: TestAdapter) -> None:
    [reply] = await bot.say("T001", "绑定班级 护理172")
    assert "班级群里使用" in reply.text


async def test_bind_without_arguments_shows_the_right_form(bot: TestAdapter) -> None:
    [reply] = await bot.say("x", "绑定", group="护理172")
    assert "格式：绑定 <学号|工号> <姓名>" in reply.text


def code_for(reply_text: str) -> str:
    return reply_text.split("绑定码：")[1][:8]


async def test_group_bind_of_a_staff_id_is_refused_with_how_to_get_a_code(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T009", "解绑 T009")
    [reply] = await bot.say("intruder", "绑定 T009 陈志强", group="护理172")
    assert "教职工账号不能在群里绑定" in reply.text and "绑定码" in reply.text
    assert account_of(app, "T009") == []
    [reply] = await bot.say("intruder", "导出")
    assert "还没有绑定身份" in reply.text


async def test_a_binding_code_expires_after_72_hours(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("T001", "解绑 2020005")
    code = code_for((await bot.say("T001", "绑定码 2020005"))[0].text)
    clock.advance(timedelta(hours=72, minutes=1))
    [reply] = await bot.say("new-phone", f"绑定 2020005 陈嘉怡 {code}")
    assert "无效或已过期" in reply.text
    assert account_of(app, "2020005") == []


async def test_a_code_binds_only_the_person_it_was_issued_for(app: App, bot: TestAdapter) -> None:
    await bot.say("T001", "解绑 2020005")
    await bot.say("T001", "解绑 2020006")
    code = code_for((await bot.say("T001", "绑定码 2020005"))[0].text)
    [reply] = await bot.say("new-phone", f"绑定 2020006 {name_of(app, '2020006')} {code}")
    assert "无效或已过期" in reply.text
    assert account_of(app, "2020006") == []


def name_of(app: App, number: str) -> str:
    with app.uow(readonly=True) as s:
        return str(s.scalar(select(Person.name).where(Person.number == number)))


async def test_wrong_codes_are_limited_per_account_and_audited(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("T001", "解绑 2020005")
    for _ in range(5):
        [reply] = await bot.say("guesser", "绑定 2020005 陈嘉怡 AAAAAAAA")
        assert "无效或已过期" in reply.text
    code = code_for((await bot.say("T001", "绑定码 2020005"))[0].text)
    [reply] = await bot.say("guesser", f"绑定 2020005 陈嘉怡 {code}")
    assert "输错次数太多" in reply.text
    assert account_of(app, "2020005") == []
    with app.uow(readonly=True) as s:
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions.count("bad_code") == 5 and "refused" in actions
    # Another account is not held back by the guesser, and the limit passes with time.
    clock.advance(timedelta(minutes=11))
    [reply] = await bot.say("guesser", f"绑定 2020005 陈嘉怡 {code}")
    assert "绑定成功" in reply.text


async def test_an_account_bound_to_another_class_cannot_bind_again_in_this_group(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T001", "解绑 2020005")
    [reply] = await bot.say("2020040", "绑定 2020005 陈嘉怡", group="护理172")
    assert "这个账号已绑定 2020040" in reply.text
    assert account_of(app, "2020005") == []


async def test_staff_bind_in_private_with_a_code_from_a_school_admin(
    app: App, bot: TestAdapter
) -> None:
    await bot.say("T009", "解绑 T003")
    [reply] = await bot.say("T001", "绑定码 T003")
    assert "你无权处理" in reply.text and "学工部" in reply.text
    code = code_for((await bot.say("T009", "绑定码 T003"))[0].text)
    [reply] = await bot.say("t003-phone", f"绑定 T003 {name_of(app, 'T003')} {code}")
    assert "绑定成功" in reply.text
    assert account_of(app, "T003") == ["t003-phone"]


async def test_a_counselor_issues_codes_for_the_head_teacher_of_their_class(
    app: App, bot: TestAdapter
) -> None:
    [reply] = await bot.say("T001", "绑定码 T002")
    assert "72 小时内有效" in reply.text
    [reply] = await bot.say("T002", "绑定码 2020001")
    assert "没有权限" in reply.text


async def test_new_student_bindings_are_listed_in_the_counselors_next_rollup(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    assert app.scheduler is not None
    # A roll-up with no new binding says nothing of bindings.
    first_day = clock.now()
    clock.set(first_day.replace(hour=12, minute=0, second=5))
    await app.scheduler.run_due()
    [quiet] = [s for s in bot.to_chat("T001") if "打卡汇总" in s.text]
    assert "今日新绑定" not in quiet.text
    clock.set(first_day + timedelta(days=1))
    await bot.say("T001", "解绑 2020005")
    await bot.say("new-phone", "绑定 2020005 陈嘉怡", group="护理172")
    bot.clear()
    clock.set(first_day.replace(hour=12, minute=0, second=5) + timedelta(days=1))
    await app.scheduler.run_due()
    [rollup] = [s for s in bot.to_chat("T001") if "打卡汇总" in s.text]
    assert rollup.text.endswith("\n今日新绑定：陈嘉怡（2020005，护理172）")
    [head] = [s for s in bot.to_chat("T002") if "打卡汇总" in s.text]
    assert "今日新绑定" not in head.text
