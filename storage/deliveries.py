"""The delivery log: each scheduled delivery is claimed once per (job, recipient scope, day).

A delivery moves claimed → sending → sent (or unreachable). A restart re-runs what was only
claimed (nothing went out yet), but never what was sending: it may have gone out, and a
counselor must never get the same roll-up twice. Two processes on one database share the
log, so the unique row, not process state, decides who sends.

The runner claims each delivery in the transaction that records how the previous one went,
and a claim moves to sending only if it is still the one this run made (`start_sending`),
so a run slow enough for another process to take its claim over after the lease does not
send it. Each transition is one prepared Core statement on a plain connection.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Delivery

# A claim older than this whose process never moved it on is taken over by the next run.
CLAIM_LEASE = timedelta(minutes=2)


class Status(enum.StrEnum):
    CLAIMED = "claimed"
    # Its messages are in the outbox (storage.outbox settles it as sent, expired or
    # unreachable from how they went).
    QUEUED = "queued"
    # Left by the code before the outbox, which sent inline; kept readable.
    SENDING = "sending"
    SENT = "sent"
    EXPIRED = "expired"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


# Scopes per statement when claiming many: well under every database's parameter limit.
_CHUNK = 500


def _insert(db: Session | Connection) -> Any:
    bind = db if isinstance(db, Connection) else db.get_bind()
    module: Any = postgresql if bind.dialect.name == "postgresql" else sqlite
    return module.insert(Delivery)


@dataclass(frozen=True)
class Claim:
    """A delivery this run holds: its row, and the claim time that proves the hold."""

    id: int
    scope: str
    claimed_at: datetime


def claim_all(
    conn: Connection, job: str, scopes: Sequence[str], day: date, now: datetime
) -> dict[str, Claim]:
    """Claim many deliveries at once (new ones, and stale claims taken over), by scope.

    Scopes another run holds, or that went further than claimed, are left out.
    """
    out: dict[str, Claim] = {}
    for i in range(0, len(scopes), _CHUNK):
        chunk = list(dict.fromkeys(scopes[i : i + _CHUNK]))
        rows = conn.execute(
            _insert(conn)
            .on_conflict_do_nothing(index_elements=["job", "scope", "day"])
            .returning(Delivery.id, Delivery.scope),
            [
                {
                    "job": job,
                    "scope": scope,
                    "day": day,
                    "status": Status.CLAIMED.value,
                    "claimed_at": now,
                }
                for scope in chunk
            ],
        )
        for delivery_id, scope in rows:
            out[scope] = Claim(int(delivery_id), scope, now)
        rest = [scope for scope in chunk if scope not in out]
        if not rest:
            continue
        # Take over claims whose process died before it sent anything.
        taken = conn.execute(
            update(Delivery)
            .where(
                Delivery.job == job,
                Delivery.day == day,
                Delivery.scope.in_(rest),
                Delivery.status == Status.CLAIMED.value,
                Delivery.claimed_at < now - CLAIM_LEASE,
            )
            .values(claimed_at=now)
            .returning(Delivery.id, Delivery.scope)
        )
        for delivery_id, scope in taken:
            out[scope] = Claim(int(delivery_id), scope, now)
    return out


@functools.cache
def _transitions() -> tuple[Any, Any, Any]:
    """The statements each delivery runs, built once: a roll-up runs them 800+ times."""
    start = (
        update(Delivery)
        .where(
            Delivery.id == bindparam("delivery_id"),
            Delivery.status == Status.CLAIMED.value,
            Delivery.claimed_at == bindparam("held_since"),
        )
        .values(status=Status.QUEUED.value)
    )
    finish = (
        update(Delivery)
        .where(Delivery.id == bindparam("delivery_id"))
        .values(status=bindparam("status"), detail=bindparam("detail"), sent_at=bindparam("now"))
    )
    move = (
        update(Delivery)
        .where(Delivery.id == bindparam("delivery_id"))
        .values(status=bindparam("status"), detail=bindparam("detail"))
    )
    return start, finish, move


@functools.cache
def _claim_statements(dialect: str) -> tuple[Any, Any]:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    insert = (
        module.insert(Delivery)
        .values(
            job=bindparam("b_job"),
            scope=bindparam("b_scope"),
            day=bindparam("b_day"),
            status=Status.CLAIMED.value,
            claimed_at=bindparam("b_now"),
        )
        .on_conflict_do_nothing(index_elements=["job", "scope", "day"])
        .returning(Delivery.id)
    )
    take_over = (
        update(Delivery)
        .where(
            Delivery.job == bindparam("b_job"),
            Delivery.scope == bindparam("b_scope"),
            Delivery.day == bindparam("b_day"),
            Delivery.status == Status.CLAIMED.value,
            Delivery.claimed_at < bindparam("b_stale_before"),
        )
        .values(claimed_at=bindparam("b_now"))
        .returning(Delivery.id)
    )
    return insert, take_over


def claim_one(conn: Connection, job: str, scope: str, day: date, now: datetime) -> Claim | None:
    """Claim one delivery (or take over a stale claim); None when another run holds it."""
    insert, take_over = _claim_statements(conn.dialect.name)
    params = {"b_job": job, "b_scope": scope, "b_day": day, "b_now": now}
    found = conn.execute(insert, params).scalar()
    if found is None:
        found = conn.execute(take_over, {**params, "b_stale_before": now - CLAIM_LEASE}).scalar()
    return Claim(int(found), scope, now) if found is not None else None


def start_queueing(conn: Connection, claim: Claim) -> bool:
    """Move a claim to queued (its messages go into the outbox in the same transaction);
    False if another run has taken it over since."""
    start, _, _ = _transitions()
    result = conn.execute(start, {"delivery_id": claim.id, "held_since": claim.claimed_at})
    return bool(result.rowcount == 1)


def claim(session: Session, job: str, scope: str, day: date, now: datetime) -> int | None:
    """Claim one delivery; None when another run has it (or had it)."""
    stmt = (
        _insert(session)
        .values(job=job, scope=scope, day=day, status=Status.CLAIMED.value, claimed_at=now)
        .on_conflict_do_nothing(index_elements=["job", "scope", "day"])
        .returning(Delivery.id)
    )
    new_id = session.execute(stmt).scalar()
    if new_id is not None:
        return int(new_id)
    # Take over a claim whose process died before it sent anything.
    taken = session.execute(
        update(Delivery)
        .where(
            Delivery.job == job,
            Delivery.scope == scope,
            Delivery.day == day,
            Delivery.status == Status.CLAIMED.value,
            Delivery.claimed_at < now - CLAIM_LEASE,
        )
        .values(claimed_at=now)
        .returning(Delivery.id)
    ).scalar()
    return int(taken) if taken is not None else None


def mark(
    session: Session | Connection,
    delivery_id: int,
    status: Status,
    now: datetime,
    detail: str | None = None,
) -> None:
    _, finish, move = _transitions()
    params = {"delivery_id": delivery_id, "status": status.value, "detail": detail}
    if status in (Status.SENT, Status.UNREACHABLE, Status.EXPIRED):
        session.execute(finish, {**params, "now": now})
    else:
        session.execute(move, params)


def settled_scopes(session: Session, job: str, day: date, now: datetime) -> set[str]:
    """Scopes of a job and day that need no attempt: done, sending, or freshly claimed."""
    rows = session.execute(
        select(Delivery.scope, Delivery.status, Delivery.claimed_at).where(
            Delivery.job == job, Delivery.day == day
        )
    )
    return {
        scope
        for scope, status, claimed_at in rows
        if status != Status.CLAIMED.value or claimed_at >= now - CLAIM_LEASE
    }


def any_for(session: Session, job: str, day: date) -> bool:
    return (
        session.scalar(select(Delivery.id).where(Delivery.job == job, Delivery.day == day).limit(1))
        is not None
    )


def record_skip(session: Session, job: str, day: date, now: datetime, why: str) -> bool:
    """Record once that a job's delivery for a day was skipped; False if already recorded."""
    stmt = (
        _insert(session)
        .values(
            job=job, scope="*", day=day, status=Status.SKIPPED.value, claimed_at=now, detail=why
        )
        .on_conflict_do_nothing(index_elements=["job", "scope", "day"])
        .returning(Delivery.id)
    )
    return session.execute(stmt).scalar() is not None


def unreachable_people(session: Session, day: date) -> list[tuple[str, int, str, str]]:
    """(job, person id, status, reason) of the day's person deliveries that reached nobody:
    refused for good (unreachable), or not sent before their deadline (expired)."""
    rows = session.execute(
        select(Delivery.job, Delivery.scope, Delivery.status, Delivery.detail).where(
            Delivery.day == day,
            Delivery.status.in_((Status.UNREACHABLE.value, Status.EXPIRED.value)),
            Delivery.scope.like("person:%"),
        )
    )
    return [
        (job, int(scope.split(":", 1)[1]), status, detail or "")
        for job, scope, status, detail in rows
    ]
