"""The DingTalk adapter, with the official Stream SDK, against a fake DingTalk on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path
from time import time as wall_clock

import openpyxl
import pytest
from sqlalchemy import func, select

from bot.adapters.base import Transient, Unreachable
from bot.adapters.dingtalk import MAX_TEXT, DingtalkAdapter, NotConnected, strip_bot_mention
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.config import Config, ConfigError, load_config
from bot.messages import (
    Attachment,
    ChatAddress,
    IncomingMessage,
    Mention,
    OutgoingMessage,
)
from storage import demo, identity
from storage.models import (
    AuditEntry,
    ChatAccount,
    CheckInRevision,
    GroupChat,
    OutboxMessage,
    Person,
)
from tests.conftest import at_once, outbox_settled, privacy_guard, static_texts
from tests.fakes.dingtalk_api import CLIENT_ID, CLIENT_SECRET, FakeDingtalk, Sent

GROUP = "cidNursing172xxxxxxxx=="
BOT_NAME = "班级助手"
T001 = "manager0001"  # 王芳, counselor of 护理172 and 检验172
# DingTalk user ids (staff ids) are the org's own, unrelated to 学号.
STUDENTS = {"2020001": "dt-zhangxm", "2020003": "dt-wangyt", "2020004": "dt-liuzh"}
NAMES = {"2020001": "张晓明", "2020003": "王雨桐", "2020004": "刘子涵"}


def adapter_for(fake: FakeDingtalk, **kw: object) -> DingtalkAdapter:
    return DingtalkAdapter(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        name=BOT_NAME,
        gateway_url=fake.gateway_url,
        api_url=fake.base_url,
        oapi_url=fake.base_url,
        reconnect_delay=0.05,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDingtalk]:
    fake = FakeDingtalk()
    fake.add_member(T001, "王芳", job_number="T001")
    for number, staff in STUDENTS.items():
        fake.add_member(staff, NAMES[number], job_number=number)
    fake.add_group(GROUP, "护理172班", [T001, *STUDENTS.values()])
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


# -- translation, with a stand-in for the app --------------------------------------------------


class RecordingApp:
    def __init__(self) -> None:
        self.received: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self.config = load_config(None)

    async def handle(self, message: IncomingMessage) -> list[OutgoingMessage]:
        self.received.put_nowait(message)
        return []

    async def next(self) -> IncomingMessage:
        return await asyncio.wait_for(self.received.get(), 10)


@pytest.fixture
async def connected(fake: FakeDingtalk) -> AsyncIterator[tuple[DingtalkAdapter, RecordingApp]]:
    adapter = adapter_for(fake)
    recorder = RecordingApp()
    await adapter.start(recorder)  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(adapter.wait_connected(), 10)
        await fake.wait_for(lambda: fake.open_sockets == 1)
        yield adapter, recorder
    finally:
        await adapter.stop()


def test_the_bots_own_mention_is_stripped() -> None:
    assert strip_bot_mention(" @班级助手 打卡 36.5", [BOT_NAME]) == "打卡 36.5"
    assert strip_bot_mention(" 打卡 36.5", [BOT_NAME]) == "打卡 36.5"


async def test_group_message_becomes_a_group_command_with_its_mentions(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    _, recorder = connected
    msg_id = await fake.group_message(
        GROUP, STUDENTS["2020001"], " 请假 @刘子涵", mentions=(STUDENTS["2020004"],),
        create_at=1795000000.0,
    )  # fmt: skip
    incoming = await recorder.next()
    assert (incoming.platform, incoming.chat_id, incoming.is_group) == ("dingtalk", GROUP, True)
    assert (incoming.sender_id, incoming.sender_name) == (STUDENTS["2020001"], "张晓明")
    assert (incoming.text, incoming.message_id) == ("请假 @刘子涵", msg_id)
    assert incoming.chat_title == "护理172班"
    assert incoming.mentions_bot
    # The robot's own entry in atUsers is not a mention of a person.
    assert incoming.mentions == (STUDENTS["2020004"],)
    assert incoming.sent_at.timestamp() == 1795000000.0
    assert incoming.directory is None  # looked up for private chats only
    await fake.group_message(GROUP, STUDENTS["2020001"], "大家好", at_bot=False)
    assert not (await recorder.next()).mentions_bot
    # Acknowledged once handled.
    await fake.wait_for(lambda: len(fake.acked) == 2)


async def test_private_message_carries_the_directory_entry(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    _, recorder = connected
    await fake.private_message(STUDENTS["2020003"], "我的")
    incoming = await recorder.next()
    assert (incoming.is_group, incoming.chat_id) == (False, STUDENTS["2020003"])
    assert incoming.directory is not None
    assert incoming.directory.job_number == "2020003"
    # A second message uses the cached entry.
    await fake.private_message(STUDENTS["2020003"], "帮助")
    await recorder.next()
    assert len(fake.calls("/topapi/v2/user/get")) == 1


async def test_without_the_directory_permission_no_entry_is_given(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    _, recorder = connected
    fake.directory_permission = False
    await fake.private_message(STUDENTS["2020003"], "绑定 2020003 王雨桐")
    assert (await recorder.next()).directory is None


async def test_a_ping_is_answered_with_its_own_data(
    connected: tuple[DingtalkAdapter, RecordingApp],
    fake: FakeDingtalk,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    opaque = await fake.ping()
    await fake.wait_for(lambda: len(fake.acks) == 1)
    [ack] = fake.acks
    assert ack["code"] == 200
    assert json.loads(ack["data"]) == {"opaque": opaque}
    assert fake.connections_opened == 1
    assert "ping" not in caplog.text  # routine, not worth a warning


async def test_reconnects_when_the_gateway_stops_answering_pings(fake: FakeDingtalk) -> None:
    adapter = adapter_for(fake, ping_interval=0.1)
    recorder = RecordingApp()
    await adapter.start(recorder)  # type: ignore[arg-type]
    try:
        await fake.wait_for(lambda: fake.open_sockets == 1)
        fake.freeze()  # the TCP connection stays open; nothing answers
        await fake.wait_for(lambda: fake.open_sockets == 0)
        fake.thaw()
        await fake.wait_for(lambda: fake.open_sockets == 1)
        await fake.private_message(STUDENTS["2020001"], "我的")
        assert (await recorder.next()).text == "我的"
        assert adapter.connections >= 2
    finally:
        await adapter.stop()


async def test_the_gateways_disconnect_makes_it_reconnect(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, recorder = connected
    await fake.send_disconnect()
    await fake.wait_for(lambda: fake.connections_opened == 2 and fake.open_sockets == 1)
    await fake.private_message(STUDENTS["2020001"], "我的")
    assert (await recorder.next()).text == "我的"
    assert adapter.connections == 2


class SlowApp(RecordingApp):
    """Holds each message until released, like a handler still writing to the database."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.finished: list[str] = []

    async def handle(self, message: IncomingMessage) -> list[OutgoingMessage]:
        self.received.put_nowait(message)
        await self.release.wait()
        self.finished.append(message.text)
        return []


