"""A person the bot cannot message privately: the account is marked, everyone else still gets
their message, and the group sees nothing about it beyond the usual count."""

from __future__ import annotations

from sqlalchemy import select

from bot.adapters.testing import TestAdapter
from bot.app import App
from storage.models import ChatAccount


async def test_unreachable_counselor_is_marked_and_the_others_still_hear(
    app: App, bot: TestAdapter
) -> None:
    bot.unreachable.add("T001")
    sent = await bot.say("2020001", "打卡 38.5 发热", group="护理172")
    assert [s.to.chat_id for s in sent] == ["护理172", "T002"]
    [group] = [s for s in sent if s.to.is_group]
    assert group.text == "✓ 张晓明 已打卡 1/30"
    with app.uow(readonly=True) as s:
        account = s.scalar(select(ChatAccount).where(ChatAccount.platform_user_id == "T001"))
    assert account is not None
    assert account.unreachable_at == app.clock.now()
    assert account.unreachable_reason == "blocked the bot"
