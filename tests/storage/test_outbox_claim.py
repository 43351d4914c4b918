"""The claim reads the queued rows through their own partial index, and a drain claims once
per commit unless the claim was full or a send queued more."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import inspect, select, update

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.messages import ChatAddress, OutgoingMessage
from storage import outbox
from storage.db import transaction
from storage.models import OutboxMessage
from storage.outbox import Kind, NewRow, Status


def row(chat: str, now: datetime, *, platform: str = "test", **kw: object) -> NewRow:
    return NewRow(
        cause=f"test:{chat}",
        platform=platform,
        chat_id=chat,
        is_group=False,
        person_id=None,
        kind=Kind.ALERT,
        body={"text": f"to {chat}"},
        deadline=now + timedelta(hours=2),
        **kw,  # type: ignore[arg-type]
    )


def add(app: App, rows: list[NewRow], at: datetime) -> None:
    with app.uow() as s:
        outbox.add(s, rows, at)


def count_claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each claim the sender runs takes."""
    taken: list[int] = []
    real = outbox.claim_due

    def counted(*args: object, **kw: object) -> list[outbox.Row]:
        rows = real(*args, **kw)  # type: ignore[arg-type]
        taken.append(len(rows))
        return rows

    monkeypatch.setattr(outbox, "claim_due", counted)
    return taken


async def test_the_claim_index_covers_only_queued_rows(app: App) -> None:
    indexes = {i["name"]: i for i in inspect(app.engine).get_indexes("outbox")}
    claim = indexes["ix_outbox_claim"]
    assert claim["column_names"] == ["platform", "next_attempt_at"]
    where = claim.get("dialect_options", {})
    assert any("queued" in str(v) for k, v in where.items() if k.endswith("_where"))


async def test_the_claim_takes_exactly_the_due_queued_rows_of_its_platform(app: App) -> None:
    now = app.clock.now()
    chats = ["due", "due", "later", "sent", "claimed", "expired"]
    add(app, [row(c, now) for c in chats] + [row("elsewhere", now, platform="other")], now)
    set_rows: dict[str, dict[str, object]] = {
        "later": {"next_attempt_at": now + timedelta(minutes=5)},
        "sent": {"status": Status.SENT.value, "sent_at": now},
        "claimed": {"status": Status.CLAIMED.value, "claim_token": "gone", "claimed_at": now},
        "expired": {"status": Status.EXPIRED.value},
    }
    with app.uow() as s:
        for chat, values in set_rows.items():
            s.execute(update(OutboxMessage).where(OutboxMessage.chat_id == chat).values(**values))
    with transaction(app.engine) as conn:
        claimed = outbox.claim_due(conn, "test", "a", now, ack_wait=0, ack_interval=0)
    assert sorted(r.chat_id for r in claimed) == ["due", "due"]
    with transaction(app.engine) as conn:
        outbox.finish(conn, [r.id for r in claimed], "a", Status.SENT, now)
        assert outbox.claim_due(conn, "test", "b", now, ack_wait=0, ack_interval=0) == []
        # A queued row becomes claimable when its retry time comes; the others never.
        late = outbox.claim_due(
            conn, "test", "b", now + timedelta(minutes=6), ack_wait=0, ack_interval=0
        )
    assert [r.chat_id for r in late] == ["later"]


async def test_a_drain_claims_once_when_everything_due_fits_one_claim(
    app: App, bot: TestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = app.clock.now()
    add(app, [row("a", now), row("b", now), row("a", now)], now)
    taken = count_claims(monkeypatch)
    bot.sent.clear()
    await app.sent()
    assert taken == [3]
    assert sorted(s.to.chat_id for s in bot.sent) == ["a", "a", "b"]
    # Nothing new is queued: the next commit notification claims once and finds nothing.
    await app.sent()
    assert taken == [3, 0]


async def test_a_full_claim_is_followed_by_another_until_every_chat_is_sent(
    app: App, bot: TestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = app.clock.now()
    monkeypatch.setattr(outbox, "CLAIM_CHATS", 2)
    add(app, [row(c, now) for c in "abcde"], now)
    taken = count_claims(monkeypatch)
    bot.sent.clear()
    await app.sent()
    assert taken == [2, 2, 1]
    assert sorted(s.to.chat_id for s in bot.sent) == list("abcde")
    with app.uow(readonly=True) as s:
        assert set(s.scalars(select(OutboxMessage.status))) == {Status.SENT.value}


async def test_a_send_that_queues_more_is_followed_by_another_claim(
    app: App, bot: TestAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = app.clock.now()
    add(app, [row("a", now)], now)
    taken = count_claims(monkeypatch)
    real_send = bot.send
    queued = False

    async def send_and_queue(to: ChatAddress, message: OutgoingMessage) -> None:
        nonlocal queued
        await real_send(to, message)
        if not queued:
            queued = True
            add(app, [row("b", now)], now)
            app.wake_all()

    monkeypatch.setattr(bot, "send", send_and_queue)
    bot.sent.clear()
    await app.sent()
    assert taken == [1, 1]
    assert [s.to.chat_id for s in bot.sent] == ["a", "b"]
