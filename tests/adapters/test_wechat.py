"""The WeChat adapter with the real wechaty client, against a puppet service on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from bot.adapters.base import Unreachable
from bot.adapters.wechat import MAX_TEXT, MENTION_END, NotConnected, WechatAdapter
from bot.messages import Attachment, ChatAddress, IncomingMessage, Mention, OutgoingMessage
from tests.fakes.wechaty_puppet import FakePuppetService

BOT = "wxid_classbot"
ROOM = "nursing172@chatroom"
STUDENT = "wxid_student01"
COUNSELOR = "wxid_counselor"
TOKEN = "insecure_test_secret_token"


class RecordingApp:
    """Stands in for the app: keeps what the adapter hands it."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[IncomingMessage] = asyncio.Queue()

    async def handle(self, message: IncomingMessage) -> list[OutgoingMessage]:
        self.received.put_nowait(message)
        return []

    async def next(self) -> IncomingMessage:
        return await asyncio.wait_for(self.received.get(), 10)


@pytest.fixture
async def service() -> AsyncIterator[FakePuppetService]:
    service = FakePuppetService(self_id=BOT, self_name="班级助手")
    service.add_contact(STUDENT, "王小明")
    service.add_contact(COUNSELOR, "李老师")
    service.add_room(ROOM, "护理172", [BOT, STUDENT, COUNSELOR])
    await service.start()
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
def console() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
async def adapter(service: FakePuppetService, console: io.StringIO) -> AsyncIterator[WechatAdapter]:
    adapter = WechatAdapter(
        endpoint=service.endpoint,
        token=TOKEN,
        name="班级助手",
        console=console,
        reconnect_delay=0.05,
    )
    try:
        yield adapter
    finally:
        await adapter.stop()


async def connect(adapter: WechatAdapter, service: FakePuppetService, app: object) -> None:
    await adapter.start(app)  # type: ignore[arg-type]
    await service.wait_for(lambda: service.open_streams == 1)
    service.login()
    await asyncio.wait_for(adapter.wait_logged_in(), 10)


async def eventually(predicate: Callable[[], bool]) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 10 s")


@pytest.fixture
async def app(adapter: WechatAdapter, service: FakePuppetService) -> RecordingApp:
    app = RecordingApp()
    await connect(adapter, service, app)
    return app


async def test_room_message_with_at_bot_becomes_a_group_command(
    app: RecordingApp, service: FakePuppetService
) -> None:
    sent = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    message_id = service.room_message(
        ROOM,
        STUDENT,
        f"@班级助手{MENTION_END}打卡 36.5",
        mention_ids=[BOT],
        timestamp=sent.timestamp(),
    )
    incoming = await app.next()
    assert incoming == IncomingMessage(
        platform="wechat",
        chat_id=ROOM,
        is_group=True,
        sender_id=STUDENT,
        text="打卡 36.5",
        sent_at=sent,
        message_id=message_id,
        sender_name="王小明",
        chat_title="护理172",
        mentions_bot=True,
    )


async def test_room_keyword_and_slash_command_pass_through(
    app: RecordingApp, service: FakePuppetService
) -> None:
    service.room_message(ROOM, STUDENT, "打卡 36.6")
    service.room_message(ROOM, STUDENT, "/checkin 36.6")
    first, second = await app.next(), await app.next()
    assert (first.text, first.mentions_bot) == ("打卡 36.6", False)
    assert (second.text, second.mentions_bot) == ("/checkin 36.6", False)


async def test_at_bot_by_room_nickname_without_mention_ids(
    app: RecordingApp, service: FakePuppetService
) -> None:
    # Some puppets do not report mention ids; the @name in the text still counts.
    service.room_aliases[(ROOM, BOT)] = "小助手"
    service.room_message(ROOM, STUDENT, f"@小助手{MENTION_END}帮助 @李老师{MENTION_END}")
    incoming = await app.next()
    assert incoming.mentions_bot
    assert incoming.text == f"帮助 @李老师{MENTION_END}".strip()


async def test_other_mentions_are_reported(app: RecordingApp, service: FakePuppetService) -> None:
    service.room_message(
        ROOM,
        STUDENT,
        f"@班级助手{MENTION_END}@李老师{MENTION_END}请假",
        mention_ids=[BOT, COUNSELOR],
    )
    incoming = await app.next()
    assert incoming.mentions_bot
    assert incoming.mentions == (COUNSELOR,)


async def test_private_message_becomes_a_private_chat(
    app: RecordingApp, service: FakePuppetService
) -> None:
    message_id = service.private_message(STUDENT, "我的")
    incoming = await app.next()
    assert (incoming.is_group, incoming.chat_id, incoming.sender_id) == (False, STUDENT, STUDENT)
    assert (incoming.text, incoming.message_id) == ("我的", message_id)


