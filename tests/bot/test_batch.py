"""Group commit: messages that queued up are handled in one transaction, a savepoint each, so
a refused or failing message is rolled back alone and never takes its neighbours down."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

import storage.checkins
from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.messages import IncomingMessage
from storage import prompts
from storage.errors import ConsentRequired, DomainError, NotAllowed
from storage.models import (
    ChatAccount,
    CheckIn,
    CheckInRevision,
    InboundMessage,
    PendingPrompt,
    Person,
)

# The demo school: 护理172 is 2020001–2020030, 检验172 is 2020031–2020060.
POISONED = "2020015"  # the storage fails under this one's check-in
REFUSED = "2020016"  # this one sends a temperature out of range


def burst(bot: TestAdapter) -> list[IncomingMessage]:
    """40 check-ins: all of 护理172 in its group, and ten of 检验172 in theirs."""
    out = []
    for i in range(40):
        number = str(2020001 + i)
        group = "护理172" if i < 30 else "检验172"
        temp = "36.9" if number == POISONED else "50" if number == REFUSED else "36.5"
        out.append(bot.message(number, f"打卡 {temp}", group=group))
    return out


def stored_numbers(app: App) -> set[str]:
    with app.uow(readonly=True) as s:
        return set(s.scalars(select(Person.number).join(CheckIn, CheckIn.student_id == Person.id)))


@pytest.fixture
def poisoned(monkeypatch: pytest.MonkeyPatch) -> None:
    real = storage.checkins.record_many

    def record_many(session: Any, entries: Any) -> Any:
        stored = real(session, entries)
        if any(data.temp_tenths == 369 for data, _ in entries):
            # After the rows are written: the savepoint must take them back.
            raise RuntimeError("disk on fire")
        return stored

    monkeypatch.setattr(storage.checkins, "record_many", record_many)


@pytest.mark.usefixtures("poisoned")
async def test_a_poisoned_message_in_a_batch_of_40_is_rolled_back_alone(
    app: App, bot: TestAdapter
) -> None:
    commits: list[object] = []

    def on_commit(conn: object) -> None:
        commits.append(conn)

    event.listen(app.engine, "commit", on_commit)
    try:
        routed = app.dispatcher.process_batch(burst(bot))
    finally:
        event.remove(app.engine, "commit", on_commit)
    await app.sent()

    # One commit for the whole batch (the sending afterwards has its own).
    assert len(commits) == 1
    assert len(routed) == 40
    everyone = {str(2020001 + i) for i in range(40)}
    assert stored_numbers(app) == everyone - {POISONED, REFUSED}
    by_number = {str(2020001 + i): r for i, r in enumerate(routed)}
    assert isinstance(by_number[POISONED].error, RuntimeError)
    assert "抱歉" in by_number[POISONED].envelopes[0].message.text
    assert by_number[REFUSED].error is not None
    assert "格式" in by_number[REFUSED].envelopes[0].message.text
    # The class counts skip the two that were not stored: the last of 护理172 is 28 of 30.
    last = by_number["2020030"].envelopes[0]
    assert last.ack is not None and (last.ack.done, last.ack.of) == (28, 30)
    with app.uow(readonly=True) as s:
        # Every message is claimed once, the two failed ones with their replies.
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 40
        assert s.scalar(select(func.count()).select_from(CheckInRevision)) == 38
    # The group got its merged acknowledgements; nothing of anyone's health.
    assert any("28/30" in m.text or "已打卡" in m.text for m in bot.to_chat("护理172"))


@pytest.mark.usefixtures("poisoned")
async def test_a_redelivered_batch_changes_nothing(app: App, bot: TestAdapter) -> None:
    messages = burst(bot)
    await app.handle_batch(messages)
    bot.clear()
    again = await app.handle_batch(messages)
    assert all(r.duplicate for r in again)
    assert bot.sent == []
    with app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CheckInRevision)) == 38
        assert s.scalar(select(func.max(CheckIn.revision))) == 1
    # The poisoned student checks in again, alone and well: stored.
    [reply] = await bot.say(POISONED, "打卡 36.6", group="护理172")
    assert "已打卡" in reply.text and POISONED in stored_numbers(app)


async def test_a_batch_that_cannot_commit_is_handled_one_by_one(app: App, bot: TestAdapter) -> None:
    messages = burst(bot)[:5]
    commits: list[bool] = []

    def on_commit(conn: object) -> None:
        commits.append(not commits)
        if len(commits) == 1:
            raise OSError("connection lost")

    event.listen(app.engine, "commit", on_commit)
    try:
        routed = await app.handle_batch(messages)
    finally:
        event.remove(app.engine, "commit", on_commit)
    # The batch's commit failed; each message then had its own.
    assert commits[:6] == [True] + [False] * 5
    assert [r.duplicate for r in routed] == [False] * 5
    assert all(r.error is None for r in routed)
    assert stored_numbers(app) == {str(2020001 + i) for i in range(5)}


def spy_alone(app: App, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The senders of the messages of a batch that were handled one by one."""
    alone: list[str] = []
    real = app.dispatcher._process

    def process(msg: IncomingMessage, batch: Any) -> Any:
        alone.append(msg.sender_id)
        return real(msg, batch)

    monkeypatch.setattr(app.dispatcher, "_process", process)
    return alone


