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
    # The college admin hears that the counselor's fever alert did not arrive.
    assert [s.to.chat_id for s in sent] == ["护理172", "T002", "T003"]
    [group] = [s for s in sent if s.to.is_group]
    assert group.text == "✓ 张晓明 已打卡 1/30"
    with app.uow(readonly=True) as s:
        account = s.scalar(select(ChatAccount).where(ChatAccount.platform_user_id == "T001"))
    assert account is not None
    assert account.unreachable_at == app.clock.now()
    assert account.unreachable_reason == "blocked the bot"


async def test_a_fever_alert_no_one_could_receive_goes_one_level_up_at_once(
    app: App, bot: TestAdapter
) -> None:
    bot.unreachable.update({"T001", "T002"})
    sent = await bot.say("2020001", "打卡 38.5 发热", group="护理172")
    ups = [s for s in sent if s.to.chat_id == "T003"]
    # Each staff member's alert goes up, with why and what it said.
    assert len(ups) == 2
    assert ups[0].text.startswith("⚠️ 以下异常提醒未能送达 王芳（T001）：blocked the bot")
    assert "38.5" in ups[0].text and "张晓明" in ups[0].text
    assert "（T002）" in ups[1].text


async def test_an_alert_that_reached_one_of_two_staff_is_not_escalated(
    app: App, bot: TestAdapter
) -> None:
    bot.unreachable.add("T001")
    sent = await bot.say("2020001", "打卡 38.5 发热", group="护理172")
    [up] = [s for s in sent if s.to.chat_id == "T003"]
    assert "王芳（T001）" in up.text
    assert not any(s.to.chat_id == "T003" and "T002" in s.text for s in sent)
