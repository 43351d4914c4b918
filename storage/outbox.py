"""The outbox: every message the bot says, one row per (cause, account), and its claim protocol.

Rows are written in the transaction of their cause and move queued → claimed → sending →
sent (or expired, or unreachable). Every transition is a conditional update on the row's
status and claim token, so several sender processes share the table without sending a row
twice: a claim only takes rows still queued, and a send starts only if the claim is still
the sender's own.

Crash semantics live here too (`recover`): a claimed row was never handed to the platform
and is queued again; a row left sending may have arrived, so a private row is queued again
(at least once) and a group row is expired (at most once).
"""

from __future__ import annotations

import enum
import functools
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from storage.db import Prepared
from storage.models import Delivery, OutboxMessage


class Kind(enum.StrEnum):
    REPLY = "reply"
    ALERT = "alert"
    APPROVAL = "approval"
    REMINDER = "reminder"
    ROLLUP = "rollup"
    FILE = "file"
    ACK = "ack"


# SPEC §9: the reply to what a person just sent first, group acknowledgements last.
PRIORITY = {
    Kind.REPLY: 1,
    Kind.ALERT: 2,
    Kind.APPROVAL: 2,
    Kind.REMINDER: 3,
    Kind.ROLLUP: 4,
    Kind.FILE: 4,
    Kind.ACK: 5,
}


class Status(enum.StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    EXPIRED = "expired"
    UNREACHABLE = "unreachable"


FINAL = (Status.SENT.value, Status.EXPIRED.value, Status.UNREACHABLE.value)
HELD = (Status.CLAIMED.value, Status.SENDING.value)

# Chats per claim: each gets its own task; a few hundred keep Telegram's 30 msg/s busy.
CLAIM_CHATS = 200
_REASON = 300

T = cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True)
class NewRow:
    """One row to queue."""

    cause: str
    platform: str
    chat_id: str
    is_group: bool
    person_id: int | None
    kind: Kind
    body: dict[str, Any]
    deadline: datetime
    attachment: tuple[str, str, str] | None = None  # (path, filename, mime type)
    coalesce_key: str | None = None
    delivery_id: int | None = None


@dataclass(frozen=True)
class Row:
    """A row as a sender holds it."""

    id: int
    chat_id: str
    is_group: bool
    person_id: int | None
    kind: str
    priority: int
    body: dict[str, Any]
    attachment: tuple[str, str, str] | None
    coalesce_key: str | None
    delivery_id: int | None
    attempts: int
    created_at: datetime
    deadline: datetime
    cause: str
    reason: str | None = None


_ADD = Prepared(
    lambda dialect: insert(T).values(
        {
            name: bindparam(name)
            for name in (
                "cause",
                "platform",
                "chat_id",
                "is_group",
                "person_id",
                "kind",
                "priority",
                "body",
                "attachment_path",
                "attachment_name",
                "attachment_type",
                "coalesce_key",
                "delivery_id",
                "status",
                "attempts",
                "created_at",
                "next_attempt_at",
                "deadline",
            )
        }
    )
)


def add(db: Session | Connection, rows: Sequence[NewRow], now: datetime) -> None:
    """Queue rows, due at once, in the caller's transaction (a prepared statement: a
    check-in's acknowledgement is written by every message)."""
    _ADD.many(
        db,
        [
            {
                "cause": r.cause[:200],
                "platform": r.platform,
                "chat_id": r.chat_id,
                "is_group": r.is_group,
                "person_id": r.person_id,
                "kind": r.kind.value,
                "priority": PRIORITY[r.kind],
                "body": json.dumps(r.body, ensure_ascii=False),
                "attachment_path": r.attachment[0] if r.attachment else None,
                "attachment_name": r.attachment[1] if r.attachment else None,
                "attachment_type": r.attachment[2] if r.attachment else None,
                "coalesce_key": r.coalesce_key,
                "delivery_id": r.delivery_id,
                "status": Status.QUEUED.value,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "deadline": r.deadline,
            }
            for r in rows
        ],
    )


_COLUMNS = (
    T.c.id,
    T.c.chat_id,
    T.c.is_group,
    T.c.person_id,
    T.c.kind,
    T.c.priority,
    T.c.body,
    T.c.attachment_path,
    T.c.attachment_name,
    T.c.attachment_type,
    T.c.coalesce_key,
    T.c.delivery_id,
    T.c.attempts,
    T.c.created_at,
    T.c.deadline,
    T.c.cause,
    T.c.reason,
)


