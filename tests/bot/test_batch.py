"""Group commit: messages that queued up are handled in one transaction, a savepoint each, so
a refused or failing message is rolled back alone and never takes its neighbours down."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select

import storage.checkins
from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.messages import IncomingMessage
from storage.models import CheckIn, CheckInRevision, InboundMessage, Person

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
    real = storage.checkins.record

    def record(session: Any, data: storage.checkins.CheckInInput, **kw: Any) -> Any:
        stored = real(session, data, **kw)
        if data.temp_tenths == 369:
            # After the rows are written: the savepoint must take them back.
            raise RuntimeError("disk on fire")
        return stored

    monkeypatch.setattr(storage.checkins, "record", record)


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


async def test_a_batch_that_cannot_commit_is_handled_one_by_one(
    app: App, bot: TestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = burst(bot)[:5]
    calls: list[int] = []
    real = app.dispatcher._process

    def process(msg: IncomingMessage, batch: Any) -> Any:
        if batch is not None:
            calls.append(1)
            raise OSError("connection lost")
        return real(msg, batch)

    monkeypatch.setattr(app.dispatcher, "_process", process)
    routed = await app.handle_batch(messages)
    assert calls == [1]
    assert [r.duplicate for r in routed] == [False] * 5
    assert stored_numbers(app) == {str(2020001 + i) for i in range(5)}
