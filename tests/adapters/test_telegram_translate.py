"""Telegram updates become platform-neutral messages, and outgoing messages become Telegram HTML."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import Update, User

from bot.adapters.telegram import (
    MAX_CALLBACK_DATA,
    GroupMigrated,
    Press,
    callback_data,
    html_chunks,
    keyboard,
    parse_callback_data,
    translate,
)
from bot.messages import Button, IncomingMessage, Mention, OutgoingMessage
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, FakeBotApi

ME = User(BOT_ID, "班级助手", is_bot=True, username=BOT_USERNAME)
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)

api = FakeBotApi()
student = api.user(5001, "三", last_name="张")
group = api.group(-4001, "护理172")
supergroup = api.group(-1004001, "护理172", "supergroup")


def update(**payload: Any) -> Update:
    result = Update.de_json({"update_id": 1, **payload}, None)
    assert result is not None
    return result


def incoming(chat: dict, text: str, sender: dict = student, **extra: Any) -> IncomingMessage:
    event = translate(update(message=api.message_dict(chat, sender, text, **extra)), ME, NOW)
    assert isinstance(event, IncomingMessage)
    return event


def test_group_command_keeps_time_and_ids() -> None:
    sent = datetime(2026, 11, 23, 2, 59, 30, tzinfo=UTC)
    msg = incoming(group, "/checkin 36.5", date=sent)
    assert msg.platform == "telegram"
    assert msg.chat_id == "-4001"
    assert msg.is_group
    assert msg.sender_id == "5001"
    assert msg.sender_name == "三 张"
    assert msg.chat_title == "护理172"
    assert msg.text == "/checkin 36.5"
    assert msg.sent_at == sent
    assert msg.message_id is not None
    assert msg.message_id.isdigit()


def test_supergroup_and_private_chats() -> None:
    assert incoming(supergroup, "打卡 36.5").is_group
    private = incoming(api.private(student), "打卡 36.5")
    assert not private.is_group
    assert private.chat_id == "5001"


def test_command_addressed_to_this_bot_loses_its_suffix() -> None:
    assert incoming(group, f"/checkin@{BOT_USERNAME} 36.5").text == "/checkin 36.5"


def test_command_addressed_to_another_bot_is_ignored() -> None:
    message = api.message_dict(group, student, "/checkin@other_bot 36.5")
    assert translate(update(message=message), ME, NOW) is None


def test_chinese_keyword_is_plain_text() -> None:
    msg = incoming(group, "打卡 36.5 无")
    assert msg.text == "打卡 36.5 无"
    assert not msg.mentions_bot


def test_mention_of_the_bot_is_stripped_and_flagged() -> None:
    msg = incoming(group, f"@{BOT_USERNAME} 打卡 36.5")
    assert msg.mentions_bot
    assert msg.text == "打卡 36.5"


def test_text_mention_of_another_user_is_collected() -> None:
    entities = [
        {"type": "text_mention", "offset": 3, "length": 2, "user": api.user(5002, "李四")},
    ]
    message = api.message_dict(group, student, "考勤 李四 迟到")
    message["entities"] = entities
    event = translate(update(message=message), ME, NOW)
    assert isinstance(event, IncomingMessage)
    assert event.mentions == ("5002",)


def test_edited_message_is_ignored() -> None:
    message = api.message_dict(group, student, "打卡 36.5")
    assert translate(update(edited_message=message), ME, NOW) is None


def test_message_from_another_bot_is_ignored() -> None:
    other = api.user(777, "Other", "other_bot", is_bot=True)
    assert translate(update(message=api.message_dict(group, other, "打卡 36.5")), ME, NOW) is None


def test_service_message_without_text_is_ignored() -> None:
    message = api.message_dict(group, student, None, new_chat_members=[student])
    assert translate(update(message=message), ME, NOW) is None


def test_migration_names_old_and_new_chat() -> None:
    message = api.message_dict(group, student, None, migrate_to_chat_id=-1004001)
    assert translate(update(message=message), ME, NOW) == GroupMigrated("-4001", "-1004001")


def bot_message(chat: dict, text: str, **extra: Any) -> dict:
    return api.message_dict(chat, api.bot_user, text, **extra)


def test_button_press_routes_its_command() -> None:
    counselor = api.user(9001, "王老师")
    pressed = bot_message(api.private(counselor), "张三 请假 L37")
    query = {
        "id": "55",
        "from": counselor,
        "message": pressed,
        "chat_instance": "x",
        "data": "c|/approve L37",
    }
    event = translate(update(callback_query=query), ME, NOW)
    assert isinstance(event, Press)
    assert event.message.text == "/approve L37"
    assert event.message.callback_id == "55"
    assert event.message.sender_id == "9001"
    assert event.message.sent_at == NOW
    assert event.pressed_message_id == pressed["message_id"]
    assert event.pressed_text == "张三 请假 L37"


def test_reject_button_routes_its_command_like_any_other() -> None:
    counselor = api.user(9001, "王老师")
    chat = api.private(counselor)
    assert callback_data(Button("驳回", "/reject L37")) == "c|/reject L37"
    # `r|` (buttons sent when Telegram asked for the reason itself) runs the same way.
    for data in ("c|/reject L37", "r|/reject L37"):
        query = {"id": "56", "from": counselor, "message": bot_message(chat, "L37"), "data": data}
        query["chat_instance"] = "x"
        event = translate(update(callback_query=query), ME, NOW)
        assert isinstance(event, Press)
        assert event.message.text == "/reject L37"


def test_a_reply_to_the_bot_is_read_as_typed_and_addressed_to_it() -> None:
    counselor = api.user(9001, "王老师")
    chat = group
    prompt = bot_message(chat, "驳回 L37 的理由？请直接发送（发送「取消」放弃）。")
    reply = incoming(chat, "家长未同意", sender=counselor, reply_to_message=prompt)
    assert reply.text == "家长未同意"
    assert reply.mentions_bot


def test_callback_data_is_compact_and_round_trips() -> None:
    for button in (Button("批准", "/approve L37"), Button("驳回", "/reject S12")):
        data = callback_data(button)
        assert len(data.encode()) <= MAX_CALLBACK_DATA
        parsed = parse_callback_data(data)
        assert parsed is not None
        assert parsed[1] == button.command
    assert parse_callback_data("garbage") is None
    with pytest.raises(ValueError, match="too long"):
        callback_data(Button("x", "/approve " + "L" * 80))


def test_keyboard_has_one_row_of_buttons() -> None:
    markup = keyboard((Button("批准", "/approve L37"), Button("驳回", "/reject L37")))
    assert markup is not None
    assert [b.text for b in markup.inline_keyboard[0]] == ["批准", "驳回"]
    assert keyboard(()) is None


def test_mentions_without_username_are_escaped_text_mentions() -> None:
    message = OutgoingMessage(
        "未打卡 <2>:", mentions=(Mention("5001", "张<三>"), Mention("5002", "李四"))
    )
    [chunk] = html_chunks(message)
    assert chunk == (
        '未打卡 &lt;2&gt;:\n<a href="tg://user?id=5001">张&lt;三&gt;</a> '
        '<a href="tg://user?id=5002">李四</a>'
    )


def test_known_usernames_render_as_plain_mentions() -> None:
    message = OutgoingMessage("x", mentions=(Mention("5001", "张三"),))
    assert html_chunks(message, usernames={"5001": "zhangsan"}) == ["x\n@zhangsan"]


def test_long_text_splits_on_lines_within_the_limit() -> None:
    lines = [f"{i:04d} " + "测" * 95 for i in range(200)]
    mentions = tuple(Mention(str(6000 + i), f"学生{i}") for i in range(300))
    chunks = html_chunks(OutgoingMessage("\n".join(lines), mentions=mentions))
    assert len(chunks) > 5
    for chunk in chunks:
        visible = html.unescape(re.sub(r"<[^>]+>", "", chunk))
        assert len(visible) <= 4096
        assert chunk.count("<a ") == chunk.count("</a>")
    joined = "\n".join(chunks)
    for line in lines:
        assert line in joined
    assert joined.count("tg://user?id=") == 300
