"""The WeCom adapter over a real WebSocket, against a long-connection server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime, time
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from bot.adapters.base import Transient, Unreachable
from bot.adapters.wecom import MAX_TEXT, NotConnected, WecomAdapter, strip_bot_mention
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.config import Config, ConfigError, load_config
from bot.messages import (
    Attachment,
    Button,
    ChatAddress,
    Envelope,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    PersonAddress,
)
from storage import conversations, demo, identity
from storage.models import ChatAccount, CheckIn, CheckInRevision, GroupChat, Person
from tests.conftest import at_once, outbox_settled, privacy_guard, static_texts
from tests.fakes.wecom_api import CHUNK_SIZE, FakeWecomServer, SentMessage
from tests.handlers.people import leave_rows

BOT_ID = "aib_classbot"
SECRET = "insecure_test_wecom_secret"
GROUP = "wrkSFfCgAAnursing172"
T001 = "wangfang"  # 王芳, counselor of 护理172 and 检验172
STUDENTS = {"2020001": "zhangxm", "2020003": "wangyt", "2020004": "liuzh"}
NAMES = {"2020001": "张晓明", "2020003": "王雨桐", "2020004": "刘子涵"}


class School:
    """The real app on a seeded roster, in WeCom through the fake long-connection server."""

    def __init__(self, app: App, adapter: WecomAdapter, server: FakeWecomServer) -> None:
        self.app = app
        self.adapter = adapter
        self.server = server
        self.handled: list[IncomingMessage] = []
        self._done = asyncio.Condition()
        handle = app.handle

        async def recording_handle(msg: IncomingMessage) -> list[OutgoingMessage]:
            try:
                return await handle(msg)
            finally:
                async with self._done:
                    self.handled.append(msg)
                    self._done.notify_all()

        app.handle = recording_handle  # type: ignore[method-assign]

    async def say(
        self, sender: str, text: str, *, group: str | None = None, msgid: str | None = None
    ) -> list[SentMessage]:
        """Send as `sender` (@-ing the bot in `group`, or privately); return what came back."""
        before = len(self.server.sent)
        handled = len(self.handled)
        at = self.app.clock.now().timestamp()
        if group is None:
            await self.server.private_message(sender, text, msgid=msgid, at=at)
        else:
            await self.server.group_message(group, sender, text, msgid=msgid, at=at)
        await self.handled_count(handled + 1)
        return self.server.sent[before:]

    async def handled_count(self, n: int) -> None:
        async with asyncio.timeout(10), self._done:
            await self._done.wait_for(lambda: len(self.handled) >= n)
        # What the bot says goes out through the outbox's sender, after the handling commits.
        await outbox_settled(self.app)

    def person_id(self, number: str) -> int:
        with self.app.uow(readonly=True) as s:
            return s.scalars(select(Person.id).where(Person.number == number)).one()


def make_adapter(server: FakeWecomServer, **options: float) -> WecomAdapter:
    settings: dict[str, float] = {"reconnect_delay": 0.05, "ack_timeout": 2.0}
    settings.update(options)
    return WecomAdapter(bot_id=BOT_ID, secret=SECRET, url=server.url, name="班级助手", **settings)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[FakeWecomServer]:
    server = FakeWecomServer(bot_id=BOT_ID, secret=SECRET)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def school(
    config: Config, clock: ManualClock, server: FakeWecomServer
) -> AsyncIterator[School]:
    app = build_app(at_once(config), clock)
    with app.uow() as session:
        demo.seed(session, clock.now(), platforms=(), consent_version=config.privacy.notice_version)
    adapter = make_adapter(server)
    app.add_adapter(adapter)
    await app.start()
    try:
        await asyncio.wait_for(adapter.wait_ready(), 10)
        yield School(app, adapter, server)
        # The privacy invariant holds for every message the platform got in a group.
        guard = privacy_guard(app.engine, static_texts(app))
        for message in server.sent:
            if message.is_group:
                guard(OutgoingMessage(message.text))
    finally:
        await app.stop()
        app.engine.dispose()


async def bind_class_group(school: School) -> None:
    """The counselor says hello privately, binds with a code, then binds the group after an @."""
    with school.app.uow() as s:
        code = identity.issue_code(s, school.person_id("T001"), None, school.app.clock.now())
    [reply] = await school.say(T001, f"绑定 T001 王芳 {code}")
    assert "绑定成功" in reply.text
    [reply] = await school.say(T001, "绑定班级 护理172", group=GROUP)
    assert (reply.chat_id, reply.is_group, reply.via) == (GROUP, True, "reply")
    with school.app.uow(readonly=True) as s:
        group = s.scalars(select(GroupChat).where(GroupChat.platform == "wecom")).one()
        assert group.chat_id == GROUP


async def bind_students(school: School, *numbers: str) -> None:
    for number in numbers:
        [reply] = await school.say(STUDENTS[number], f"绑定 {number} {NAMES[number]}", group=GROUP)
        assert "绑定成功" in reply.text, reply.text


async def run_jobs_at(school: School, clock: ManualClock, hour: int) -> list[SentMessage]:
    """Move the clock to `hour`:00 today, run the scheduled jobs, return what went out."""
    before = len(school.server.sent)
    clock.set(datetime.combine(clock.now().date(), time(hour), tzinfo=clock.now().tzinfo))
    assert school.app.scheduler is not None
    await school.app.scheduler.run_due()
    await outbox_settled(school.app)
    return school.server.sent[before:]


async def eventually(predicate: Callable[[], bool]) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 10 s")


# -- the scenario -------------------------------------------------------------------------------


async def test_group_is_bound_after_the_counselor_ats_the_bot(school: School) -> None:
    await bind_class_group(school)
    with school.app.uow(readonly=True) as s:
        assert conversations.is_open(s, "wecom", GROUP, True)
        assert conversations.is_open(s, "wecom", T001, False)
    # The subscribe frame carried the robot's id and secret.
    assert school.server.subscriptions == 1


async def test_check_in_in_the_group_is_acknowledged_with_the_count_only(school: School) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")

    [reply] = await school.say(STUDENTS["2020001"], "打卡 36.5", group=GROUP)

    assert (reply.chat_id, reply.via) == (GROUP, "reply")
    assert "已打卡 1/30" in reply.text
    assert "36.5" not in reply.text
    with school.app.uow(readonly=True) as s:
        [checkin] = s.scalars(select(CheckIn)).all()
        assert (checkin.student_id, checkin.platform) == (school.person_id("2020001"), "wecom")
        account = s.scalars(
            select(ChatAccount).where(ChatAccount.platform_user_id == STUDENTS["2020001"])
        ).one()
        assert account.person_id == checkin.student_id


async def test_private_mine_answers_in_the_single_chat(school: School) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020003")
    await school.say(STUDENTS["2020003"], "打卡 36.6", group=GROUP)

    [reply] = await school.say(STUDENTS["2020003"], "我的")

    assert (reply.chat_id, reply.is_group, reply.via) == (STUDENTS["2020003"], False, "reply")
    assert "36.6" in reply.text


async def test_1100_reminder_mentions_the_missing_students_for_real(
    school: School, clock: ManualClock
) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001", "2020003", "2020004")
    await school.say(STUDENTS["2020001"], "打卡 36.5", group=GROUP)

    sent = await run_jobs_at(school, clock, 11)

    [reminder] = [m for m in sent if m.chat_id == GROUP]
    # A proactive markdown message: a reply could not carry real @-mentions.
    assert (reminder.via, reminder.msgtype) == ("push", "markdown")
    assert reminder.mention_ids == [STUDENTS["2020003"], STUDENTS["2020004"]]
    assert "还有 29 位同学未打卡" in reminder.text
    assert "李思远" in reminder.text  # 2020002 is not on WeCom: named, not mentioned
    overdue = [m for m in sent if m.chat_id == T001 and "考勤周报" not in m.text]
    assert any("王雨桐" in m.text for m in overdue)


async def test_1200_ledger_reaches_the_counselor_as_an_uploaded_file(
    school: School, clock: ManualClock
) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")
    await school.say(STUDENTS["2020001"], "打卡 36.5", group=GROUP)

    sent = await run_jobs_at(school, clock, 12)

    [ledger] = [m for m in sent if m.chat_id == T001 and m.is_file]
    assert ledger.file_name.endswith(".xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(ledger.file_content))
    assert "打卡" in workbook.sheetnames
    assert any("护理172" in m.text for m in sent if m.chat_id == T001 and not m.is_file)
    # The file follows its summary text in the counselor's chat.
    kinds = [m.is_file for m in school.server.sent_to(T001)]
    assert kinds[-2:] == [False, True]


async def test_leave_is_approved_with_the_card_button(school: School) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")
    await school.say(STUDENTS["2020001"], "你好")  # the student opens the single chat

    await school.say(STUDENTS["2020001"], "请假 明天 事假 回家办理身份证")

    [card] = [m for m in school.server.sent_to(T001) if m.msgtype == "template_card"]
    buttons = card.card["button_list"]
    assert [b["text"] for b in buttons] == ["批准", "驳回"]
    assert buttons[0]["key"].startswith("/approve L")
    handled = len(school.handled)
    before = len(school.server.sent_to(STUDENTS["2020001"]))
    await school.server.button_press(T001, buttons[0]["key"], card.card["task_id"])
    await school.handled_count(handled + 1)
    await school.server.wait_for(lambda: len(school.server.sent_to(STUDENTS["2020001"])) > before)

    [leave] = leave_rows(school.app)
    assert leave.status == "approved"
    told = school.server.sent_to(STUDENTS["2020001"])[before:]
    assert any("批准" in m.text for m in told)
    assert school.handled[-1].callback_id is not None


async def test_a_reply_after_the_window_is_pushed_instead(school: School) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")
    school.adapter._reply_window = 0.0  # the message's req_id is no longer valid

    [reply] = await school.say(STUDENTS["2020001"], "打卡 36.5", group=GROUP)

    assert (reply.via, reply.msgtype) == ("push", "markdown")
    assert "已打卡 1/30" in reply.text


async def test_open_conversations_survive_a_restart(school: School) -> None:
    await bind_class_group(school)
    # A fresh adapter (a restarted bot) knows the group is open from the database.
    fresh = make_adapter(school.server)
    fresh._app = school.app
    assert fresh._is_open(ChatAddress("wecom", GROUP, True))
    assert not fresh._is_open(ChatAddress("wecom", STUDENTS["2020001"], False))


async def test_a_throttle_answer_raises_transient_with_the_wait(school: School) -> None:
    await bind_class_group(school)
    school.server.throttle_sends = 1

    with pytest.raises(Transient) as raised:
        await school.adapter.send(ChatAddress("wecom", GROUP, True), OutgoingMessage("早上好"))

    assert raised.value.retry_after is not None and raised.value.retry_after > 0
    assert not raised.value.maybe_sent
    assert "45009" in raised.value.reason
    # The next attempt, as the outbox would make it, lands.
    await school.adapter.send(ChatAddress("wecom", GROUP, True), OutgoingMessage("早上好"))
    assert school.server.sent[-1].text == "早上好"


async def test_an_unanswered_send_may_have_been_sent(school: School) -> None:
    await bind_class_group(school)
    school.adapter._ack_timeout = 0.2
    school.server.silent_sends = 1

    with pytest.raises(Transient) as raised:
        await school.adapter.send(ChatAddress("wecom", GROUP, True), OutgoingMessage("hi"))

    assert raised.value.maybe_sent


async def test_a_group_nobody_has_ated_is_unreachable_with_the_reason(school: School) -> None:
    await bind_class_group(school)
    before = len(school.server.sent)

    with pytest.raises(Unreachable) as raised:
        await school.adapter.send(
            ChatAddress("wecom", "wrkOtherGroup", True), OutgoingMessage("早上好")
        )

    assert "@-ed" in raised.value.reason
    assert school.server.sent[before:] == []


async def test_a_person_who_never_wrote_is_recorded_unreachable_with_the_reason(
    school: School,
) -> None:
    await bind_class_group(school)
    # 2020004 binds in the group (an @ there), but never opens the single chat with the bot.
    await bind_students(school, "2020004")

    report = await school.app.deliver(
        [Envelope(PersonAddress(school.person_id("2020004")), OutgoingMessage("请打卡"))]
    )

    assert [env.message.text for env, _ in report.unreachable] == ["请打卡"]
    assert school.server.sent_to(STUDENTS["2020004"]) == []
    with school.app.uow(readonly=True) as s:
        account = s.scalars(
            select(ChatAccount).where(ChatAccount.platform_user_id == STUDENTS["2020004"])
        ).one()
        assert account.unreachable_at is not None
        assert "not messaged the bot" in (account.unreachable_reason or "")


async def test_after_a_dropped_connection_it_reconnects_and_handles_nothing_twice(
    school: School,
) -> None:
    await bind_class_group(school)
    await bind_students(school, "2020001")
    [reply] = await school.say(STUDENTS["2020001"], "打卡 36.5", group=GROUP)
    msgid = school.server.frames[-1]["body"]["msgid"]
    assert "已打卡 1/30" in reply.text

    await school.server.drop()
    await eventually(lambda: not school.adapter.ready)
    with pytest.raises(NotConnected):
        await school.adapter.send(ChatAddress("wecom", GROUP, True), OutgoingMessage("hi"))
    await school.server.wait_for(lambda: school.server.subscriptions == 2)
    await asyncio.wait_for(school.adapter.wait_ready(), 10)

    # The platform pushes the same message again on the new connection.
    before = len(school.server.sent)
    handled = len(school.handled)
    await school.server.redeliver(msgid)
    await school.handled_count(handled + 1)
    assert school.server.sent[before:] == []
    with school.app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CheckInRevision)) == 1
    # And the connection works.
    await bind_students(school, "2020003")


async def test_missed_heartbeats_end_the_connection_and_it_reconnects(
    config: Config, clock: ManualClock, server: FakeWecomServer
) -> None:
    adapter = make_adapter(server, heartbeat_interval=0.05, missed_heartbeats=2)
    app = build_app(at_once(config), clock, scheduler=False)
    app.add_adapter(adapter)
    await app.start()
    try:
        await asyncio.wait_for(adapter.wait_ready(), 10)
        await server.wait_for(lambda: server.pings >= 2)
        server.ignore_pings = True  # the platform stops answering; the socket stays open
        await server.wait_for(lambda: server.connections_opened >= 2)
        server.ignore_pings = False
        await server.wait_for(lambda: server.subscriptions >= 2)
        await asyncio.wait_for(adapter.wait_ready(), 10)
        assert adapter.connections >= 2
    finally:
        await app.stop()
        app.engine.dispose()


async def test_replaced_by_a_new_connection_it_waits_before_taking_it_back(
    config: Config, clock: ManualClock, server: FakeWecomServer
) -> None:
    adapter = make_adapter(server, replaced_pause=1.0)
    app = build_app(at_once(config), clock, scheduler=False)
    app.add_adapter(adapter)
    await app.start()
    try:
        await asyncio.wait_for(adapter.wait_ready(), 10)
        await server.replace()
        await asyncio.sleep(0.3)  # well past the reconnect delay of 0.05 s
        assert server.connections_opened == 1
        with pytest.raises(NotConnected) as raised:
            await adapter.send(ChatAddress("wecom", GROUP, True), OutgoingMessage("hi"))
        assert "replaced" in raised.value.reason
        await server.wait_for(lambda: server.subscriptions == 2)
        await asyncio.wait_for(adapter.wait_ready(), 10)
    finally:
        await app.stop()
        app.engine.dispose()


async def test_a_wrong_secret_is_not_ready_and_says_why(
    config: Config, clock: ManualClock, server: FakeWecomServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    refused = asyncio.Event()

    class Refusal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "subscribe refused" in record.getMessage():
                refused.set()

    logging.getLogger("bot.adapters.wecom").addHandler(handler := Refusal())
    wrong = "insecure_not_the_robots_secret"
    adapter = WecomAdapter(bot_id=BOT_ID, secret=wrong, url=server.url, reconnect_delay=0.05)
    app = build_app(at_once(config), clock, scheduler=False)
    app.add_adapter(adapter)
    await app.start()
    try:
        await server.wait_for(lambda: server.connections_opened >= 1)
        # The refusal is logged once the adapter has read the answer and closed; on a busy
        # machine that can take longer than any fixed pause.
        await asyncio.wait_for(refused.wait(), 10)
        assert not adapter.ready
        assert wrong not in caplog.text
        assert server.subscriptions == 0
    finally:
        logging.getLogger("bot.adapters.wecom").removeHandler(handler)
        await app.stop()
        app.engine.dispose()


# -- sending details ------------------------------------------------------------------------------


async def test_a_long_reminder_is_split_within_the_markdown_limit(school: School) -> None:
    await bind_class_group(school)
    ids = [f"student{i:03d}" for i in range(400)]
    reminder = OutgoingMessage(
        "⏰ 11:00 还有 400 位同学未打卡：" + "同学" * 600,
        mentions=tuple(Mention(i, i) for i in ids),
    )
    before = len(school.server.sent)

    await school.adapter.send(ChatAddress("wecom", GROUP, True), reminder)

    sent = school.server.sent[before:]
    assert len(sent) > 1
    assert [i for m in sent for i in m.mention_ids] == ids
    assert all(len(m.text) <= MAX_TEXT and len(m.text.encode()) <= 4096 for m in sent)


async def test_a_large_file_goes_up_in_chunks(school: School) -> None:
    await bind_class_group(school)
    content = bytes(range(256)) * (CHUNK_SIZE * 2 // 256 + 10)

    await school.adapter.send(
        ChatAddress("wecom", T001, False),
        OutgoingMessage("", attachment=Attachment("台账.xlsx", content)),
    )

    chunks = [f for f in school.server.frames_from_bot if f["cmd"] == "aibot_upload_media_chunk"]
    assert [c["body"]["chunk_index"] for c in chunks] == [0, 1, 2]
    [file] = [m for m in school.server.sent_to(T001) if m.is_file]
    assert (file.file_name, file.file_content) == ("台账.xlsx", content)


async def test_a_file_over_the_platform_limit_is_not_attempted_and_the_way_out_is_said(
    school: School,
) -> None:
    await bind_class_group(school)
    big = Attachment("台账-医学院.xlsx", b"x" * (20 * 1024 * 1024 + 1))

    await school.adapter.send(
        ChatAddress("wecom", T001, False), OutgoingMessage("汇总", attachment=big)
    )

    uploads = [f for f in school.server.frames_from_bot if f["cmd"].startswith("aibot_upload")]
    assert uploads == []
    *_, summary, notice = school.server.sent_to(T001)
    assert summary.text == "汇总"
    assert "台账-医学院.xlsx" in notice.text and "classbot export" in notice.text


async def test_buttons_in_a_group_become_commands_in_the_text(school: School) -> None:
    await bind_class_group(school)
    await school.adapter.send(
        ChatAddress("wecom", GROUP, True),
        OutgoingMessage("请确认", buttons=(Button("收到", "收到 N1"),)),
    )
    last = school.server.sent[-1]
    assert last.msgtype == "markdown"
    assert "▸ 收到: 收到 N1" in last.text


def test_the_bots_own_mention_comes_off_the_front() -> None:
    assert strip_bot_mention("@班级助手 打卡 36.5", ["班级助手"]) == "打卡 36.5"
    assert strip_bot_mention("@小助手 帮助", [""]) == "帮助"
    assert strip_bot_mention("打卡", ["班级助手"]) == "打卡"


def test_config_needs_the_bot_id_and_secret_and_takes_the_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError):
        WecomAdapter.from_config(load_config(None).wecom)
    monkeypatch.setenv("CLASSBOT_WECOM__SECRET", "from-the-environment")
    cfg = load_config(None, wecom={"bot_id": "aib1"})
    adapter = WecomAdapter.from_config(cfg.wecom)
    assert adapter.bot_id == "aib1"
    assert "from-the-environment" in cfg.secrets()


async def test_run_wecom_connects_and_stops_cleanly_on_ctrl_c(
    server: FakeWecomServer, database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CLASSBOT_DATABASE__URL": database_url,
        "CLASSBOT_WECOM__BOT_ID": BOT_ID,
        "CLASSBOT_WECOM__URL": server.url,
        "CLASSBOT_WECOM__SECRET": SECRET,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--platform", "wecom",
        cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        await server.wait_for(lambda: server.subscriptions == 1, 30)
        async with asyncio.timeout(10):
            while b"connected and subscribed" not in (line := await process.stderr.readline()):
                assert line, "the bot exited"
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            _, rest = await process.communicate()
    assert process.returncode == 0, rest.decode()
    assert SECRET.encode() not in rest
    await server.wait_for(lambda: not server.connected)


def test_run_wecom_without_its_secret_says_which_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBOT_WECOM")}
    env["CLASSBOT_DATABASE__URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path, env=env, check=True,
        capture_output=True, timeout=60,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--platform", "wecom"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "CLASSBOT_WECOM__SECRET" in done.stderr
