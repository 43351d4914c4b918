"""The real python-telegram-bot, pointed at a fake Bot API server on 127.0.0.1, runs the bot."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from bot.adapters.telegram import TelegramAdapter
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.config import Config
from bot.messages import (
    Attachment,
    Button,
    ChatAddress,
    Envelope,
    Mention,
    OutgoingMessage,
    PersonAddress,
)
from storage import demo
from storage.models import ChatAccount, GroupChat, InboundMessage, Person, SchoolClass
from tests.conftest import make_config, outbox_settled
from tests.fakes.telegram_api import BOT_USERNAME, TOKEN, FakeBotApi

# Group acknowledgements go out at once: these tests move the clock by hand.
AT_ONCE = {"ack_wait": 0, "ack_interval": 0}
NURSING = -1001  # the 护理172 group
LAB = -1002  # the 检验172 group


def tg_id(number: str) -> int:
    """The Telegram user id the tests give a roster person."""
    return 9000 + int(number[1:]) if number.startswith("T") else int(number)


class Harness:
    """One bot on Telegram: the app, its adapter, the fake server, and helpers to talk to it."""

    def __init__(self, api: FakeBotApi, config: Config, clock: ManualClock) -> None:
        self.api = api
        self.config = config
        self.clock = clock
        self.app: App | None = None
        self.adapter: TelegramAdapter | None = None
        self.names: dict[str, str] = {}

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "token": TOKEN,
            "base_url": self.api.base_url,
            "base_file_url": self.api.base_file_url,
            **overrides,
        }

    async def start(self, **telegram: Any) -> TelegramAdapter:
        if self.app is None:
            url = self.config.database.url
            self.app = build_app(
                make_config(url, telegram=self.settings(**telegram), outbox=AT_ONCE), self.clock
            )
        adapter = TelegramAdapter(poll_timeout=1, request_timeout=3, retry_delays=(0.05, 0.1, 0.2))
        self.app.adapters.clear()
        self.app.add_adapter(adapter)
        await self.app.start()
        self.adapter = adapter
        return adapter

    async def stop(self) -> None:
        if self.app is not None and self.adapter is not None:
            await self.app.stop()
            self.adapter = None

    def seed(self, *, accounts: bool = True, groups: bool = True) -> None:
        """The demo roster; each person's Telegram account and each class's group, if asked."""
        assert self.app is not None
        with self.app.uow() as session:
            now = self.clock.now()
            demo.seed(
                session, now, platforms=(), consent_version=self.config.privacy.notice_version
            )
            for person in session.scalars(select(Person)):
                self.names[person.number] = person.name
                if accounts:
                    session.add(
                        ChatAccount(
                            platform="telegram",
                            platform_user_id=str(tg_id(person.number)),
                            person_id=person.id,
                            display_name=person.name,
                            bound_at=now,
                        )
                    )
            if groups:
                for cls in session.scalars(select(SchoolClass)):
                    chat_id = NURSING if cls.code == "护理172" else LAB
                    session.add(
                        GroupChat(
                            platform="telegram",
                            chat_id=str(chat_id),
                            class_id=cls.id,
                            title=cls.code,
                            bound_at=now,
                        )
                    )

    def user(self, number: str, username: str | None = None) -> dict[str, Any]:
        return self.api.user(tg_id(number), self.names.get(number, number), username)

    def group(self, chat_id: int = NURSING) -> dict[str, Any]:
        return self.api.group(chat_id, "护理172" if chat_id == NURSING else "检验172")

    def say(
        self,
        number: str,
        text: str,
        chat: dict[str, Any] | None = None,
        at: datetime | None = None,
        **extra: Any,
    ) -> int:
        """`number` writes `text` in `chat` (their private chat by default), sent now."""
        sender = self.user(number)
        return self.api.send_text(
            chat or self.api.private(sender), sender, text, date=at or self.clock.now(), **extra
        )

    async def settle(self, within: float = 10.0) -> None:
        """Wait until every update pushed so far is confirmed, stored and processed, and what
        the bot says about them is sent."""
        assert self.app is not None
        last = max((u["update_id"] for u in self.api.updates), default=0)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.api.confirmed_offset > last or (
                self.adapter and self.config_mode() == "webhook"
            ):
                with self.app.uow(readonly=True) as session:
                    waiting = session.scalar(
                        select(InboundMessage.id).where(
                            InboundMessage.platform == "telegram",
                            InboundMessage.processed_at.is_(None),
                        )
                    )
                if waiting is None:
                    await outbox_settled(self.app, within)
                    return
            await asyncio.sleep(0.02)
        raise AssertionError("the bot did not process its updates in time")

    def config_mode(self) -> str:
        assert self.app is not None
        return self.app.config.telegram.mode

    def texts(self, chat_id: int) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.api.sent_to(chat_id)]

    def account(self, number: str) -> ChatAccount:
        assert self.app is not None
        with self.app.uow(readonly=True) as session:
            found = session.scalar(
                select(ChatAccount).where(
                    ChatAccount.platform == "telegram",
                    ChatAccount.platform_user_id == str(tg_id(number)),
                )
            )
            assert found is not None
            return found

    def person_id(self, number: str) -> int:
        assert self.app is not None
        with self.app.uow(readonly=True) as session:
            found = session.scalar(select(Person.id).where(Person.number == number))
            assert found is not None
            return found


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def tg(api: FakeBotApi, config: Config, clock: ManualClock) -> AsyncIterator[Harness]:
    harness = Harness(api, config, clock)
    yield harness
    await harness.stop()
    if harness.app is not None:
        harness.app.engine.dispose()


async def started(tg: Harness, *, accounts: bool = True, groups: bool = True) -> TelegramAdapter:
    url = tg.config.database.url
    tg.app = build_app(make_config(url, telegram=tg.settings(), outbox=AT_ONCE), tg.clock)
    tg.seed(accounts=accounts, groups=groups)
    return await tg.start()


# -- start ------------------------------------------------------------------------------------


async def test_start_publishes_command_menus_per_scope_and_language(tg: Harness) -> None:
    await started(tg)
    commands = tg.api.commands
    assert set(commands) == {
        ("all_private_chats", "zh"),
        ("all_private_chats", ""),
        ("all_group_chats", "zh"),
        ("all_group_chats", ""),
    }
    private_zh = {c["command"]: c["description"] for c in commands[("all_private_chats", "zh")]}
    group_en = {c["command"]: c["description"] for c in commands[("all_group_chats", "")]}
    assert private_zh["checkin"].startswith("打卡")
    assert group_en["checkin"] == "today's health check-in"
    assert "bindgroup" in group_en
    assert "bindgroup" not in private_zh
    assert "invite" in private_zh
    assert "invite" not in group_en
    assert tg.api.calls("deleteWebhook")


async def test_token_never_reaches_the_log(tg: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await started(tg)
    tg.say("2020001", "/checkin 36.5", tg.group())
    await tg.settle()
    assert tg.api.calls("sendMessage")
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


# -- incoming ---------------------------------------------------------------------------------


async def test_bind_and_checkin_in_a_group(tg: Harness) -> None:
    tg.app = build_app(
        make_config(tg.config.database.url, telegram=tg.settings(), outbox=AT_ONCE), tg.clock
    )
    tg.seed(accounts=False, groups=False)
    # The counselor's account is bound beforehand (with a code, in private chat).
    with tg.app.uow() as session:
        counselor = session.scalar(select(Person).where(Person.number == "T001"))
        assert counselor is not None
        session.add(
            ChatAccount(
                platform="telegram",
                platform_user_id=str(tg_id("T001")),
                person_id=counselor.id,
                bound_at=tg.clock.now(),
            )
        )
    await tg.start()
    group = tg.api.group(-777, "护理172 班级群", "supergroup")
    tg.say("T001", "绑定班级 护理172", group)
    tg.say("2020001", f"/bind@{BOT_USERNAME} 2020001 {tg.names['2020001']}", group)
    tg.say("2020001", "打卡 36.5", group)
    await tg.settle()
    texts = tg.texts(-777)
    assert texts[0].startswith("✓ 本群已绑定班级 护理172")
    assert texts[1].startswith("✓ 绑定成功")
    assert "已打卡 1/30" in texts[2]
    assert "36.5" not in texts[2]


async def test_private_checkin(tg: Harness) -> None:
    await started(tg)
    tg.say("2020003", "打卡 36.6")
    await tg.settle()
    [reply] = tg.texts(tg_id("2020003"))
    assert reply.startswith("✓ 已打卡")
    assert "36.6" in reply


async def test_mention_and_command_for_this_bot_are_understood(tg: Harness) -> None:
    await started(tg)
    tg.say("2020004", f"@{BOT_USERNAME} 打卡 36.5", tg.group())
    tg.say("2020005", f"/checkin@{BOT_USERNAME} 36.7", tg.group())
    tg.say("2020006", "/checkin@some_other_bot 36.7", tg.group())
    await tg.settle()
    said = "\n".join(tg.texts(NURSING))
    # Both acknowledged (in one message when they were queued together), the third ignored.
    assert tg.names["2020004"] in said and tg.names["2020005"] in said
    assert tg.names["2020006"] not in said
    assert "2/30" in said


async def test_edits_and_other_bots_are_ignored_without_error(tg: Harness) -> None:
    await started(tg)
    original = tg.api.message_dict(tg.group(), tg.user("2020001"), "打卡 36.5")
    tg.api.edit_text(original, "打卡 38.5")
    other = tg.api.user(4242, "Some Bot", "some_bot", is_bot=True)
    tg.api.send_text(tg.group(), other, "打卡 36.5")
    await tg.settle()
    assert tg.api.calls("sendMessage") == []


async def test_group_migration_moves_the_class_binding(tg: Harness) -> None:
    await started(tg)
    tg.api.migrate_group(tg.group(), -1009999, by=tg.user("T001"))
    await tg.settle()
    supergroup = tg.api.group(-1009999, "护理172", "supergroup")
    tg.say("2020001", "打卡 36.5", supergroup)
    await tg.settle()
    assert "已打卡 1/30" in tg.texts(-1009999)[0]
    assert tg.app is not None
    with tg.app.uow(readonly=True) as session:
        chats = set(
            session.scalars(select(GroupChat.chat_id).where(GroupChat.platform == "telegram"))
        )
    assert chats == {"-1009999", str(LAB)}


async def test_send_to_a_migrated_group_follows_it(tg: Harness) -> None:
    await started(tg)
    tg.api.migrated[NURSING] = -1008888
    assert tg.app is not None
    await tg.app.deliver(
        [Envelope(ChatAddress("telegram", str(NURSING), True), OutgoingMessage("hi"))]
    )
    assert tg.texts(-1008888) == ["hi"]
    with tg.app.uow(readonly=True) as session:
        assert session.scalar(select(GroupChat.id).where(GroupChat.chat_id == "-1008888"))


# -- outgoing ---------------------------------------------------------------------------------


async def test_long_text_is_split_at_the_limit_on_lines(tg: Harness) -> None:
    adapter = await started(tg)
    lines = [f"{i:03d} " + "名" * 60 for i in range(150)]
    await adapter.send(
        ChatAddress("telegram", str(NURSING), True), OutgoingMessage("\n".join(lines))
    )
    texts = tg.texts(NURSING)
    assert len(texts) == 3
    assert all(len(t) <= 4096 for t in texts)
    assert "\n".join(texts).split("\n") == lines


async def test_mentions_render_as_escaped_text_mentions(tg: Harness) -> None:
    adapter = await started(tg)
    message = OutgoingMessage(
        "请尽快打卡：", mentions=(Mention("2020001", "张<三>"), Mention("2020002", "李四"))
    )
    await adapter.send(ChatAddress("telegram", str(NURSING), True), message)
    [sent] = tg.api.calls("sendMessage", NURSING)
    assert sent.params["parse_mode"] == "HTML"
    assert sent.params["text"] == (
        '请尽快打卡：\n<a href="tg://user?id=2020001">张&lt;三&gt;</a> '
        '<a href="tg://user?id=2020002">李四</a>'
    )


def workbook_bytes() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "打卡"
    sheet.append(["学号", "姓名"])
    sheet.append(["2020001", "张三"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_file_arrives_as_a_document_with_its_name(tg: Harness) -> None:
    adapter = await started(tg)
    name = "台账-护理172-2026-11-22.xlsx"
    message = OutgoingMessage("护理172 11月22日台账", attachment=Attachment(name, workbook_bytes()))
    await adapter.send(ChatAddress("telegram", str(tg_id("T001")), False), message)
    [sent] = tg.api.sent_to(tg_id("T001"))
    assert sent["document"]["file_name"] == name
    assert sent["caption"] == "护理172 11月22日台账"
    book = openpyxl.load_workbook(io.BytesIO(sent["_content"]))
    assert book["打卡"]["B2"].value == "张三"


# -- limits and failures ----------------------------------------------------------------------


async def test_429_is_obeyed_by_the_sender(tg: Harness) -> None:
    await started(tg)
    assert tg.app is not None
    tg.api.inject("sendMessage", "retry_after", chat_id=NURSING, retry_after=1)
    group = Envelope(ChatAddress("telegram", str(NURSING), True), OutgoingMessage("hello"))
    report = await tg.app.deliver([group], wait=0.5)
    # Queued again, due a second later on the bot's clock, and held a real second.
    assert report.pending == [group]
    tg.clock.advance(timedelta(seconds=2))
    await outbox_settled(tg.app)
    first, second = tg.api.calls("sendMessage", NURSING)
    assert second.at - first.at >= 1.0
    assert tg.texts(NURSING) == ["hello"]


async def test_a_dropped_connection_is_retried_privately_but_not_in_a_group(tg: Harness) -> None:
    await started(tg)
    assert tg.app is not None
    counselor = tg_id("T001")
    tg.api.inject("sendMessage", "drop", chat_id=counselor, count=1)
    tg.api.inject("sendMessage", "drop", chat_id=NURSING, count=1)
    private = Envelope(ChatAddress("telegram", str(counselor), False), OutgoingMessage("私聊"))
    group = Envelope(ChatAddress("telegram", str(NURSING), True), OutgoingMessage("群"))
    report = await tg.app.deliver([private, group], wait=0.5)
    # The request may have arrived: the group message is not sent again (at most once) ...
    assert [(e, r) for e, r in report.unreachable] == [
        (
            group,
            "maybe sent: httpx.RemoteProtocolError: Server disconnected without sending a response.",
        )
    ]
    # ... the private one is (at least once).
    assert report.pending == [private]
    tg.clock.advance(timedelta(seconds=2))
    await outbox_settled(tg.app)
    assert len(tg.api.calls("sendMessage", counselor)) == 2
    assert tg.texts(counselor) == ["私聊"]
    assert len(tg.api.calls("sendMessage", NURSING)) == 1


async def test_403_is_recorded_and_the_person_is_asked_once_in_the_group(tg: Harness) -> None:
    await started(tg)
    assert tg.app is not None
    tg.api.forbidden_chats.add(tg_id("T002"))
    notice = Envelope(PersonAddress(tg.person_id("T002")), OutgoingMessage("汇总"))
    report = await tg.app.deliver([notice])
    assert report.sent == []
    assert [e for e, _ in report.unreachable] == [notice]
    account = tg.account("T002")
    assert account.unreachable_at is not None
    assert "blocked" in (account.unreachable_reason or "")
    await tg.api.wait_calls("sendMessage", chat_id=NURSING)
    await tg.app.deliver([notice])
    tg.say("T002", "帮助", tg.group())
    await tg.settle()
    nudges = [t for t in tg.texts(NURSING) if t.startswith("我无法私信你")]
    assert len(nudges) == 1
    assert tg.names["T002"] in nudges[0]
    # Starting the private chat makes the account reachable again.
    tg.api.forbidden_chats.clear()
    tg.say("T002", "/start")
    await tg.settle()
    assert tg.account("T002").unreachable_at is None


# -- updates: none lost, none twice ------------------------------------------------------------


async def test_restart_replays_nothing(tg: Harness) -> None:
    await started(tg)
    tg.say("2020001", "打卡 36.5", tg.group())
    await tg.settle()
    await tg.stop()
    # Telegram had not yet been told the last update was handled: it sends it again.
    tg.api.confirmed_offset = 0
    tg.say("2020002", "打卡 36.6", tg.group())
    await tg.start()
    await tg.settle()
    texts = tg.texts(NURSING)
    assert len(texts) == 2
    assert "已打卡 1/30" in texts[0]
    assert "已打卡 2/30" in texts[1]


async def test_stored_but_unprocessed_update_is_finished_on_start_once(tg: Harness) -> None:
    await started(tg)
    await tg.stop()
    update_id = tg.say("2020001", "打卡 36.5", tg.group())
    # The last run stored this update, then died before handling it.
    assert tg.app is not None
    from storage import inbound

    update = next(u for u in tg.api.updates if u["update_id"] == update_id)
    import json

    with tg.app.uow() as session:
        inbound.claim(
            session, "telegram", f"update:{update_id}", tg.clock.now(), json.dumps(update)
        )
    await tg.start()
    await tg.settle()
    assert len(tg.texts(NURSING)) == 1


async def test_update_sent_while_down_keeps_its_send_time(tg: Harness) -> None:
    await started(tg)
    await tg.stop()
    before_deadline = tg.clock.now().replace(hour=10, minute=58)
    after_deadline = before_deadline.replace(hour=11, minute=4)
    tg.say("2020001", "打卡 36.5", at=before_deadline)
    tg.say("2020003", "打卡 36.5", at=after_deadline)
    tg.clock.set(after_deadline + timedelta(minutes=1))
    await tg.start()
    await tg.settle()
    [on_time] = tg.texts(tg_id("2020001"))
    [late] = tg.texts(tg_id("2020003"))
    assert on_time.startswith("✓ 已打卡\n")
    assert late.startswith("✓ 已打卡（迟交）")


async def test_inbox_rows_are_marked_done_and_pruned(tg: Harness) -> None:
    await started(tg)
    tg.say("2020001", "打卡 36.5")
    await tg.settle()
    await tg.stop()
    assert tg.app is not None
    with tg.app.uow(readonly=True) as session:
        rows = list(
            session.scalars(select(InboundMessage).where(InboundMessage.key.like("update:%")))
        )
    assert len(rows) == 1
    assert rows[0].processed_at is not None
    tg.clock.set(tg.clock.now() + timedelta(days=8))
    await tg.start()
    with tg.app.uow(readonly=True) as session:
        left = session.scalar(select(InboundMessage.id).where(InboundMessage.key.like("update:%")))
    assert left is None


# -- buttons ----------------------------------------------------------------------------------


async def press_button(tg: Harness, number: str, chat_id: int, label: str) -> int:
    """`number` presses the button labelled `label` on the bot's latest message in a chat."""
    message = next(m for m in reversed(tg.api.sent_to(chat_id)) if "reply_markup" in m)
    button = next(
        b for row in message["reply_markup"]["inline_keyboard"] for b in row if b["text"] == label
    )
    return tg.api.press(tg.user(number), message, button["callback_data"])


