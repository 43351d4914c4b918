"""帮助: per role, with examples from the deployment's own roster and dates around today."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters.testing import TestAdapter
from bot.clock import ManualClock
from bot.config import Config
from tests.conftest import OTHER_CLASS, seed_other_college, start_app

STUDENT_ONLY = ("• 我的", "• 同意", "• 撤回同意")


async def test_staff_help_leaves_out_student_only_items(bot: TestAdapter) -> None:
    for staff in ("T001", "T002", "T003", "T009"):
        [reply] = await bot.say(staff, "帮助")
        assert "• 汇总" in reply.text
        for item in STUDENT_ONLY:
            assert item not in reply.text, f"{staff} sees {item!r}"


async def test_student_help_keeps_their_own_items_and_not_binding_again(
    bot: TestAdapter,
) -> None:
    [reply] = await bot.say("2020001", "帮助")
    for item in STUDENT_ONLY:
        assert item in reply.text
    assert "• 绑定 <学号|工号>" not in reply.text
    [stranger] = await bot.say("nobody", "帮助")
    assert "• 绑定 <学号|工号>" in stranger.text


async def test_help_examples_use_dates_relative_to_today(
    bot: TestAdapter, clock: ManualClock
) -> None:
    clock.advance(timedelta(days=10))  # Thursday 12-3
    [student] = await bot.say("2020001", "帮助")
    assert "例：请假 12-4 3天 病假" in student.text
    [counselor] = await bot.say("T001", "帮助")
    assert "汇总 12-2 护理172" in counselor.text


async def test_help_examples_name_the_deployments_own_classes(
    config: Config, clock: ManualClock
) -> None:
    app, bot = await start_app(config, clock, seed=False)
    try:
        seed_other_college(app)
        for who in ("T101", "2021002"):
            [reply] = await bot.say(who, "帮助")
            assert "护理172" not in reply.text
        [counselor] = await bot.say("T101", "帮助")
        assert f"绑定班级 {OTHER_CLASS}" in counselor.text
        assert f"未打卡 {OTHER_CLASS}" in counselor.text
        # A malformed command's form names the deployment's class too.
        [refusal] = await bot.say("T101", "未打卡 C3")
        assert f"格式：未打卡 [日期] [班级]，例：未打卡　或　未打卡 {OTHER_CLASS}" in refusal.text
    finally:
        await app.stop()
        app.engine.dispose()
