"""Command recognition and argument splitting."""

from __future__ import annotations

from bot.adapters.testing import TestAdapter
from bot.messages import Mention, split_mentions, split_text
from bot.router import Args


def test_args_split_on_full_width_spaces_and_keep_the_rest_verbatim() -> None:
    args = Args.parse('36.5\u3000咳嗽  =HYPERLINK("x")  y')
    assert args.tokens == ("36.5", "咳嗽", '=HYPERLINK("x")', "y")
    assert args.rest(2) == '=HYPERLINK("x")  y'


def test_split_text_keeps_lines_whole() -> None:
    assert split_text("aa\nbb\ncc", 5) == ["aa\nbb", "cc"]
    assert all(len(c) <= 3 for c in split_text("x" * 10, 3))


def test_split_mentions_keeps_each_mention_in_one_chunk() -> None:
    ms = tuple(Mention(str(i), f"同学{i}") for i in range(50))
    chunks = split_mentions("未打卡：", ms, 40, lambda m: f"@{m.name}")
    assert all(len(text) <= 40 for text, _ in chunks)
    assert [m for _, group in chunks for m in group] == list(ms)


async def test_slash_command_with_bot_name_and_full_width_slash(bot: TestAdapter) -> None:
    [reply] = await bot.say("2020001", "/checkin@classbot 36.5", group="护理172")
    assert reply.text.startswith("✓")
    [reply] = await bot.say("2020003", "／checkin 36.5", group="护理172")
    assert reply.text.startswith("✓")


async def test_group_chatter_is_ignored_but_a_mention_gets_an_answer(bot: TestAdapter) -> None:
    assert await bot.say("2020001", "今天下雨了", group="护理172") == []
    [reply] = await bot.say("2020001", "你好", group="护理172", mentions_bot=True)
    assert "帮助" in reply.text


async def test_private_chatter_gets_a_hint(bot: TestAdapter) -> None:
    [reply] = await bot.say("2020001", "你好")
    assert "帮助" in reply.text


async def test_unknown_slash_command_gets_a_hint(bot: TestAdapter) -> None:
    [reply] = await bot.say("2020001", "/frobnicate", group="护理172")
    assert "帮助" in reply.text


async def test_help_lists_only_what_the_asker_may_do(bot: TestAdapter) -> None:
    [student] = await bot.say("2020001", "帮助")
    [counselor] = await bot.say("T001", "/help")
    [stranger] = await bot.say("nobody", "帮助")
    assert "打卡" in student.text and "解绑" not in student.text
    assert "解绑" in counselor.text and "打卡 <体温>" not in counselor.text
    assert "绑定 <学号|工号>" in stranger.text and "打卡 <体温>" not in stranger.text


async def test_english_replies_when_configured(database_url: str, clock: object) -> None:
    from tests.conftest import make_config, start_app

    cfg = make_config(database_url, bot={"language": "en"})
    app, bot = await start_app(cfg, clock)  # type: ignore[arg-type]
    try:
        [reply] = await bot.say("2020001", "/checkin 50")
        assert "must be between" in reply.text and "Usage: /checkin" in reply.text
    finally:
        await app.stop()
        app.engine.dispose()


async def test_an_unexpected_error_is_apologised_for_and_rolled_back(
    bot: TestAdapter, monkeypatch: object
) -> None:
    from bot.router import Context

    def boom(*a: object, **k: object) -> object:
        raise RuntimeError("disk on fire")

    # Fails after the check-in is stored, while the acknowledgement is being queued.
    monkeypatch.setattr(Context, "acknowledge", boom)  # type: ignore[attr-defined]
    [reply] = await bot.say("2020001", "打卡 36.5", group="护理172")
    assert "抱歉" in reply.text
    monkeypatch.undo()  # type: ignore[attr-defined]
    [reply] = await bot.say("2020001", "打卡 36.5", group="护理172")
    assert reply.text == "✓ 张晓明 已打卡 1/30"