async def test_button_press_runs_the_command_and_edits_the_message(tg: Harness) -> None:
    adapter = await started(tg)
    counselor = tg_id("T001")
    message = OutgoingMessage("演示：按下按钮查看帮助", buttons=(Button("帮助", "/help"),))
    await adapter.send(ChatAddress("telegram", str(counselor), False), message)
    await press_button(tg, "T001", counselor, "帮助")
    await tg.settle()
    [answer] = tg.api.calls("answerCallbackQuery")
    assert answer.params["text"] == "你可以使用："
    [edit] = tg.api.calls("editMessageText")
    assert edit.params["text"].startswith("演示：按下按钮查看帮助\n\n你可以使用：")
    assert edit.params["text"].endswith(f"— {tg.names['T001']}")
    assert "reply_markup" not in tg.api.sent_to(counselor)[0]
    # The outcome is shown on the pressed message, not sent again.
    assert len(tg.api.calls("sendMessage", counselor)) == 1


async def test_reject_button_asks_for_the_reason_and_the_next_message_is_it(
    tg: Harness,
) -> None:
    await started(tg)
    student, counselor = tg_id("2020001"), tg_id("T001")
    tg.say("2020001", "请假 明天 事假 回家办身份证")
    await tg.settle()
    notice = next(m for m in reversed(tg.api.sent_to(counselor)) if "reply_markup" in m)
    datas = [b["callback_data"] for row in notice["reply_markup"]["inline_keyboard"] for b in row]
    assert datas == ["c|/approve L1", "c|/reject L1"]
    before = len(tg.texts(student))
    await press_button(tg, "T001", counselor, "驳回")
    await tg.settle()
    # The question is a plain message of its own; the pressed message keeps its buttons.
    prompt = tg.api.calls("sendMessage", counselor)[-1]
    assert prompt.params["text"].startswith("驳回 L1 的理由？")
    assert "force_reply" not in str(prompt.params.get("reply_markup"))
    assert tg.api.calls("editMessageText") == []
    [answer] = tg.api.calls("answerCallbackQuery")
    assert answer.params["text"].startswith("驳回 L1 的理由？")
    assert tg.texts(student)[before:] == []
    # The next message, typed or as a reply to the question, is the reason.
    tg.say("T001", "家长未同意", reply_to_message=tg.api.sent_to(counselor)[-1])
    await tg.settle()
    assert "已驳回" in tg.texts(counselor)[-1]
    [told] = tg.texts(student)[before:]
    assert "驳回" in told and "家长未同意" in told


