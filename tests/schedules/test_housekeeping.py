"""The daily upkeep job: approved leaves end by themselves after their end date."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from tests.handlers.people import audit_trail, leave_rows


async def test_approved_leave_ends_at_the_start_of_the_day_after_its_end_date(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    await bot.say("2020001", "请假 11-24 病假 发烧去校医院")
    await bot.say("2020003", "请假 11-24 11-25 病假 发烧去校医院")
    await bot.say("T001", "批准 L1")
    await bot.say("T001", "批准 L2")
    assert app.scheduler is not None
    clock.set(clock.now().replace(hour=6, minute=59) + timedelta(days=2))  # 11-25 06:59
    await app.scheduler.run_due()
    assert [r.status for r in leave_rows(app)] == ["approved", "approved"]
    bot.clear()
    clock.advance(timedelta(minutes=1))
    await app.scheduler.run_due()
    assert [r.status for r in leave_rows(app)] == ["ended", "approved"]
    assert audit_trail(app, "L1")[-1] == ("leave.expire", "approved", "ended")
    # Nobody is messaged about it; running again changes nothing.
    assert not [s for s in bot.sent if "L1" in s.text]
    await app.scheduler.run_due()
    assert [a for a, _, _ in audit_trail(app, "L1")].count("leave.expire") == 1