async def test_stop_finishes_the_message_being_handled_and_closes(fake: FakeDingtalk) -> None:
    adapter = adapter_for(fake)
    app = SlowApp()
    assert not adapter.ready
    with pytest.raises(NotConnected):
        await adapter.send(ChatAddress("dingtalk", T001, False), OutgoingMessage("hi"))
    await adapter.start(app)  # type: ignore[arg-type]
    assert adapter.ready
    await fake.wait_for(lambda: fake.open_sockets == 1)
    await fake.private_message(STUDENTS["2020001"], "打卡 36.5")
    await app.next()

    stopping = asyncio.create_task(adapter.stop())
    await fake.wait_for(lambda: fake.open_sockets == 0)
    assert not stopping.done()  # waits for the message in hand
    app.release.set()
    await asyncio.wait_for(stopping, 10)

    assert app.finished == ["打卡 36.5"]
    assert not adapter.ready


async def test_keeps_trying_while_the_gateway_is_down(fake: FakeDingtalk) -> None:
    port = fake.port
    await fake.close()
    adapter = adapter_for(fake)
    recorder = RecordingApp()
    await adapter.start(recorder)  # type: ignore[arg-type]
    try:
        await asyncio.sleep(0.3)  # several failed attempts, with growing pauses
        assert not adapter.connected
        await fake.start(port)
        await asyncio.wait_for(adapter.wait_connected(), 10)
        await fake.wait_for(lambda: fake.open_sockets == 1)
        await fake.private_message(STUDENTS["2020001"], "我的")
        assert (await recorder.next()).text == "我的"
        assert adapter.connections >= 2
    finally:
        await adapter.stop()