# -- leave and schedules (built on other branches) --------------------------------------------


def needs_command(tg: Harness, name: str, feature: str) -> None:
    assert tg.app is not None
    if name not in {c.name for c in tg.app.dispatcher.commands}:
        pytest.skip(f"needs {feature}")


async def test_leave_approved_by_button_and_double_press_refused(tg: Harness) -> None:
    await started(tg)
    needs_command(tg, "leave", "leave requests")
    student, counselor = tg_id("2020001"), tg_id("T001")
    tg.say("2020001", "请假 明天 病假 发烧")
    await tg.settle()
    notice = next(m for m in reversed(tg.api.sent_to(counselor)) if "reply_markup" in m)
    labels = [b["text"] for row in notice["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["批准", "驳回"]
    stale_copy = dict(notice)
    before = len(tg.api.sent_to(student))
    await press_button(tg, "T001", counselor, "批准")
    await tg.settle()
    edit = tg.api.calls("editMessageText")[-1]
    assert edit.params["text"].endswith(f"— {tg.names['T001']}")
    assert "reply_markup" not in tg.api.sent_to(counselor)[-1]
    told = tg.texts(student)[before:]
    assert len(told) == 1
    assert "批准" in told[0]
    # A second press (a stale copy of the message, or a second decider) changes nothing.
    approve = stale_copy["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    tg.api.press(tg.user("T001"), stale_copy, approve)
    await tg.settle()
    assert len(tg.texts(student)) == before + 1
    assert len(tg.api.calls("answerCallbackQuery")) == 2


async def test_1100_reminder_mentions_students_and_1200_rollup_is_a_workbook(tg: Harness) -> None:
    await started(tg)
    assert tg.app is not None
    if tg.app.scheduler is None:
        pytest.skip("needs the scheduled jobs")
    tg.say("2020001", "打卡 36.5", tg.group())
    await tg.settle()
    tg.clock.set(tg.clock.now().replace(hour=11, minute=0))
    await tg.app.scheduler.run_due()
    await outbox_settled(tg.app)
    reminder = next(
        r
        for r in tg.api.calls("sendMessage", NURSING)
        if "tg://user?id=2020002" in r.params["text"]
    )
    assert reminder.params["parse_mode"] == "HTML"
    assert "tg://user?id=2020001" not in reminder.params["text"]
    assert f">{tg.names['2020003']}</a>" in reminder.params["text"]
    tg.clock.set(tg.clock.now().replace(hour=12, minute=0))
    await tg.app.scheduler.run_due()
    await outbox_settled(tg.app)
    ledger = next(m for m in tg.api.sent_to(tg_id("T001")) if "document" in m)
    assert ledger["document"]["file_name"].startswith("台账-")
    assert ledger["document"]["file_name"].endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(ledger["_content"]))
    assert "打卡" in book.sheetnames


# -- webhook ----------------------------------------------------------------------------------


async def test_webhook_takes_updates_with_the_right_secret_only(tg: Harness) -> None:
    tg.app = build_app(
        make_config(
            tg.config.database.url,
            telegram=tg.settings(
                mode="webhook",
                webhook_listen="127.0.0.1",
                webhook_port=0,
                webhook_path="/tg-hook",
                webhook_url="https://bot.example.invalid/tg-hook",
                secret_token="s3cret-s3cret",
            ),
            outbox=AT_ONCE,
        ),
        tg.clock,
    )
    tg.seed()
    adapter = await tg.start()
    [registered] = tg.api.calls("setWebhook")
    assert registered.params["url"] == "https://bot.example.invalid/tg-hook"
    assert registered.params["secret_token"] == "s3cret-s3cret"
    url = f"http://127.0.0.1:{adapter.webhook_port}/tg-hook"
    update = {
        "message": tg.api.message_dict(
            tg.group(), tg.user("2020001"), "打卡 36.5", date=tg.clock.now()
        )
    }
    wrong = await tg.api.post_webhook(url, update, "not-the-secret")
    missing = await tg.api.post_webhook(url, update, None)
    assert (wrong.status_code, missing.status_code) == (403, 403)
    right = await tg.api.post_webhook(url, update, "s3cret-s3cret")
    assert right.status_code == 200
    await tg.api.wait_calls("sendMessage", chat_id=NURSING)
    await tg.settle()
    assert len(tg.texts(NURSING)) == 1
    assert "已打卡 1/30" in tg.texts(NURSING)[0]
    assert tg.api.calls("getUpdates") == []


# -- the command line -------------------------------------------------------------------------


async def test_classbot_run_platform_telegram(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n\n'
        f'[telegram]\nbase_url = "{api.base_url}"\nbase_file_url = "{api.base_file_url}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "CLASSBOT_TELEGRAM__TOKEN": TOKEN}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--platform",
        "telegram",
        "--config",
        str(config),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stranger = api.user(31337, "路人")
        api.send_text(api.private(stranger), stranger, "/start")
        [reply] = await api.wait_calls("sendMessage", chat_id=31337, within=30)
        assert reply.params["text"].startswith("你可以使用：")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    log_text = stderr.decode()
    assert "started (polling)" in log_text
    assert TOKEN not in log_text


async def test_a_group_checkin_is_one_write_transaction_of_the_inbox_worker(tg: Harness) -> None:
    """The handling, its inbound claim, the inbox "done" mark and the queued acknowledgement
    commit together; no nudge update runs for an account that is reachable."""
    from sqlalchemy import event

    await started(tg)
    assert tg.app is not None
    writes: list[str] = []

    def on_begin(conn: Any) -> None:
        task = asyncio.current_task()
        in_worker = task is not None and task.get_name() == "telegram-inbox"
        if in_worker and not conn.get_execution_options().get("readonly"):
            writes.append("begin")

    event.listen(tg.app.engine, "begin", on_begin)
    try:
        tg.say("2020001", "打卡 36.5", tg.group())
        await tg.settle()
    finally:
        event.remove(tg.app.engine, "begin", on_begin)
    assert writes == ["begin"]
    assert tg.names["2020001"] in tg.texts(NURSING)[-1]


async def test_updates_that_queued_up_in_the_inbox_are_handled_as_one_batch(tg: Harness) -> None:
    """A burst stored in one go is handled with one commit (a savepoint each), in order."""
    adapter = await started(tg)
    assert tg.app is not None
    sizes: list[int] = []
    process_batch = tg.app.dispatcher.process_batch

    def spy(messages: Any) -> Any:
        sizes.append(len(messages))
        return process_batch(messages)

    tg.app.dispatcher.process_batch = spy  # type: ignore[method-assign]
    numbers = [str(2020001 + i) for i in range(5)]
    adapter._store(
        [
            (
                900_000 + i,
                {
                    "update_id": 900_000 + i,
                    "message": tg.api.message_dict(
                        tg.group(), tg.user(n), "打卡 36.5", date=tg.clock.now()
                    ),
                },
            )
            for i, n in enumerate(numbers)
        ]
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with tg.app.uow(readonly=True) as session:
            waiting = session.scalar(
                select(InboundMessage.id).where(
                    InboundMessage.platform == "telegram", InboundMessage.processed_at.is_(None)
                )
            )
        if waiting is None:
            break
        await asyncio.sleep(0.02)
    await outbox_settled(tg.app)
    assert sizes == [5]
    acknowledged = " ".join(tg.texts(NURSING))
    assert all(tg.names[n] in acknowledged for n in numbers)
    assert "5/30" in acknowledged


def test_a_stored_update_belongs_to_its_chat_and_a_broken_one_to_none() -> None:
    import json

    from bot.adapters.telegram import chat_of

    assert chat_of(json.dumps({"update_id": 1, "message": {"chat": {"id": -1001}}})) == "-1001"
    pressed = {"callback_query": {"from": {"id": 7}, "message": {"chat": {"id": 42}}}}
    assert chat_of(json.dumps(pressed)) == "42"
    assert chat_of(json.dumps({"callback_query": {"from": {"id": 7}}})) == "user:7"
    assert chat_of(json.dumps({"my_chat_member": {"chat": {"id": -5}}})) == "-5"
    assert chat_of("not json") == ""
    assert chat_of(json.dumps({"message": {"chat": {}}})) == ""
    assert chat_of(json.dumps([1, 2])) == ""
