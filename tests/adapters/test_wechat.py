"""The WeChat adapter with the real wechaty client, against a puppet service on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time

import openpyxl
import pytest
import requests
from grpclib.const import Status
from sqlalchemy import func, select
from wechaty_grpc.wechaty.puppet import EventType

from bot.adapters.base import Transient, Unreachable
from bot.adapters.wechat import MAX_TEXT, MENTION_END, NotConnected, WechatAdapter
from bot.adapters.wechaty_compat import SingleIdContainer
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.config import Config
from bot.messages import (
    Attachment,
    ChatAddress,
    Envelope,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    PersonAddress,
)
from storage import demo, identity
from storage.models import (
    ChatAccount,
    CheckIn,
    CheckInRevision,
    Delivery,
    GroupChat,
    OutboxMessage,
    Person,
)
from tests.conftest import make_config, outbox_settled
from tests.fakes.wechaty_puppet import TS_MESSAGE_TYPE_ATTACHMENT, FakePuppetService, SentMessage

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
async def recorder(adapter: WechatAdapter, service: FakePuppetService) -> RecordingApp:
    recorder = RecordingApp()
    await connect(adapter, service, recorder)
    return recorder


async def test_room_message_with_at_bot_becomes_a_group_command(
    recorder: RecordingApp, service: FakePuppetService
) -> None:
    sent = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    message_id = service.room_message(
        ROOM,
        STUDENT,
        f"@班级助手{MENTION_END}打卡 36.5",
        mention_ids=[BOT],
        timestamp=sent.timestamp(),
    )
    incoming = await recorder.next()
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
    recorder: RecordingApp, service: FakePuppetService
) -> None:
    service.room_message(ROOM, STUDENT, "打卡 36.6")
    service.room_message(ROOM, STUDENT, "/checkin 36.6")
    first, second = await recorder.next(), await recorder.next()
    assert (first.text, first.mentions_bot) == ("打卡 36.6", False)
    assert (second.text, second.mentions_bot) == ("/checkin 36.6", False)


async def test_at_bot_by_room_nickname_without_mention_ids(
    recorder: RecordingApp, service: FakePuppetService
) -> None:
    # Some puppets do not report mention ids; the @name in the text still counts.
    service.room_aliases[(ROOM, BOT)] = "小助手"
    service.room_message(ROOM, STUDENT, f"@小助手{MENTION_END}帮助 @李老师{MENTION_END}")
    incoming = await recorder.next()
    assert incoming.mentions_bot
    assert incoming.text == f"帮助 @李老师{MENTION_END}".strip()


async def test_other_mentions_are_reported(
    recorder: RecordingApp, service: FakePuppetService
) -> None:
    service.room_message(
        ROOM,
        STUDENT,
        f"@班级助手{MENTION_END}@李老师{MENTION_END}请假",
        mention_ids=[BOT, COUNSELOR],
    )
    incoming = await recorder.next()
    assert incoming.mentions_bot
    assert incoming.mentions == (COUNSELOR,)


async def test_messages_that_are_not_text_are_ignored(
    recorder: RecordingApp, service: FakePuppetService
) -> None:
    service.room_message(ROOM, STUDENT, "photo.jpg", message_type=TS_MESSAGE_TYPE_ATTACHMENT)
    service.room_message(ROOM, STUDENT, "打卡 36.5")
    assert (await recorder.next()).text == "打卡 36.5"
    assert recorder.received.empty()


async def test_private_message_becomes_a_private_chat(
    recorder: RecordingApp, service: FakePuppetService
) -> None:
    message_id = service.private_message(STUDENT, "我的")
    incoming = await recorder.next()
    assert (incoming.is_group, incoming.chat_id, incoming.sender_id) == (False, STUDENT, STUDENT)
    assert (incoming.text, incoming.message_id) == ("我的", message_id)


async def test_bots_own_messages_are_ignored(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    await adapter.send(ChatAddress("wechat", ROOM, True), OutgoingMessage("早上好，请打卡"))
    assert service.echo_sent
    service.room_message(ROOM, STUDENT, "打卡 36.5")
    # The echo of the bot's own message came first and was not handed on.
    assert (await recorder.next()).sender_id == STUDENT
    assert recorder.received.empty()


async def test_room_reminder_mentions_every_id_within_the_size_limit(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
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
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    ledger = Attachment("台账-2026-11-23.xlsx", b"PK\x03\x04 ledger bytes")
    await adapter.send(
        ChatAddress("wechat", COUNSELOR, False),
        OutgoingMessage("12:00 汇总：护理172 已打卡 30/30", attachment=ledger),
    )
    text, file = service.sent_to(COUNSELOR)
    assert text.text == "12:00 汇总：护理172 已打卡 30/30"
    assert (file.file_name, file.file_content) == (ledger.filename, ledger.content)


async def test_a_file_alone_goes_to_a_room_as_one_file(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    ledger = Attachment("台账.xlsx", b"PK\x03\x04")
    await adapter.send(ChatAddress("wechat", ROOM, True), OutgoingMessage("", attachment=ledger))
    [file] = service.sent_to(ROOM)
    assert (file.file_name, file.file_content) == ("台账.xlsx", b"PK\x03\x04")


async def test_counselor_who_is_not_a_contact_is_unreachable(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    service.add_contact("wxid_stranger", "陌生老师", friend=False)
    with pytest.raises(Unreachable):
        await adapter.send(ChatAddress("wechat", "wxid_stranger", False), OutgoingMessage("hi"))
    with pytest.raises(Unreachable):
        await adapter.send(ChatAddress("wechat", "wxid_nobody", False), OutgoingMessage("hi"))
    assert service.sent == []


async def test_room_without_the_bot_is_unreachable(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
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


async def test_logs_in_again_after_a_logout(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService, console: io.StringIO
) -> None:
    service.logout()
    await eventually(lambda: not adapter.logged_in)
    service.scan("https://login.weixin.qq.com/l/again")
    service.login()
    await asyncio.wait_for(adapter.wait_logged_in(), 10)
    assert "again" in console.getvalue()

    service.private_message(STUDENT, "我的")
    service.private_message(STUDENT, "帮助")
    assert [(await recorder.next()).text, (await recorder.next()).text] == ["我的", "帮助"]
    await asyncio.sleep(0.1)
    assert recorder.received.empty()  # each message once, not once per bridge
    assert adapter.connections == 1


async def test_reconnects_after_the_event_stream_drops(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    await service.drop_event_streams()
    await service.wait_for(lambda: service.event_streams_opened == 2)
    await asyncio.wait_for(adapter.wait_logged_in(), 10)
    assert adapter.connections == 2

    service.room_message(ROOM, STUDENT, "打卡 36.5")
    assert (await recorder.next()).text == "打卡 36.5"
    await adapter.send(ChatAddress("wechat", ROOM, True), OutgoingMessage("✓ 已打卡 1/30"))
    assert service.sent_to(ROOM)[-1].text == "✓ 已打卡 1/30"


async def test_reconnects_when_the_puppet_service_stops_answering(
    service: FakePuppetService, console: io.StringIO
) -> None:
    adapter = WechatAdapter(
        endpoint=service.endpoint, token=TOKEN, console=console,
        reconnect_delay=0.05, ding_interval=0.1, ding_timeout=0.2,
    )  # fmt: skip
    recorder = RecordingApp()
    try:
        await connect(adapter, service, recorder)
        service.freeze()  # the host hangs; the TCP connection stays open
        await eventually(lambda: not adapter.logged_in)
        service.thaw()
        await service.wait_for(lambda: service.open_streams == 1)
        await asyncio.wait_for(adapter.wait_logged_in(), 10)
        assert adapter.connections >= 2
        service.private_message(STUDENT, "我的")
        assert (await recorder.next()).text == "我的"
        assert service.calls("Ding")
    finally:
        await adapter.stop()


async def test_keeps_trying_while_the_puppet_service_is_down(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    port = service.port
    await service.close()
    await asyncio.sleep(0.3)  # several failed attempts, with growing pauses
    await service.start(port)
    service.login()
    await service.wait_for(lambda: service.open_streams == 1)
    await asyncio.wait_for(adapter.wait_logged_in(), 10)
    service.private_message(STUDENT, "我的")
    assert (await recorder.next()).text == "我的"


async def test_the_token_never_reaches_the_logs(
    adapter: WechatAdapter, service: FakePuppetService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await connect(adapter, service, RecordingApp())
    await service.drop_event_streams()
    await service.wait_for(lambda: service.event_streams_opened == 2)
    assert caplog.records
    assert TOKEN not in caplog.text


# -- with the real app: router, handlers and database ------------------------------------------

T001 = "wxid_wangfang"  # 王芳, counselor of 护理172 and 检验172
STUDENTS = {"2020001": "wxid_zhangxm", "2020003": "wxid_wangyt", "2020004": "wxid_liuzh"}
NAMES = {"2020001": "张晓明", "2020003": "王雨桐", "2020004": "刘子涵"}


class School:
    """The real app on a seeded roster, in WeChat through the fake puppet service."""

    def __init__(self, app: App, adapter: WechatAdapter, service: FakePuppetService) -> None:
        self.app = app
        self.adapter = adapter
        self.service = service
        self.handled: dict[str, list[OutgoingMessage]] = {}
        self._done = asyncio.Condition()
        handle = app.handle

        async def recording_handle(msg: IncomingMessage) -> list[OutgoingMessage]:
            result = await handle(msg)
            async with self._done:
                self.handled.setdefault(msg.message_id or "", []).append(msg)  # type: ignore[arg-type]
                self._done.notify_all()
            return result

        app.handle = recording_handle  # type: ignore[method-assign]

    async def say(
        self, sender: str, text: str, *, room: str | None = None, message_id: str | None = None
    ) -> list[SentMessage]:
        """Send as `sender` (in `room`, or privately) and return what the bot sent back."""
        before = len(self.service.sent)
        at = self.app.clock.now().timestamp()
        if room is None:
            message_id = self.service.private_message(
                sender, text, message_id=message_id, timestamp=at
            )
        else:
            mention_ids = [BOT] if text.startswith("@") else []
            message_id = self.service.room_message(
                room, sender, text, mention_ids=mention_ids, message_id=message_id, timestamp=at
            )
        await self.handled_once(message_id)
        await outbox_settled(self.app)
        return self.service.sent[before:]

    async def handled_once(self, message_id: str) -> None:
        async with asyncio.timeout(10), self._done:
            await self._done.wait_for(lambda: message_id in self.handled)

    def person_id(self, number: str) -> int:
        with self.app.uow(readonly=True) as s:
            return s.scalars(select(Person.id).where(Person.number == number)).one()


@pytest.fixture
async def school(
    config: Config, clock: ManualClock, service: FakePuppetService, console: io.StringIO
) -> AsyncIterator[School]:
    # Group acknowledgements go out at once: these tests move the clock by hand.
    config = make_config(config.database.url, outbox={"ack_wait": 0, "ack_interval": 0})
    app = build_app(config, clock)
    with app.uow() as session:
        # The roster only: every account and the group are bound through WeChat in the tests.
        demo.seed(session, clock.now(), platforms=(), consent_version=config.privacy.notice_version)
    service.add_contact(T001, "王芳")
    for number, wxid in STUDENTS.items():
        service.add_contact(wxid, NAMES[number])
    service.add_room(ROOM, "护理172班", [BOT, T001, *STUDENTS.values()])
    adapter = WechatAdapter(
        endpoint=service.endpoint, token=TOKEN, name="班级助手", console=console,
        reconnect_delay=0.05,
    )  # fmt: skip
    app.add_adapter(adapter)
    await app.start()
    try:
        await service.wait_for(lambda: service.open_streams == 1)
        service.login()
        await asyncio.wait_for(adapter.wait_logged_in(), 10)
        yield School(app, adapter, service)
    finally:
        await app.stop()
        app.engine.dispose()


async def bind_class_group(school: School) -> None:
    """The counselor binds privately with a one-time code, then binds the room to 护理172."""
    with school.app.uow() as s:
        code = identity.issue_code(s, school.person_id("T001"), None, school.app.clock.now())
    [reply] = await school.say(T001, f"绑定 T001 王芳 {code}")
    assert "绑定成功" in reply.text
    [reply] = await school.say(T001, f"@班级助手{MENTION_END}绑定班级 护理172", room=ROOM)
    assert reply.conversation_id == ROOM
    with school.app.uow(readonly=True) as s:
        group = s.scalars(select(GroupChat).where(GroupChat.platform == "wechat")).one()
        assert group.chat_id == ROOM


async def bind_students(school: School, *numbers: str) -> None:
    for number in numbers:
        [reply] = await school.say(STUDENTS[number], f"绑定 {number} {NAMES[number]}", room=ROOM)
        assert "绑定成功" in reply.text, reply.text


async def test_bind_and_check_in_in_a_class_room(school: School) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")

    [reply] = await school.say(STUDENTS["2020001"], "打卡 36.5", room=ROOM)

    assert reply.conversation_id == ROOM
    assert "已打卡 1/30" in reply.text
    assert "36.5" not in reply.text  # no health details in the group
    with school.app.uow(readonly=True) as s:
        [checkin] = s.scalars(select(CheckIn)).all()
        assert (checkin.student_id, checkin.platform) == (school.person_id("2020001"), "wechat")
        account = s.scalars(
            select(ChatAccount).where(ChatAccount.platform_user_id == STUDENTS["2020001"])
        ).one()
        assert (account.platform, account.person_id) == ("wechat", checkin.student_id)


async def test_at_bot_slash_command_in_a_room(school: School) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")
    [reply] = await school.say(
        STUDENTS["2020001"], f"@班级助手{MENTION_END}/checkin 36.6", room=ROOM
    )
    assert "已打卡 1/30" in reply.text


async def test_private_check_in(school: School) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020003")

    [reply] = await school.say(STUDENTS["2020003"], "打卡 36.6 无")

    assert reply.conversation_id == STUDENTS["2020003"]
    assert "已打卡" in reply.text and "36.6" in reply.text
    with school.app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CheckIn)) == 1


async def run_jobs_at(school: School, clock: ManualClock, hour: int) -> list[SentMessage]:
    """Move the clock to `hour`:00 today, run the scheduled jobs, return what went out."""
    before = len(school.service.sent)
    clock.set(datetime.combine(clock.now().date(), time(hour), tzinfo=clock.now().tzinfo))
    assert school.app.scheduler is not None
    await school.app.scheduler.run_due()
    await outbox_settled(school.app)
    return school.service.sent[before:]


async def test_deadline_reminder_mentions_who_has_not_checked_in(
    school: School, clock: ManualClock
) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001", "2020003", "2020004")
    await school.say(STUDENTS["2020001"], "打卡 36.5", room=ROOM)

    sent = await run_jobs_at(school, clock, 11)

    [reminder] = [m for m in sent if m.conversation_id == ROOM]
    assert reminder.mention_ids == [STUDENTS["2020003"], STUDENTS["2020004"]]
    [request] = [r for r in school.service.calls("MessageSendText") if r.conversation_id == ROOM][
        -1:
    ]
    assert list(request.mentonal_ids) == reminder.mention_ids
    # wechaty writes the @names first; the students without WeChat are listed by name.
    assert reminder.text.startswith(f"@王雨桐{MENTION_END}@刘子涵 ⏰")
    assert "还有 29 位同学未打卡" in reminder.text
    assert "李思远" in reminder.text  # 2020002, not on WeChat: named, not mentioned
    # The test day is a Monday: the 09:00 weekly attendance summary arrives too.
    [overdue] = [m for m in sent if m.conversation_id == T001 and "考勤周报" not in m.text]
    assert "王雨桐" in overdue.text


async def test_rollup_ledger_file_reaches_the_counselor(school: School, clock: ManualClock) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")
    await school.say(STUDENTS["2020001"], "打卡 36.5", room=ROOM)

    sent = await run_jobs_at(school, clock, 12)

    files = [m for m in sent if m.conversation_id == T001 and m.is_file]
    assert [f.file_name.endswith(".xlsx") for f in files] == [True]
    ledger = openpyxl.load_workbook(io.BytesIO(files[0].file_content))
    assert "打卡" in ledger.sheetnames
    summary = [m for m in sent if m.conversation_id == T001 and not m.is_file]
    assert any("护理172" in m.text for m in summary)
    # The file follows its summary text in the counselor's chat.
    texts_and_files = [m.is_file for m in school.service.sent_to(T001)]
    assert texts_and_files[-1] is True and texts_and_files[-2] is False


async def test_counselor_who_is_no_longer_a_contact_is_recorded_unreachable(
    school: School,
) -> None:
    await bind_class_group(school)
    school.service.add_contact(T001, "王芳", friend=False)

    report = await school.app.deliver(
        [Envelope(PersonAddress(school.person_id("T001")), OutgoingMessage("12:00 汇总"))]
    )

    assert [env.message.text for env, _ in report.unreachable] == ["12:00 汇总"]
    assert school.service.sent_to(T001)[-1].text != "12:00 汇总"
    with school.app.uow(readonly=True) as s:
        account = s.scalars(select(ChatAccount).where(ChatAccount.platform_user_id == T001)).one()
        assert account.unreachable_at is not None
        assert "contact" in (account.unreachable_reason or "")


async def test_bot_keeps_working_after_the_puppet_connection_drops(school: School) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")

    await school.service.drop_event_streams()
    await school.service.wait_for(lambda: school.service.event_streams_opened == 2)
    await asyncio.wait_for(school.adapter.wait_logged_in(), 10)

    [reply] = await school.say(STUDENTS["2020001"], "打卡 36.5", room=ROOM)
    assert "已打卡 1/30" in reply.text


async def test_duplicate_message_id_is_handled_once(school: School) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")
    message_id = school.service.new_id("msg")
    [reply] = await school.say(STUDENTS["2020001"], "打卡 36.5", room=ROOM, message_id=message_id)
    assert "已打卡 1/30" in reply.text

    # The same delivery again, as after the bot restarts (wechaty's own in-memory filter is
    # empty then): the app's inbound log recognises the id.
    SingleIdContainer._instance = None
    before = len(school.service.sent)
    school.service.emit(EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})
    async with asyncio.timeout(10), school._done:
        await school._done.wait_for(lambda: len(school.handled[message_id]) == 2)

    assert school.service.sent[before:] == []
    with school.app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CheckInRevision)) == 1


async def test_token_only_looks_the_endpoint_up_and_never_logs_the_token(
    monkeypatch: pytest.MonkeyPatch, console: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    looked_up: list[str] = []

    def offline_get(url: str, *args: object, **kwargs: object) -> object:
        looked_up.append(url)
        raise requests.ConnectionError(f"Max retries exceeded with url: {url}")

    # No network in tests: the lookup fails the way it does offline.
    monkeypatch.setattr("wechaty_puppet_service.puppet.requests.get", offline_get)
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_ENDPOINT", raising=False)
    caplog.set_level(logging.DEBUG)
    adapter = WechatAdapter(token=TOKEN, console=console, reconnect_delay=0.05)
    try:
        await adapter.start(RecordingApp())  # type: ignore[arg-type]
        await eventually(lambda: len(looked_up) >= 2)  # it keeps trying
    finally:
        await adapter.stop()
    assert looked_up[0] == f"https://api.chatie.io/v0/hosties/{TOKEN}"
    assert "lost the puppet service" in caplog.text
    assert TOKEN not in caplog.text


# -- what a gateway cannot do -------------------------------------------------------------------


async def test_a_file_over_the_gateway_message_limit_is_not_attempted_and_the_way_out_is_said(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    # 3.2 MB becomes more than 4 MiB in base64: one gRPC message could not carry it.
    ledger = Attachment("台账-医学院-2026-11-23.xlsx", b"PK" + b"\x00" * (3_200_000))
    await adapter.send(
        ChatAddress("wechat", COUNSELOR, False),
        OutgoingMessage("12:00 汇总：医学院", attachment=ledger),
    )
    assert service.calls("MessageSendFile") == []
    summary, notice = service.sent_to(COUNSELOR)
    assert summary.text == "12:00 汇总：医学院"
    assert "台账-医学院-2026-11-23.xlsx" in notice.text
    assert "classbot export" in notice.text
    # A file that fits still goes as a file.
    await adapter.send(
        ChatAddress("wechat", COUNSELOR, False),
        OutgoingMessage("", attachment=Attachment("台账.xlsx", b"PK" + b"\x00" * 2_900_000)),
    )
    assert service.sent_to(COUNSELOR)[-1].file_name == "台账.xlsx"


async def test_a_gateway_error_reported_as_unknown_is_transient_not_success(
    recorder: RecordingApp, adapter: WechatAdapter, service: FakePuppetService
) -> None:
    service.fail_sends = [Status.UNKNOWN]
    with pytest.raises(Transient) as raised:
        await adapter.send(ChatAddress("wechat", ROOM, True), OutgoingMessage("✓ 已打卡 1/30"))
    assert "UNKNOWN" in raised.value.reason
    # The gateway may have sent it anyway: a group message is then not sent again.
    assert raised.value.maybe_sent
    assert service.sent_to(ROOM) == []

    service.fail_sends = [Status.UNAVAILABLE]
    with pytest.raises(Transient) as raised:
        await adapter.send(ChatAddress("wechat", STUDENT, False), OutgoingMessage("hi"))
    assert not raised.value.maybe_sent

    await adapter.send(ChatAddress("wechat", ROOM, True), OutgoingMessage("✓ 已打卡 1/30"))
    assert service.sent_to(ROOM)[-1].text == "✓ 已打卡 1/30"


async def test_the_token_only_endpoint_lookup_times_out_instead_of_freezing_the_bot(
    monkeypatch: pytest.MonkeyPatch, console: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    timeouts: list[object] = []

    def hanging_get(url: str, *args: object, **kwargs: object) -> object:
        timeouts.append(kwargs.get("timeout"))
        release.wait(10)  # the lookup service accepts the connection and never answers
        raise requests.ConnectionError("gave up")

    monkeypatch.setattr("requests.get", hanging_get)
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_ENDPOINT", raising=False)
    adapter = WechatAdapter(token=TOKEN, console=console, reconnect_delay=0.05, lookup_timeout=0.2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        await adapter.start(RecordingApp())  # type: ignore[arg-type]
        await eventually(lambda: "lost the puppet service" in caplog.text)
        assert ticks > 5  # the event loop kept running while the lookup hung
        assert timeouts and timeouts[0] == 0.2
        assert "TimeoutError" in caplog.text
    finally:
        release.set()
        ticking.cancel()
        await adapter.stop()


async def test_a_catch_up_due_before_login_is_sent_once_login_completes(
    school: School, clock: ManualClock
) -> None:
    """Restarted at 12:05 inside the grace: the 12:00 roll-up is queued before the gateway
    has logged in, waits for it (not failed as unreachable), and goes out once, with its
    ledger, when login completes."""
    await bind_class_group(school)
    await bind_students(school, "2020001")
    await school.say(STUDENTS["2020001"], "打卡 36.5", room=ROOM)
    await school.app.stop()
    school.service.logged_in = False
    clock.set(datetime.combine(clock.now().date(), time(12, 5), tzinfo=clock.now().tzinfo))
    before = len(school.service.sent_to(T001))

    await school.app.start()
    await school.service.wait_for(lambda: school.service.open_streams == 1)
    assert not school.adapter.ready
    with school.app.uow(readonly=True) as s:
        queued = s.scalars(select(OutboxMessage.status).where(OutboxMessage.chat_id == T001)).all()
    assert "queued" in queued
    await asyncio.sleep(0.5)
    assert len(school.service.sent_to(T001)) == before

    school.service.login()
    await asyncio.wait_for(school.adapter.wait_logged_in(), 10)
    await eventually(lambda: any(m.is_file for m in school.service.sent_to(T001)[before:]))
    await outbox_settled(school.app)
    after = school.service.sent_to(T001)[before:]
    assert [m.is_file for m in after].count(True) == 1
    assert sum("打卡汇总" in m.text for m in after) == 1
    scope = f"person:{school.person_id('T001')}"
    with school.app.uow(readonly=True) as s:
        [status] = s.scalars(
            select(Delivery.status).where(Delivery.job == "rollup", Delivery.scope == scope)
        ).all()
    assert status == "sent"
