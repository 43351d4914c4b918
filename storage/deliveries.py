"""The delivery log: each scheduled delivery is claimed once per (job, recipient scope, day).

A delivery moves claimed → sending → sent (or unreachable). A restart re-runs what was only
claimed (nothing went out yet), but never what was sending: it may have gone out, and a
counselor must never get the same roll-up twice. Two processes on one database share the
log, so the unique row, not process state, decides who sends.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Delivery

# A claim older than this whose process never moved it on is taken over by the next run.
CLAIM_LEASE = timedelta(minutes=2)


class Status(enum.StrEnum):
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(Delivery)


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
    session: Session, delivery_id: int, status: Status, now: datetime, detail: str | None = None
) -> None:
    values: dict[str, Any] = {"status": status.value, "detail": detail}
    if status in (Status.SENT, Status.UNREACHABLE):
        values["sent_at"] = now
    session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


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


def unreachable_people(session: Session, day: date) -> list[tuple[str, int, str]]:
    """(job, person id, reason) of the day's person deliveries that reached nobody."""
    rows = session.execute(
        select(Delivery.job, Delivery.scope, Delivery.detail).where(
            Delivery.day == day,
            Delivery.status == Status.UNREACHABLE.value,
            Delivery.scope.like("person:%"),
        )
    )
    return [(job, int(scope.split(":", 1)[1]), detail or "") for job, scope, detail in rows]