async def test_bots_own_messages_are_ignored(
    app: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    await adapter.send(ChatAddress("wechat", ROOM, True), OutgoingMessage("早上好，请打卡"))
    assert service.echo_sent
    service.room_message(ROOM, STUDENT, "打卡 36.5")
    # The echo of the bot's own message came first and was not handed on.
    assert (await app.next()).sender_id == STUDENT
    assert app.received.empty()


async def test_room_reminder_mentions_every_id_within_the_size_limit(
    app: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    students = [f"wxid_s{i:03d}" for i in range(300)]
    for i, student in enumerate(students):
        service.add_contact(student, f"护理学生{i:03d}号")
    service.add_room(ROOM, "护理172", [BOT, *students])
    reminder = OutgoingMessage(
        "⏰ 11:00 还有 300 位同学未打卡：",
        mentions=tuple(Mention(s, f"学生{i}") for i, s in enumerate(students)),
    )

    await adapter.send(ChatAddress("wechat", ROOM, True), reminder)

    texts = service.sent_to(ROOM)
    assert len(texts) > 1
    assert [i for m in texts for i in m.mention_ids] == students
    assert all(len(m.text) <= MAX_TEXT for m in texts)
    # wechaty writes the @names (the WeChat names) before the text.
    first = texts[0]
    assert first.text.startswith(f"@护理学生000号{MENTION_END}@护理学生001号")
    assert first.text.endswith(" ⏰ 11:00 还有 300 位同学未打卡：")
    assert texts[-1].text.endswith(f"({len(texts)}/{len(texts)})")


async def test_file_reaches_the_counselor_as_a_file(
    app: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    ledger = Attachment("台账-2026-11-23.xlsx", b"PK\x03\x04 ledger bytes")
    await adapter.send(
        ChatAddress("wechat", COUNSELOR, False),
        OutgoingMessage("12:00 汇总：护理172 已打卡 30/30", attachment=ledger),
    )
    text, file = service.sent_to(COUNSELOR)
    assert text.text == "12:00 汇总：护理172 已打卡 30/30"
    assert (file.file_name, file.file_content) == (ledger.filename, ledger.content)


async def test_counselor_who_is_not_a_contact_is_unreachable(
    app: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    service.add_contact("wxid_stranger", "陌生老师", friend=False)
    with pytest.raises(Unreachable):
        await adapter.send(ChatAddress("wechat", "wxid_stranger", False), OutgoingMessage("hi"))
    with pytest.raises(Unreachable):
        await adapter.send(ChatAddress("wechat", "wxid_nobody", False), OutgoingMessage("hi"))
    assert service.sent == []


async def test_room_without_the_bot_is_unreachable(
    app: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    service.add_room("other@chatroom", "检验172", [STUDENT])
    with pytest.raises(Unreachable):
        await adapter.send(ChatAddress("wechat", "other@chatroom", True), OutgoingMessage("hi"))
    with pytest.raises(Unreachable):
        await adapter.send(ChatAddress("wechat", "gone@chatroom", True), OutgoingMessage("hi"))
    assert service.sent == []


async def test_scan_prints_the_qr_code_url_and_login_logout_are_logged(
    adapter: WechatAdapter,
    service: FakePuppetService,
    console: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.adapters.wechat")
    await adapter.start(RecordingApp())  # type: ignore[arg-type]
    await service.wait_for(lambda: service.open_streams == 1)
    service.scan("https://login.weixin.qq.com/l/abc123")
    service.login()
    await asyncio.wait_for(adapter.wait_logged_in(), 10)

    printed = console.getvalue()
    assert "https://wechaty.js.org/qrcode/https%3A%2F%2Flogin.weixin.qq.com%2Fl%2Fabc123" in printed
    assert "█" in printed  # the code itself, drawn in the terminal
    assert "logged in as 班级助手" in caplog.text

    service.logout()
    await eventually(lambda: not adapter.logged_in)
    with pytest.raises(NotConnected):
        await adapter.send(ChatAddress("wechat", ROOM, True), OutgoingMessage("hi"))
    assert "logged out" in caplog.text


async def test_reconnects_after_the_event_stream_drops(
    app: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    await service.drop_event_streams()
    await service.wait_for(lambda: service.event_streams_opened == 2)
    await asyncio.wait_for(adapter.wait_logged_in(), 10)
    assert adapter.connections == 2

    service.room_message(ROOM, STUDENT, "打卡 36.5")
    assert (await app.next()).text == "打卡 36.5"
    await adapter.send(ChatAddress("wechat", ROOM, True), OutgoingMessage("✓ 已打卡 1/30"))
    assert service.sent_to(ROOM)[-1].text == "✓ 已打卡 1/30"


async def test_keeps_trying_while_the_puppet_service_is_down(
    app: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    port = service.port
    await service.close()
    await asyncio.sleep(0.3)  # several failed attempts, with growing pauses
    await service.start(port)
    service.login()
    await service.wait_for(lambda: service.open_streams == 1)
    await asyncio.wait_for(adapter.wait_logged_in(), 10)
    service.private_message(STUDENT, "我的")
    assert (await app.next()).text == "我的"


async def test_the_token_never_reaches_the_logs(
    adapter: WechatAdapter, service: FakePuppetService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await connect(adapter, service, RecordingApp())
    await service.drop_event_streams()
    await service.wait_for(lambda: service.event_streams_opened == 2)
    assert caplog.records
    assert TOKEN not in caplog.text
