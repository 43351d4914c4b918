"""Binding accounts and groups (SPEC §3)."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.adapters.testing import TestAdapter
from bot.app import App
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


async def test_takeover_of_a_bound_student_is_refused(app: App, bot: TestAdapter) -> None:
    [reply] = await bot.say("intruder", "绑定 2020001 张晓明", group="护理172")
    assert "已绑定其他账号" in reply.text
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