def _row(r: Any) -> Row:
    attachment = (
        (r.attachment_path, r.attachment_name, r.attachment_type) if r.attachment_path else None
    )
    return Row(
        id=r.id,
        chat_id=r.chat_id,
        is_group=r.is_group,
        person_id=r.person_id,
        kind=r.kind,
        priority=r.priority,
        body=json.loads(r.body) if r.body else {},
        attachment=attachment,
        coalesce_key=r.coalesce_key,
        delivery_id=r.delivery_id,
        attempts=r.attempts,
        created_at=r.created_at,
        deadline=r.deadline,
        cause=r.cause,
        reason=r.reason,
    )


@functools.cache
def _claim_statements() -> tuple[Any, Any]:
    """The claim's two statements, built once: a busy sender runs them every cycle."""
    held = T.alias("held")
    waiting = T.alias("waiting")
    acked = T.alias("acked")
    chat_free = not_(
        exists().where(
            held.c.platform == T.c.platform,
            held.c.chat_id == T.c.chat_id,
            held.c.status.in_(HELD),
        )
    )
    not_waiting = not_(
        exists().where(
            waiting.c.platform == T.c.platform,
            waiting.c.chat_id == T.c.chat_id,
            waiting.c.status == Status.QUEUED.value,
            waiting.c.next_attempt_at > bindparam("b_now"),
            waiting.c.kind != Kind.ACK.value,
        )
    )
    ack_quiet = not_(
        exists().where(
            acked.c.platform == T.c.platform,
            acked.c.chat_id == T.c.chat_id,
            acked.c.kind == Kind.ACK.value,
            acked.c.status == Status.SENT.value,
            acked.c.sent_at > bindparam("b_acked_after"),
        )
    )
    is_ack = case((T.c.kind == Kind.ACK.value, 1), else_=0)
    chats = (
        select(T.c.chat_id, func.max(is_ack).label("acks"))
        .where(
            T.c.platform == bindparam("b_platform"),
            T.c.status == Status.QUEUED.value,
            T.c.next_attempt_at <= bindparam("b_now"),
            or_(
                T.c.kind != Kind.ACK.value,
                and_(T.c.created_at <= bindparam("b_waited_since"), ack_quiet),
            ),
            chat_free,
            not_waiting,
        )
        .group_by(T.c.chat_id)
        .order_by(func.min(T.c.priority), func.min(T.c.id))
        .limit(bindparam("b_chats"))
    )
    take = (
        update(T)
        .where(
            T.c.platform == bindparam("b_platform"),
            T.c.status == Status.QUEUED.value,
            T.c.chat_id.in_(bindparam("b_chat_ids", expanding=True)),
            or_(
                and_(T.c.kind != Kind.ACK.value, T.c.next_attempt_at <= bindparam("b_now")),
                and_(
                    T.c.kind == Kind.ACK.value,
                    T.c.chat_id.in_(bindparam("b_ack_chat_ids", expanding=True)),
                ),
            ),
        )
        .values(
            status=Status.CLAIMED.value,
            claim_token=bindparam("b_token"),
            claimed_at=bindparam("b_now"),
        )
        .returning(*_COLUMNS)
    )
    return chats, take


_CLAIM_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def claim_due(
    conn: Connection,
    platform: str,
    token: str,
    now: datetime,
    *,
    ack_wait: float,
    ack_interval: float,
    chats: int = CLAIM_CHATS,
) -> list[Row]:
    """Claim the due rows of up to `chats` chats for this sender, best priority first.

    A chat is left alone while any sender holds a row of it (claimed or sending) and while
    one of its rows waits for a retry, so each chat is sent in order by one sender at a
    time. Group acknowledgements are due when the oldest has waited `ack_wait` seconds and
    the chat had none sent within `ack_interval`; then all of that chat's queued
    acknowledgements are taken together, to go out as one message.
    """
    find, take = _claim_statements()
    if conn.dialect.name == "postgresql":
        # Senders of one platform in several processes claim in turn: `take` does not look
        # again at whether another sender holds a chat, so two claims interleaved could
        # split a chat's rows between two senders and send them out of order. Each claim
        # runs after the one before has committed, and its statements see that claim.
        conn.execute(_CLAIM_LOCK, {"key": zlib.crc32(f"outbox:{platform}".encode())})
    found = conn.execute(
        find,
        {
            "b_platform": platform,
            "b_now": now,
            "b_waited_since": now - timedelta(seconds=ack_wait),
            "b_acked_after": now - timedelta(seconds=ack_interval),
            "b_chats": chats,
        },
    ).all()
    if not found:
        return []
    result = conn.execute(
        take,
        {
            "b_platform": platform,
            "b_now": now,
            "b_token": token,
            "b_chat_ids": [r.chat_id for r in found],
            "b_ack_chat_ids": [r.chat_id for r in found if r.acks] or [""],
        },
    )
    claimed = [_row(r) for r in result]
    claimed.sort(key=lambda r: (r.priority, r.id))
    return claimed


