"""With `language = "en"` the daily check-in's jobs speak English: the 07:00 prompt and the
11:00 deadline lists, read through the campaign engine's non-responders."""

from __future__ import annotations

from datetime import datetime, time

from bot.clock import ManualClock
from tests.conftest import START, TZ, make_config, start_app


def at(hh: int, mm: int = 0) -> datetime:
    return datetime.combine(START.date(), time(hh, mm), tzinfo=TZ)


async def test_the_prompt_and_the_deadline_lists_in_english(database_url: str) -> None:
    config = make_config(database_url, bot={"language": "en"})
    clock = ManualClock(START)
    app, bot = await start_app(config, clock)
    try:
        assert app.scheduler is not None
        clock.set(at(7))
        await app.scheduler.run_due()
        [prompt] = bot.to_chat("护理172", group=True)
        assert prompt.text.startswith(
            "🌅 The health check-in for 23 Nov is open: please check in before 11:00."
        )
        await bot.say("2020001", "/checkin 36.5", group="护理172")
        await bot.say("2020031", "/checkin 36.5", group="检验172")
        bot.clear()
        clock.set(at(11))
        await app.scheduler.run_due()
        [reminder] = bot.to_chat("护理172", group=True)
        assert reminder.text == (
            "⏰ The check-in for 23 Nov is closed: 29 have not checked in yet, "
            "please do it now (/checkin <temperature>):"
        )
        assert len(reminder.message.mentions) == 29
        assert "张晓明" not in {m.name for m in reminder.message.mentions}
        [to_counselor] = [s for s in bot.to_chat("T001", group=False) if "⏰" in s.text]
        lines = to_counselor.text.splitlines()
        assert lines[0] == "⏰ Not checked in on 23 Nov"
        assert "护理172: 29 not checked in" in lines
        assert "检验172: 29 not checked in" in lines
    finally:
        await app.stop()
        app.engine.dispose()
