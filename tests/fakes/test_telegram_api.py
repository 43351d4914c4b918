"""The fake Bot API answers a bare python-telegram-bot `Bot` the way Telegram does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import telegram
from telegram.error import ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from tests.fakes.telegram_api import BOT_USERNAME, TOKEN, FakeBotApi


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[telegram.Bot]:
    request = HTTPXRequest(read_timeout=2, connect_timeout=2)
    async with telegram.Bot(
        TOKEN, base_url=api.base_url, base_file_url=api.base_file_url, request=request
    ) as bot:
        yield bot


async def test_get_me_names_the_bot(bot: telegram.Bot, api: FakeBotApi) -> None:
    me = await bot.get_me()
    assert me.username == BOT_USERNAME
    assert api.calls("getMe")


async def test_wrong_token_is_unauthorized(api: FakeBotApi) -> None:
    with pytest.raises(telegram.error.InvalidToken):
        async with telegram.Bot("1:wrong", base_url=api.base_url):
            pass


async def test_get_updates_honours_offset(bot: telegram.Bot, api: FakeBotApi) -> None:
    alice = api.user(1001, "Alice")
    first = api.send_text(api.private(alice), alice, "hello")
    second = api.send_text(api.private(alice), alice, "/checkin 36.5")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first, second]
    assert updates[1].message is not None
    assert updates[1].message.text == "/checkin 36.5"
    again = await bot.get_updates(offset=second)
    assert [u.update_id for u in again] == [second]
    assert await bot.get_updates(offset=second + 1) == ()
    assert api.confirmed_offset == second + 1


async def test_long_poll_returns_when_an_update_arrives(bot: telegram.Bot, api: FakeBotApi) -> None:
    alice = api.user(1001, "Alice")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    api.send_text(api.private(alice), alice, "hi")
    updates = await asyncio.wait_for(poll, 3)
    assert len(updates) == 1


async def test_long_poll_times_out_empty(bot: telegram.Bot, api: FakeBotApi) -> None:
    assert await bot.get_updates(timeout=1) == ()


async def test_send_edit_and_answer(bot: telegram.Bot, api: FakeBotApi) -> None:
    keyboard = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("批准", callback_data="a|/approve L1")]]
    )
    sent = await bot.send_message(
        -100, "<b>请假</b> &amp; 审批", parse_mode="HTML", reply_markup=keyboard
    )
    assert sent.text == "请假 & 审批"
    assert api.sent_to(-100)[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "批准"
    edited = await bot.edit_message_text("已批准", chat_id=-100, message_id=sent.message_id)
    assert isinstance(edited, telegram.Message)
    assert edited.text == "已批准"
    assert "reply_markup" not in api.sent_to(-100)[0]
    with pytest.raises(telegram.error.BadRequest, match="not modified"):
        await bot.edit_message_text("已批准", chat_id=-100, message_id=sent.message_id)
    assert await bot.answer_callback_query("7", text="ok")


async def test_document_arrives_with_name_and_bytes(bot: telegram.Bot, api: FakeBotApi) -> None:
    sent = await bot.send_document(
        -100, document=b"PK\x03\x04data", filename="台账-护理172-2026-11-22.xlsx", caption="台账"
    )
    assert sent.document is not None
    assert sent.document.file_name == "台账-护理172-2026-11-22.xlsx"
    stored = api.sent_to(-100)[0]
    assert stored["_content"] == b"PK\x03\x04data"


async def test_set_my_commands_per_scope_and_language(bot: telegram.Bot, api: FakeBotApi) -> None:
    await bot.set_my_commands(
        [telegram.BotCommand("checkin", "今日健康打卡")],
        scope=telegram.BotCommandScopeAllGroupChats(),
        language_code="zh",
    )
    assert api.commands[("all_group_chats", "zh")] == [
        {"command": "checkin", "description": "今日健康打卡"}
    ]


async def test_injected_faults(bot: telegram.Bot, api: FakeBotApi) -> None:
    api.inject("sendMessage", "retry_after", retry_after=3)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(-100, "x")
    assert info.value.retry_after == timedelta(seconds=3)
    api.inject("sendMessage", "forbidden", chat_id=42)
    with pytest.raises(Forbidden):
        await bot.send_message(42, "x")
    api.inject("sendMessage", "drop")
    with pytest.raises(NetworkError):
        await bot.send_message(-100, "x")
    api.inject("sendMessage", "delay", delay=3)
    with pytest.raises(TimedOut):
        await bot.send_message(-100, "x", read_timeout=0.5)
    await bot.send_message(-100, "fine")
    assert [m["text"] for m in api.sent_to(-100)] == ["fine"]


async def test_migrated_group_refuses_sends_with_new_id(bot: telegram.Bot, api: FakeBotApi) -> None:
    teacher = api.user(7, "Teacher")
    api.migrate_group(api.group(-55, "护理172"), -1005555, by=teacher)
    updates = await bot.get_updates()
    assert updates[0].message is not None
    assert updates[0].message.migrate_to_chat_id == -1005555
    assert updates[1].message is not None
    assert updates[1].message.migrate_from_chat_id == -55
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(-55, "x")
    assert info.value.new_chat_id == -1005555


async def test_get_updates_conflicts_with_webhook(bot: telegram.Bot, api: FakeBotApi) -> None:
    await bot.set_webhook("https://example.invalid/hook", secret_token="s3cret")
    with pytest.raises(telegram.error.Conflict):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == ()