@functools.cache
def _start_statement() -> Any:
    return (
        update(T)
        .where(
            T.c.id.in_(bindparam("b_ids", expanding=True)),
            T.c.status == Status.CLAIMED.value,
            T.c.claim_token == bindparam("b_token"),
        )
        .values(status=Status.SENDING.value, claimed_at=bindparam("b_now"))
    )


def start_sending(conn: Connection, row_ids: Sequence[int], token: str, now: datetime) -> bool:
    """Claimed → sending, just before the platform call; False if the claim was taken over."""
    result = conn.execute(
        _start_statement(), {"b_ids": list(row_ids), "b_token": token, "b_now": now}
    )
    return bool(result.rowcount == len(row_ids))


@functools.cache
def _finish_statements() -> tuple[Any, Any]:
    done = (
        update(T)
        .where(
            T.c.id.in_(bindparam("b_ids", expanding=True)),
            T.c.claim_token == bindparam("b_token"),
            T.c.status.in_(HELD),
        )
        .values(
            status=bindparam("b_status"),
            claim_token=None,
            sent_at=bindparam("b_sent_at"),
            reason=func.coalesce(bindparam("b_reason"), T.c.reason),
        )
    )
    deliveries = (
        select(T.c.delivery_id)
        .where(T.c.id.in_(bindparam("b_ids", expanding=True)), T.c.delivery_id.is_not(None))
        .distinct()
    )
    return done, deliveries


