"""The inbound log: each platform message or update is handled once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.db import Multi, Prepared
from storage.models import InboundMessage


def _claim_statement(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: every message runs it."""
    table = cast(Table, InboundMessage.__table__)
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no insert-or-ignore for {dialect}")
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(table)
        .values(
            platform=bindparam("platform"),
            key=bindparam("key"),
            payload=bindparam("payload"),
            received_at=bindparam("received_at"),
            processed_at=bindparam("processed_at"),
        )
        .on_conflict_do_nothing(index_elements=["platform", "key"])
        .returning(table.c.id)
    )


_CLAIM = Prepared(_claim_statement)


def claim(
    session: Session, platform: str, key: str, now: datetime, payload: str | None = None
) -> bool:
    """Record a message as seen; False when it was seen before (a duplicate delivery)."""
    # A prepared statement on the session's connection: the same transaction, without
    # SQLAlchemy's per-statement set-up for a row nobody loads.
    params = {
        "platform": platform,
        "key": key[:200],
        "payload": payload,
        "received_at": now,
        "processed_at": None if payload is not None else now,
    }
    return bool(_CLAIM.rows(session, params))


# Many messages at once: the key of each one seen for the first time comes back.
_CLAIM_MANY = Multi(
    lambda dialect: (
        "INSERT INTO inbound_messages (platform, key, received_at, processed_at)"
        " VALUES {rows} ON CONFLICT (platform, key) DO NOTHING RETURNING platform, key",
        "(?, ?, ?, ?)",
    )
)


def claim_many(
    session: Session, messages: Sequence[tuple[str, str]], now: datetime
) -> set[tuple[str, str]]:
    """`claim` for many (platform, key) pairs, each distinct: those seen for the first time."""
    rows = [(platform, key[:200], now, now) for platform, key in messages]
    if len(set(r[:2] for r in rows)) != len(rows):
        raise ValueError("a message twice in one claim")
    if not rows:
        return set()
    claimed = {(p, k) for p, k in _CLAIM_MANY.rows(session, rows)}
    return {(p, key) for p, key in messages if (p, key[:200]) in claimed}


def pending(session: Session, platform: str, limit: int = 100) -> list[InboundMessage]:
    """Stored payloads not yet processed, oldest first."""
    return list(
        session.scalars(
            select(InboundMessage)
            .where(
                InboundMessage.platform == platform,
                InboundMessage.processed_at.is_(None),
                InboundMessage.payload.is_not(None),
            )
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )


def mark_processed(session: Session, row_id: int, now: datetime) -> None:
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == row_id)
        .values(processed_at=now, payload=None)
    )


def mark_processed_many(session: Session, row_ids: Iterable[int], now: datetime) -> None:
    ids = sorted(set(row_ids))
    if ids:
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.id.in_(ids))
            .values(processed_at=now, payload=None)
        )


def prune(session: Session, before: datetime) -> int:
    """Forget processed messages received before `before`."""
    result = session.execute(
        delete(InboundMessage).where(
            InboundMessage.received_at < before, InboundMessage.processed_at.is_not(None)
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