async def test_a_class_checking_in_is_stored_as_one_set_and_each_counted_as_alone(
    app: App, bot: TestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = spy_alone(app, monkeypatch)
    routed = await app.handle_batch(burst(bot))
    # Only the malformed one is taken out of the set, and answered with the form.
    assert alone == [REFUSED]
    by_number = {str(2020001 + i): r for i, r in enumerate(routed)}
    assert "格式" in by_number[REFUSED].envelopes[0].message.text
    acks = [r.envelopes[0].ack for r in routed]
    counts = [(a.done, a.of) for a in acks if a is not None]
    # 护理172 counts 1…29 of 30 (one refused), 检验172 1…10 of 30, each as it stood after it.
    assert counts == [(n, 30) for n in range(1, 30)] + [(n, 30) for n in range(1, 11)]
    assert stored_numbers(app) == {str(2020001 + i) for i in range(40)} - {REFUSED}
    with app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 40
    # The group heard names and counts only.
    # Each group heard its own class, names and counts only, merged into one message: the
    # bot's inline sending holds both groups' acknowledgements, and never mixes them.
    [nursing, refusal] = [m.text for m in bot.to_chat("护理172")]
    [lab] = [m.text for m in bot.to_chat("检验172")]
    assert nursing.startswith("✓ 已打卡 +29：") and nursing.endswith("（29/30）")
    assert lab.startswith("✓ 已打卡 +10：") and lab.endswith("（10/30）")
    assert "程婉清" in lab and "程婉清" not in nursing
    assert all("℃" not in t and "体温" not in t for t in (nursing, lab))
    assert refusal.startswith("体温应在")


async def test_one_senders_messages_stay_in_order_in_a_batch(
    app: App, bot: TestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = [
        bot.message("2020001", "打卡 36.5", group="护理172"),
        bot.message("2020002", "打卡 36.6", group="护理172"),
        bot.message("2020001", "打卡 38.2 发烧", group="护理172"),
        bot.message("2020003", "打卡 36.4", group="护理172"),
    ]
    routed = await app.handle_batch(messages)
    acks = [r.envelopes[0].ack for r in routed]
    assert [(a.done, a.of) for a in acks if a is not None] == [(1, 30), (2, 30), (2, 30), (3, 30)]
    with app.uow(readonly=True) as s:
        current = s.scalar(
            select(CheckIn)
            .join(Person, Person.id == CheckIn.student_id)
            .where(Person.number == "2020001")
        )
        assert current is not None and current.revision == 2 and current.abnormal_today
    # The second, abnormal reading alerted the class's staff privately.
    alerts = [m for m in bot.sent if m.to.chat_id in ("T001", "T002") and "38.2" in m.text]
    assert len(alerts) == 2


async def test_a_partly_redelivered_batch_stores_only_the_new_messages(
    app: App, bot: TestAdapter
) -> None:
    messages = burst(bot)[:6]
    await app.handle_batch(messages[:3])
    bot.clear()
    routed = await app.handle_batch(messages)
    assert [r.duplicate for r in routed] == [True] * 3 + [False] * 3
    acks = [r.envelopes[0].ack for r in routed[3:]]
    assert [(a.done, a.of) for a in acks if a is not None] == [(4, 30), (5, 30), (6, 30)]
    with app.uow(readonly=True) as s:
        assert s.scalar(select(func.max(CheckIn.revision))) == 1
        assert s.scalar(select(func.count()).select_from(CheckInRevision)) == 6


async def test_an_unbound_sender_in_a_batch_is_answered_alone(
    app: App, bot: TestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = spy_alone(app, monkeypatch)
    messages = burst(bot)[:3]
    messages.insert(1, bot.message("stranger", "打卡 36.5", group="护理172"))
    routed = await app.handle_batch(messages)
    assert alone == ["stranger"]
    assert routed[1].error is not None and routed[1].envelopes
    assert stored_numbers(app) == {"2020001", "2020002", "2020003"}


async def test_a_check_in_in_a_batch_ends_the_question_its_sender_was_asked(
    app: App, bot: TestAdapter
) -> None:
    now = app.clock.now()
    with app.uow() as s:
        for number in ("2020001", "2020009"):
            prompts.put(
                s,
                "test",
                number,
                number,
                person_id=None,
                role="student",
                command="fill",
                expect="collect.answer",
                state={},
                now=now,
                expires_at=now + timedelta(minutes=30),
            )
    await app.handle_batch(
        [bot.message("2020001", "打卡 36.5"), bot.message("2020002", "打卡 36.5")]
    )
    with app.uow(readonly=True) as s:
        # The other student's question still waits.
        assert list(s.scalars(select(PendingPrompt.sender_id))) == ["2020009"]


async def test_an_unreachable_account_in_a_batch_is_nudged_once_or_made_reachable(
    app: App, bot: TestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.outbox, "nudge_text", lambda platform: "请先私聊我一次")
    with app.uow() as s:
        s.execute(
            update(ChatAccount)
            .where(ChatAccount.platform_user_id.in_(["2020002", "2020031"]))
            .values(unreachable_at=app.clock.now(), unreachable_reason="blocked the bot")
        )
    bot.unreachable.add("2020002")
    messages = [
        bot.message("2020001", "打卡 36.5", group="护理172"),
        bot.message("2020002", "打卡 36.5", group="护理172"),
        bot.message("2020031", "打卡 36.5"),  # a private message: reachable again
        bot.message("2020003", "打卡 36.5", group="护理172"),
    ]
    await app.handle_batch(messages)
    nudges = [m for m in bot.to_chat("护理172") if "请先私聊我一次" in m.text]
    assert len(nudges) == 1 and nudges[0].message.mentions[0].user_id == "2020002"
    with app.uow(readonly=True) as s:
        reach = dict(
            s.execute(
                select(ChatAccount.platform_user_id, ChatAccount.unreachable_at).where(
                    ChatAccount.platform_user_id.in_(["2020002", "2020031"])
                )
            ).all()
        )
    assert reach["2020031"] is None and reach["2020002"] is not None
    # Nudged once: the next batch asks no more.
    bot.clear()
    await app.handle_batch(
        [
            bot.message("2020002", "打卡 36.6", group="护理172"),
            bot.message("2020004", "打卡 36.6", group="护理172"),
        ]
    )
    assert not any("请先私聊我一次" in m.text for m in bot.sent)


async def test_a_batch_refuses_whom_a_message_alone_would_refuse(
    app: App, bot: TestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Authorization and consent are checked for every message of a set: a student who has
    not agreed to the privacy notice, and a counselor, are refused alone; nothing of theirs
    is stored."""
    with app.uow() as s:
        s.execute(update(Person).where(Person.number == "2020005").values(consent_version=None))
    alone = spy_alone(app, monkeypatch)
    messages = [
        bot.message(number, "打卡 36.5", group="护理172")
        for number in ("2020004", "2020005", "T001", "2020006")
    ]
    routed = await app.handle_batch(messages)
    assert alone == ["2020005", "T001"]
    assert stored_numbers(app) == {"2020004", "2020006"}
    for refused in (routed[1], routed[2]):
        assert isinstance(refused.error, DomainError) and refused.envelopes
    assert isinstance(routed[1].error, ConsentRequired)
    assert isinstance(routed[2].error, NotAllowed)
    acks = [r.envelopes[0].ack for r in (routed[0], routed[3])]
    assert [(a.done, a.of) for a in acks if a is not None] == [(1, 30), (2, 30)]