def finish(
    conn: Connection,
    row_ids: Sequence[int],
    token: str,
    status: Status,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Record how a send ended, and what that means for the scheduled delivery it belongs to."""
    ids = list(row_ids)
    done, find_deliveries = _finish_statements()
    conn.execute(
        done,
        {
            "b_ids": ids,
            "b_token": token,
            "b_status": status.value,
            "b_sent_at": now if status is Status.SENT else None,
            "b_reason": reason[:_REASON] if reason is not None else None,
        },
    )
    for delivery_id in conn.scalars(find_deliveries, {"b_ids": ids}).all():
        settle_delivery(conn, delivery_id, now)


def settle_delivery(conn: Connection, delivery_id: int, now: datetime) -> None:
    """A scheduled delivery is sent once any of its rows is; it failed once all of them have."""
    rows = conn.execute(
        select(T.c.status, T.c.reason).where(T.c.delivery_id == delivery_id).order_by(T.c.id)
    ).all()
    statuses = {status for status, _ in rows}
    if Status.SENT.value in statuses:
        conn.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status != Status.SENT.value)
            .values(status=Status.SENT.value, sent_at=now, detail=None)
        )
        return
    if not rows or not statuses <= {Status.EXPIRED.value, Status.UNREACHABLE.value}:
        return
    # Refused for good anywhere says more than an outage; otherwise the delivery expired.
    status = (
        Status.UNREACHABLE.value if Status.UNREACHABLE.value in statuses else Status.EXPIRED.value
    )
    reasons = "; ".join(dict.fromkeys(reason or "" for s, reason in rows if s == status))
    conn.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "queued")
        .values(status=status, sent_at=now, detail=reasons[:500])
    )


def retry(
    conn: Connection,
    row_ids: Sequence[int],
    token: str,
    next_at: datetime,
    reason: str,
) -> None:
    """Back to the queue after a transient failure, to be tried again at `next_at`."""
    conn.execute(
        update(OutboxMessage)
        .where(T.c.id.in_(list(row_ids)), T.c.claim_token == token, T.c.status.in_(HELD))
        .values(
            status=Status.QUEUED.value,
            claim_token=None,
            claimed_at=None,
            next_attempt_at=next_at,
            attempts=T.c.attempts + 1,
            reason=reason[:_REASON],
        )
    )


def release(conn: Connection, token: str) -> int:
    """Rows this sender claimed but never started: back to the queue (a clean stop)."""
    result = conn.execute(
        update(OutboxMessage)
        .where(T.c.claim_token == token, T.c.status == Status.CLAIMED.value)
        .values(status=Status.QUEUED.value, claim_token=None, claimed_at=None)
    )
    return int(result.rowcount or 0)


def release_rows(conn: Connection, row_ids: Sequence[int], token: str) -> None:
    """Claimed rows this sender will not send now: back to the queue, due at once."""
    conn.execute(
        update(OutboxMessage)
        .where(
            T.c.id.in_(list(row_ids)),
            T.c.claim_token == token,
            T.c.status == Status.CLAIMED.value,
        )
        .values(status=Status.QUEUED.value, claim_token=None, claimed_at=None)
    )


@dataclass(frozen=True)
class Recovered:
    requeued: int
    expired: int


def recover(
    conn: Connection, platform: str, token: str, now: datetime, lease: timedelta
) -> Recovered:
    """Take over what a dead sender left: claims older than the lease, and sends in flight.

    Never the calling sender's own rows (its token), which are alive.
    """
    stale = and_(
        T.c.platform == platform,
        or_(T.c.claim_token.is_(None), T.c.claim_token != token),
        T.c.claimed_at < now - lease,
    )
    requeued = conn.execute(
        update(OutboxMessage)
        .where(
            stale,
            or_(
                T.c.status == Status.CLAIMED.value,
                and_(T.c.status == Status.SENDING.value, T.c.is_group.is_(False)),
            ),
        )
        .values(status=Status.QUEUED.value, claim_token=None, claimed_at=None)
    ).rowcount
    expired_ids = conn.scalars(
        update(OutboxMessage)
        .where(stale, T.c.status == Status.SENDING.value, T.c.is_group.is_(True))
        .values(
            status=Status.EXPIRED.value,
            claim_token=None,
            reason="maybe sent before the restart",
        )
        .returning(T.c.id)
    ).all()
    _settle_all(conn, expired_ids, now)
    return Recovered(int(requeued or 0), len(expired_ids))


@functools.cache
def _expire_statement() -> Any:
    return (
        update(T)
        .where(
            T.c.platform == bindparam("b_platform"),
            T.c.status == Status.QUEUED.value,
            T.c.deadline < bindparam("b_now"),
        )
        .values(
            status=Status.EXPIRED.value, reason=func.coalesce(T.c.reason, bindparam("b_reason"))
        )
        .returning(*_COLUMNS)
    )


def expire_overdue(conn: Connection, platform: str, now: datetime, reason: str) -> list[Row]:
    """Queued rows past their deadline become expired, keeping the last failure as the reason."""
    rows = conn.execute(
        _expire_statement(), {"b_platform": platform, "b_now": now, "b_reason": reason}
    ).all()
    expired = [_row(r) for r in rows]
    _settle_all(conn, [r.id for r in expired], now)
    return expired


def _settle_all(conn: Connection, row_ids: Sequence[int], now: datetime) -> None:
    if not row_ids:
        return
    deliveries = conn.scalars(
        select(T.c.delivery_id)
        .where(T.c.id.in_(list(row_ids)), T.c.delivery_id.is_not(None))
        .distinct()
    ).all()
    for delivery_id in deliveries:
        settle_delivery(conn, delivery_id, now)


def files_still_needed(conn: Connection, paths: Iterable[str]) -> set[str]:
    """Of these attachment files, those a row not yet final still needs."""
    wanted = list(set(paths))
    if not wanted:
        return set()
    return set(
        conn.scalars(
            select(T.c.attachment_path)
            .where(T.c.attachment_path.in_(wanted), T.c.status.not_in(FINAL))
            .distinct()
        )
    )


def outcome(session: Session | Connection, cause: str) -> tuple[str, str] | None:
    """(status, reason) of a cause's rows once they are all final; sent if any one was."""
    rows = session.execute(select(T.c.status, T.c.reason).where(T.c.cause == cause)).all()
    if not rows or any(status not in FINAL for status, _ in rows):
        return None
    if any(status == Status.SENT.value for status, _ in rows):
        return Status.SENT.value, ""
    return rows[-1][0], "; ".join(dict.fromkeys(reason or "" for _, reason in rows))


def reached_none(session: Session, cause: str, person_id: int) -> bool:
    """Whether every row of a cause for a person is final and none of them was sent."""
    found = set(
        session.scalars(select(T.c.status).where(T.c.cause == cause, T.c.person_id == person_id))
    )
    return bool(found) and found <= {Status.EXPIRED.value, Status.UNREACHABLE.value}


# -- seeing the outbox -------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of `classbot outbox`: metadata only, never a body."""

    platform: str
    state: str  # pending / retrying / expired / unreachable
    kind: str
    reason: str
    count: int


def overview(session: Session, since: datetime) -> list[Line]:
    """Pending and retrying rows, and rows that failed since `since`, by platform and reason."""
    # Literals, not bound values: PostgreSQL matches GROUP BY expressions by their text.
    state = func.coalesce(T.c.reason, literal_column("''"))
    retried = T.c.attempts > literal_column("0")
    rows = session.execute(
        select(T.c.platform, T.c.status, retried, T.c.kind, state, func.count())
        .where(
            or_(
                T.c.status.in_((Status.QUEUED.value, *HELD)),
                and_(
                    T.c.status.in_((Status.EXPIRED.value, Status.UNREACHABLE.value)),
                    T.c.created_at >= since,
                ),
            )
        )
        .group_by(T.c.platform, T.c.status, retried, T.c.kind, state)
    ).all()
    out: dict[tuple[str, str, str, str], int] = {}
    for platform, status, retried, kind, reason, count in rows:
        if status in (Status.EXPIRED.value, Status.UNREACHABLE.value):
            label = status
        else:
            label = "retrying" if retried else "pending"
            if label == "pending":
                reason = ""
        key = (platform, label, kind, reason)
        out[key] = out.get(key, 0) + int(count)
    order = {"pending": 0, "retrying": 1, "expired": 2, "unreachable": 3}
    return [
        Line(p, s, k, r, n)
        for (p, s, k, r), n in sorted(
            out.items(), key=lambda i: (i[0][0], order[i[0][1]], i[0][2:])
        )
    ]


@dataclass(frozen=True)
class Health:
    """A day's delivery health, for the school admin's roll-up."""

    sent: int
    retried: int
    expired: int
    unreachable: int


def health(session: Session, since: datetime, until: datetime) -> Health:
    was = T.c.attempts > literal_column("0")
    rows = session.execute(
        select(T.c.status, was, func.count())
        .where(T.c.created_at >= since, T.c.created_at < until)
        .group_by(T.c.status, was)
    ).all()
    sent = retried = expired = unreachable = 0
    for status, was_retried, count in rows:
        if was_retried:
            retried += int(count)
        if status == Status.SENT.value:
            sent += int(count)
        elif status == Status.EXPIRED.value:
            expired += int(count)
        elif status == Status.UNREACHABLE.value:
            unreachable += int(count)
    return Health(sent, retried, expired, unreachable)


def failed_alerts(session: Session, since: datetime, until: datetime) -> list[tuple[int, str, str]]:
    """(person id, status, reason) of alerts queued in [since, until) that reached none of
    the person's accounts."""
    rows = session.execute(
        select(T.c.person_id, T.c.cause, T.c.status, T.c.reason).where(
            T.c.kind.in_((Kind.ALERT.value, Kind.APPROVAL.value)),
            T.c.created_at >= since,
            T.c.created_at < until,
            T.c.person_id.is_not(None),
        )
    ).all()
    by_cause: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for pid, cause, status, reason in rows:
        by_cause.setdefault((pid, cause), []).append((status, reason or ""))
    out = []
    for (pid, _), outcomes in by_cause.items():
        states = {s for s, _ in outcomes}
        if states <= {Status.EXPIRED.value, Status.UNREACHABLE.value}:
            status, reason = outcomes[-1]
            out.append((pid, status, reason))
    return out


def purge_bodies(session: Session, before: datetime) -> tuple[int, list[str]]:
    """Drop the bodies of final rows queued before `before`; returns (rows, files to delete)."""
    old = and_(T.c.created_at < before, T.c.status.in_(FINAL))
    files = [
        p
        for p in session.scalars(
            select(T.c.attachment_path).where(old, T.c.attachment_path.is_not(None)).distinct()
        )
        if p
    ]
    result = session.execute(
        update(OutboxMessage)
        .where(old, or_(T.c.body.is_not(None), T.c.attachment_path.is_not(None)))
        .values(body=None, attachment_path=None)
    )
    return int(result.rowcount or 0), files  # type: ignore[attr-defined]