async def test_a_private_file_is_uploaded_then_sent_as_a_file(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, _ = connected
    ledger = Attachment("台账-2026-11-23.xlsx", b"PK\x03\x04 ledger bytes")
    await adapter.send(
        ChatAddress("dingtalk", T001, False),
        OutgoingMessage("12:00 汇总：护理172 已打卡 30/30", attachment=ledger),
    )
    text, file = fake.sent_to(T001)
    assert (text.via, text.msg_key, text.text) == (
        "private",
        "sampleText",
        "12:00 汇总：护理172 已打卡 30/30",
    )
    assert (file.msg_key, file.file_name, file.file_content) == (
        "sampleFile",
        ledger.filename,
        ledger.content,
    )
    assert file.param["fileType"] == "xlsx"


async def test_a_person_outside_the_org_is_unreachable(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, _ = connected
    with pytest.raises(Unreachable, match="not a member"):
        await adapter.send(ChatAddress("dingtalk", "staff-gone", False), OutgoingMessage("hi"))
    assert fake.sent == []


async def test_an_outsider_is_answered_through_the_webhook_only(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, recorder = connected
    await fake.private_message("visitor01", "帮助", outsider=True)
    incoming = await recorder.next()
    assert incoming.sender_id == incoming.chat_id == "ext:$:dt:visitor01"
    await adapter.send(incoming.chat, OutgoingMessage("你好"))
    [reply] = fake.sent
    assert (reply.via, reply.to, reply.text) == ("webhook", "visitor01", "你好")
    fake.expire_webhooks()
    with pytest.raises(Unreachable, match="refused"):
        await adapter.send(incoming.chat, OutgoingMessage("还在吗"))
    # Once refused, the webhook is not tried again.
    with pytest.raises(Unreachable, match="not a member"):
        await adapter.send(incoming.chat, OutgoingMessage("还在吗"))


async def test_flow_control_raises_transient_with_a_wait(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, _ = connected
    fake.throttle()
    with pytest.raises(Transient) as caught:
        await adapter.send(ChatAddress("dingtalk", GROUP, True), OutgoingMessage("✓ 已打卡 1/30"))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    assert not caught.value.maybe_sent  # refused before delivery: safe to send again
    assert fake.sent == []
    # The outbox sends it again later, and it goes through.
    await adapter.send(ChatAddress("dingtalk", GROUP, True), OutgoingMessage("✓ 已打卡 1/30"))
    assert [s.text for s in fake.sent_to(GROUP)] == ["✓ 已打卡 1/30"]


async def test_a_flow_controlled_person_is_transient_and_an_invalid_one_unreachable(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, _ = connected
    fake.flow_control(T001)
    with pytest.raises(Transient) as caught:
        await adapter.send(ChatAddress("dingtalk", T001, False), OutgoingMessage("12:00 汇总"))
    assert caught.value.retry_after is not None
    with pytest.raises(Unreachable, match="invalid staff id"):
        await adapter.send(ChatAddress("dingtalk", "nobody", False), OutgoingMessage("hi"))
    # Both answers were HTTP 200.
    assert len(fake.calls("/v1.0/robot/oToMessages/batchSend")) == 2
    assert fake.sent == []


async def test_an_unreachable_gateway_is_transient_and_not_sent(fake: FakeDingtalk) -> None:
    adapter = adapter_for(fake)
    await adapter.start(RecordingApp())  # type: ignore[arg-type]
    try:
        await fake.close()
        with pytest.raises(Transient) as caught:
            await adapter.send(ChatAddress("dingtalk", GROUP, True), OutgoingMessage("hi"))
        assert not caught.value.maybe_sent
    finally:
        await adapter.stop()


async def test_a_group_reminder_without_a_live_webhook_names_people_in_plain_text(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, _ = connected
    reminder = OutgoingMessage(
        "⏰ 还有 2 位同学未打卡：", mentions=(Mention(STUDENTS["2020003"], "王雨桐"),)
    )
    await adapter.send(ChatAddress("dingtalk", GROUP, True), reminder)
    [sent] = fake.sent
    # groupMessages/send has no @ field: the name is there, and notifies nobody.
    assert (sent.via, sent.at_user_ids) == ("group", [])
    assert sent.text == "⏰ 还有 2 位同学未打卡：\n@王雨桐"


async def test_a_server_error_is_transient_and_may_be_sent_again(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, _ = connected
    fake.fail_next(503)
    with pytest.raises(Transient) as caught:
        await adapter.send(ChatAddress("dingtalk", GROUP, True), OutgoingMessage("hi"))
    assert not caught.value.maybe_sent
    assert fake.sent == []


async def test_no_answer_after_the_request_went_out_may_have_been_sent(
    fake: FakeDingtalk,
) -> None:
    adapter = adapter_for(fake, timeout=0.2)
    await adapter.start(RecordingApp())  # type: ignore[arg-type]
    try:
        await adapter.api.token()
        fake.delay = 1.0
        with pytest.raises(Transient) as caught:
            await adapter.send(ChatAddress("dingtalk", GROUP, True), OutgoingMessage("hi"))
        # A group message is then not sent again (SPEC §9): it may have arrived.
        assert caught.value.maybe_sent
    finally:
        fake.delay = 0.0
        await adapter.stop()


async def test_a_group_the_robot_is_not_in_is_unreachable(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, _ = connected
    with pytest.raises(Unreachable, match=r"resource\.not\.found"):
        await adapter.send(ChatAddress("dingtalk", "cidGone==", True), OutgoingMessage("hi"))


async def test_the_token_is_cached_and_renewed_before_it_expires(fake: FakeDingtalk) -> None:
    now = [1_000_000.0]
    adapter = adapter_for(fake, clock=lambda: now[0])
    await adapter.start(RecordingApp())  # type: ignore[arg-type]
    try:
        to = ChatAddress("dingtalk", T001, False)
        await adapter.send(to, OutgoingMessage("一"))
        await adapter.send(to, OutgoingMessage("二"))
        assert fake.tokens_issued == 1
        now[0] += 7200 - 120  # inside the last five minutes of its 7200 s
        await adapter.send(to, OutgoingMessage("三"))
        assert fake.tokens_issued == 2
        # Renewed ahead of time: no call was refused.
        assert len(fake.calls("/v1.0/robot/oToMessages/batchSend")) == 3
    finally:
        await adapter.stop()


async def test_an_expired_token_on_the_file_upload_is_renewed_once(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, _ = connected
    await adapter.api.token()
    fake.expire_tokens()
    ledger = Attachment("台账.xlsx", b"PK\x03\x04")
    await adapter.send(ChatAddress("dingtalk", T001, False), OutgoingMessage("", attachment=ledger))
    [file] = fake.sent
    assert (file.file_name, file.file_content) == ("台账.xlsx", b"PK\x03\x04")
    assert fake.tokens_issued == 2


async def test_a_webhook_past_its_expiry_is_not_used(fake: FakeDingtalk) -> None:
    now = [wall_clock()]
    adapter = adapter_for(fake, clock=lambda: now[0])
    recorder = RecordingApp()
    await adapter.start(recorder)  # type: ignore[arg-type]
    try:
        await fake.wait_for(lambda: fake.open_sockets == 1)
        await fake.group_message(GROUP, STUDENTS["2020001"], "打卡 36.5")
        await recorder.next()
        now[0] += 90 * 60  # the webhook's lifetime is over
        reminder = OutgoingMessage(
            "⏰ 未打卡：", mentions=(Mention(STUDENTS["2020003"], "王雨桐"),)
        )
        await adapter.send(ChatAddress("dingtalk", GROUP, True), reminder)
        assert fake.calls("/robot/sendBySession") == []
        [sent] = fake.sent
        assert (sent.via, sent.text) == ("group", "⏰ 未打卡：\n@王雨桐")
    finally:
        await adapter.stop()


async def test_a_refused_webhook_falls_back_to_names_in_the_group(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, recorder = connected
    await fake.group_message(GROUP, STUDENTS["2020001"], "打卡 36.5")
    await recorder.next()
    fake.expire_webhooks()  # DingTalk ends it early
    reminder = OutgoingMessage("⏰ 未打卡：", mentions=(Mention(STUDENTS["2020003"], "王雨桐"),))
    await adapter.send(ChatAddress("dingtalk", GROUP, True), reminder)
    assert len(fake.calls("/robot/sendBySession")) == 1
    [sent] = fake.sent
    assert (sent.via, sent.at_user_ids, sent.text) == ("group", [], "⏰ 未打卡：\n@王雨桐")


async def test_a_long_reminder_mentions_everyone_within_the_size_limit(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, recorder = connected
    students = [f"dt-s{i:04d}" for i in range(600)]
    for i, staff in enumerate(students):
        fake.add_member(staff, f"学生{i}")
    fake.add_group(GROUP, "护理172班", [STUDENTS["2020001"], *students])
    await fake.group_message(GROUP, STUDENTS["2020001"], "打卡 36.5")
    await recorder.next()
    reminder = OutgoingMessage(
        "⏰ 还有 600 位同学未打卡：",
        mentions=tuple(Mention(s, f"学生{i}") for i, s in enumerate(students)),
    )

    await adapter.send(ChatAddress("dingtalk", GROUP, True), reminder)

    assert len(fake.sent) > 1
    assert [i for m in fake.sent for i in m.at_user_ids] == students
    assert all(m.via == "webhook" and len(m.text) <= MAX_TEXT for m in fake.sent)
    assert all(f"@{i}" in m.text for m in fake.sent for i in m.at_user_ids)


async def test_the_privacy_guard_sees_every_group_message(
    connected: tuple[DingtalkAdapter, RecordingApp], fake: FakeDingtalk
) -> None:
    adapter, recorder = connected
    seen: list[str] = []
    fake.group_guard = lambda message: seen.append(message.text)
    await fake.group_message(GROUP, STUDENTS["2020001"], "打卡 36.5")
    await recorder.next()
    group = ChatAddress("dingtalk", GROUP, True)
    await adapter.send(group, OutgoingMessage("✓ 已打卡 1/30"))
    await adapter.send(group, OutgoingMessage("⏰", mentions=(Mention(T001, "王芳"),)))
    await adapter.send(ChatAddress("dingtalk", T001, False), OutgoingMessage("私聊"))
    assert seen == ["✓ 已打卡 1/30", f"⏰\n@{T001}"]


def test_dingtalk_needs_its_client_id_and_secret() -> None:
    with pytest.raises(ConfigError, match=r"dingtalk\.client_id"):
        DingtalkAdapter.from_config(load_config(None).dingtalk)


def test_the_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSBOT_DINGTALK__CLIENT_SECRET", CLIENT_SECRET)
    config = load_config(None, dingtalk={"client_id": CLIENT_ID, "api_url": "http://127.0.0.1:1"})
    adapter = DingtalkAdapter.from_config(config.dingtalk)
    assert (adapter.client_id, adapter.robot_code, adapter.api.api_url) == (
        CLIENT_ID, CLIENT_ID, "http://127.0.0.1:1",
    )  # fmt: skip
    assert CLIENT_SECRET in config.secrets()
    assert CLIENT_SECRET not in repr(config.dingtalk)


# -- with the real app: router, handlers and database ------------------------------------------


class School:
    """The real app on the demo roster, in DingTalk through the fake."""

    def __init__(self, app: App, adapter: DingtalkAdapter, fake: FakeDingtalk) -> None:
        self.app = app
        self.adapter = adapter
        self.fake = fake
        self.handled: dict[str, int] = {}
        self._done = asyncio.Condition()
        handle = app.handle

        async def recording_handle(msg: IncomingMessage) -> list[OutgoingMessage]:
            result = await handle(msg)
            async with self._done:
                key = msg.message_id or ""
                self.handled[key] = self.handled.get(key, 0) + 1
                self._done.notify_all()
            return result

        app.handle = recording_handle  # type: ignore[method-assign]

    async def say(self, sender: str, text: str, *, group: bool = False) -> list[Sent]:
        """Send as `sender` (in the class group, or privately); return what the bot sent."""
        before = len(self.fake.sent)
        at = self.app.clock.now().timestamp()
        if group:
            msg_id = await self.fake.group_message(GROUP, sender, text, create_at=at)
        else:
            msg_id = await self.fake.private_message(sender, text, create_at=at)
        await self.handled_times(msg_id, 1)
        return self.fake.sent[before:]

    async def handled_times(self, msg_id: str, times: int) -> None:
        async with asyncio.timeout(10), self._done:
            await self._done.wait_for(lambda: self.handled.get(msg_id, 0) >= times)
        # What the bot says goes out through the outbox's sender, after the handling commits.
        await outbox_settled(self.app)

    def person_id(self, number: str) -> int:
        with self.app.uow(readonly=True) as s:
            return s.scalars(select(Person.id).where(Person.number == number)).one()


@pytest.fixture
async def school(config: Config, clock: ManualClock, fake: FakeDingtalk) -> AsyncIterator[School]:
    app = build_app(at_once(config), clock)
    with app.uow() as session:
        # The roster only: every account and the group are bound through DingTalk.
        demo.seed(session, clock.now(), platforms=(), consent_version=config.privacy.notice_version)
    fake.group_guard = privacy_guard(app.engine, static_texts(app))
    adapter = adapter_for(fake)
    app.add_adapter(adapter)
    await app.start()
    try:
        await asyncio.wait_for(adapter.wait_connected(), 10)
        await fake.wait_for(lambda: fake.open_sockets == 1)
        yield School(app, adapter, fake)
        # Every group message the fake received went through the privacy guard.
        assert fake.guard_failures == []
    finally:
        await app.stop()
        app.engine.dispose()


async def bind_class_group(school: School) -> None:
    """The counselor binds privately with a one-time code, then binds the group to 护理172."""
    with school.app.uow() as s:
        code = identity.issue_code(s, school.person_id("T001"), None, school.app.clock.now())
    [reply] = await school.say(T001, f"绑定 T001 王芳 {code}")
    assert (reply.via, reply.to) == ("private", T001)
    assert "绑定成功" in reply.text
    [reply] = await school.say(T001, "绑定班级 护理172", group=True)
    assert (reply.via, reply.to) == ("group", GROUP)
    assert "本群已绑定班级 护理172" in reply.text
    with school.app.uow(readonly=True) as s:
        group = s.scalars(select(GroupChat).where(GroupChat.platform == "dingtalk")).one()
        assert (group.chat_id, group.title) == (GROUP, "护理172班")


async def bind_in_group(school: School, *numbers: str) -> None:
    for number in numbers:
        [reply] = await school.say(STUDENTS[number], f"绑定 {number} {NAMES[number]}", group=True)
        assert "绑定成功" in reply.text, reply.text


async def test_a_student_binds_by_the_org_directory_without_a_code(school: School) -> None:
    await bind_class_group(school)

    [reply] = await school.say(STUDENTS["2020003"], "绑定 2020003 王雨桐")

    assert (reply.via, reply.to) == ("private", STUDENTS["2020003"])
    assert "绑定成功" in reply.text
    with school.app.uow(readonly=True) as s:
        account = s.scalars(
            select(ChatAccount).where(ChatAccount.platform_user_id == STUDENTS["2020003"])
        ).one()
        assert account.person_id == school.person_id("2020003")
        [audit] = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "bind", AuditEntry.target == "person:2020003"
            )
        ).all()
        assert (audit.detail or {}).get("via") == "directory"


async def test_the_directory_never_binds_someone_else(school: School) -> None:
    # 2020004's directory entry names 2020004: it cannot claim 2020003 without a code.
    [reply] = await school.say(STUDENTS["2020004"], "绑定 2020003 王雨桐")
    assert "绑定码" in reply.text
    with school.app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(ChatAccount)) == 0


async def test_without_the_directory_permission_binding_needs_a_code(school: School) -> None:
    school.fake.directory_permission = False
    [reply] = await school.say(STUDENTS["2020003"], "绑定 2020003 王雨桐")
    assert "绑定码" in reply.text
    with school.app.uow() as s:
        code = identity.issue_code(s, school.person_id("2020003"), None, school.app.clock.now())
    [reply] = await school.say(STUDENTS["2020003"], f"绑定 2020003 王雨桐 {code}")
    assert "绑定成功" in reply.text


async def test_check_in_in_the_group_gets_a_count_only_acknowledgement(school: School) -> None:
    await bind_class_group(school)
    await bind_in_group(school, "2020001")

    [reply] = await school.say(STUDENTS["2020001"], "打卡 36.5", group=True)

    assert (reply.via, reply.to) == ("group", GROUP)
    assert "已打卡 1/30" in reply.text
    assert "36.5" not in reply.text
    with school.app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CheckInRevision)) == 1


async def test_a_throttled_acknowledgement_is_sent_again_by_the_outbox_once_the_wait_is_over(
    school: School, clock: ManualClock
) -> None:
    await bind_class_group(school)
    await bind_in_group(school, "2020001")
    before = len(school.fake.sent_to(GROUP))
    school.fake.throttle()  # DingTalk's flow control refuses the next robot message

    assert await school.say(STUDENTS["2020001"], "打卡 36.5", group=True) == []
    with school.app.uow(readonly=True) as s:
        [(status, attempts, reason)] = s.execute(
            select(OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.reason).where(
                OutboxMessage.chat_id == GROUP, OutboxMessage.kind == "ack"
            )
        ).all()
    assert (status, attempts) == ("queued", 1) and reason

    await asyncio.sleep(1.1)  # DingTalk's wait, on the platform's own clock
    clock.advance(timedelta(seconds=2))
    await school.fake.wait_for(lambda: len(school.fake.sent_to(GROUP)) > before)
    await outbox_settled(school.app)
    [ack] = [m for m in school.fake.sent_to(GROUP)[before:] if "已打卡" in m.text]
    assert "已打卡 1/30" in ack.text
    with school.app.uow(readonly=True) as s:
        assert s.scalars(
            select(OutboxMessage.status).where(
                OutboxMessage.chat_id == GROUP, OutboxMessage.kind == "ack"
            )
        ).all() == ["sent"]


async def test_mine_in_private_chat(school: School) -> None:
    await bind_class_group(school)
    await bind_in_group(school, "2020001")
    await school.say(STUDENTS["2020001"], "打卡 36.6", group=True)

    replies = await school.say(STUDENTS["2020001"], "我的")

    assert replies and all(r.via == "private" for r in replies)
    assert all(r.to == STUDENTS["2020001"] for r in replies)
    assert "36.6" in "\n".join(r.text for r in replies)


async def run_jobs_at(school: School, clock: ManualClock, hour: int) -> list[Sent]:
    before = len(school.fake.sent)
    clock.set(datetime.combine(clock.now().date(), time(hour), tzinfo=clock.now().tzinfo))
    assert school.app.scheduler is not None
    await school.app.scheduler.run_due()
    await outbox_settled(school.app)
    return school.fake.sent[before:]


async def test_1100_reminder_mentions_for_real_through_the_session_webhook(
    school: School, clock: ManualClock
) -> None:
    await bind_class_group(school)
    await bind_in_group(school, "2020001", "2020003", "2020004")
    await school.say(STUDENTS["2020001"], "打卡 36.5", group=True)

    sent = await run_jobs_at(school, clock, 11)

    [reminder] = [m for m in sent if m.to == GROUP]
    assert reminder.via == "webhook"
    assert reminder.at_user_ids == [STUDENTS["2020003"], STUDENTS["2020004"]]
    [request] = [r for r in school.fake.calls("/robot/sendBySession") if r.body.get("at")][-1:]
    assert request.body["at"]["atUserIds"] == reminder.at_user_ids
    assert f"@{STUDENTS['2020003']}" in reminder.text  # shown by DingTalk as the name
    assert "还有 29 位同学未打卡" in reminder.text
    assert "李思远" in reminder.text  # 2020002, not on DingTalk: named, not mentioned
    overdue = [m for m in sent if m.to == T001 and "考勤周报" not in m.text]
    assert any("王雨桐" in m.text for m in overdue)


async def test_1200_ledger_reaches_the_counselor_as_a_file(
    school: School, clock: ManualClock
) -> None:
    await bind_class_group(school)
    await bind_in_group(school, "2020001")
    await school.say(STUDENTS["2020001"], "打卡 36.5", group=True)

    sent = await run_jobs_at(school, clock, 12)

    files = [m for m in sent if m.to == T001 and m.is_file]
    assert [f.file_name.endswith(".xlsx") for f in files] == [True]
    ledger = openpyxl.load_workbook(io.BytesIO(files[0].file_content))
    assert "打卡" in ledger.sheetnames
    assert school.fake.calls("/media/upload")
    kinds = [m.is_file for m in school.fake.sent_to(T001)]
    assert kinds[-2:] == [False, True]  # the summary text, then its file


async def test_a_leave_is_approved_by_the_command_the_notice_names(school: School) -> None:
    await bind_class_group(school)
    await bind_in_group(school, "2020001")

    sent = await school.say(STUDENTS["2020001"], "请假 明天 病假 发烧")

    [notice] = [m for m in sent if m.to == T001]
    # The robot's cards only open links: the buttons are the commands to send.
    assert "▸ 批准" in notice.text and "L1" in notice.text
    before = len(school.fake.sent_to(STUDENTS["2020001"]))
    replies = await school.say(T001, "批准 L1")
    assert any("L1" in r.text for r in replies if r.to == T001)
    told = school.fake.sent_to(STUDENTS["2020001"])[before:]
    assert len(told) == 1 and "批准" in told[0].text


async def test_an_expired_token_is_refreshed_and_the_message_still_arrives(school: School) -> None:
    await bind_class_group(school)
    assert school.fake.tokens_issued == 1
    school.fake.expire_tokens()

    [reply] = await school.say(T001, "帮助")

    assert reply.to == T001
    assert school.fake.tokens_issued == 2
    # The refused call and the one made again with the fresh token.
    assert len(school.fake.calls("/v1.0/robot/oToMessages/batchSend")) == 3


async def test_a_dropped_connection_redelivers_and_nothing_is_handled_twice(
    school: School,
) -> None:
    await bind_class_group(school)
    await bind_in_group(school, "2020001")
    school.fake.lose_acks = True  # the acknowledgement never reaches DingTalk
    before = len(school.fake.sent)
    msg_id = await school.fake.group_message(GROUP, STUDENTS["2020001"], "打卡 36.5")
    await school.handled_times(msg_id, 1)
    [reply] = school.fake.sent[before:]
    assert "已打卡 1/30" in reply.text
    school.fake.lose_acks = False
    before = len(school.fake.sent)

    await school.fake.drop_connections()
    await school.fake.wait_for(lambda: school.fake.connections_opened == 2)

    # DingTalk delivers the unacknowledged messages again; the router knows their msgIds.
    await school.handled_times(msg_id, 2)
    assert school.fake.sent[before:] == []
    with school.app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CheckInRevision)) == 1
    # And the bot works on the new connection.
    [reply] = await school.say(STUDENTS["2020001"], "打卡 36.6", group=True)
    assert "已打卡" in reply.text


async def test_no_secret_token_or_webhook_reaches_the_logs(
    school: School, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await bind_class_group(school)
    await school.say(STUDENTS["2020001"], "绑定 2020001 张晓明")  # a directory lookup (oapi)
    await school.fake.drop_connections()
    await school.fake.wait_for(lambda: school.fake.connections_opened == 2)
    assert caplog.records
    assert CLIENT_SECRET not in caplog.text
    assert school.fake.tokens_handed_out
    assert not any(token in caplog.text for token in school.fake.tokens_handed_out)
    assert "session=" not in caplog.text  # a sessionWebhook URL is a credential too


# -- the command line --------------------------------------------------------------------------


async def test_run_dingtalk_connects_and_stops_on_ctrl_c(
    fake: FakeDingtalk, database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CLASSBOT_DATABASE__URL": database_url,
        "CLASSBOT_DINGTALK__CLIENT_ID": CLIENT_ID,
        "CLASSBOT_DINGTALK__CLIENT_SECRET": CLIENT_SECRET,
        "CLASSBOT_DINGTALK__GATEWAY_URL": fake.gateway_url,
        "CLASSBOT_DINGTALK__API_URL": fake.base_url,
        "CLASSBOT_DINGTALK__OAPI_URL": fake.base_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--platform", "dingtalk",
        cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await fake.wait_for(lambda: fake.open_sockets == 1, seconds=30)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert CLIENT_SECRET.encode() not in err
    await fake.wait_for(lambda: fake.open_sockets == 0)


async def test_run_dingtalk_without_a_secret_says_which_key(
    database_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "CLASSBOT_DATABASE__URL": database_url}
    env.pop("CLASSBOT_DINGTALK__CLIENT_SECRET", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--platform", "dingtalk",
        cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "CLASSBOT_DINGTALK__CLIENT_SECRET" in err.decode()
