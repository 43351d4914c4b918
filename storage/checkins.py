"""每日健康打卡: storing check-ins (one current row per student and day, every version kept)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.db import Multi, Prepared
from storage.models import CheckIn, CheckInRevision, Role

STUDENT_ROLES = (Role.STUDENT.value, Role.MONITOR.value)


@dataclass(frozen=True)
class CheckInInput:
    student_id: int
    class_id: int
    day: date
    temp_tenths: int
    symptoms: tuple[str, ...]
    city: str | None
    note: str | None
    abnormal: bool
    late: bool
    submitted_at: datetime
    platform: str


@dataclass(frozen=True)
class Stored:
    revision: int
    # Some reading of the day, this one included, was abnormal.
    abnormal_today: bool = False
    # The class's count for the group acknowledgement: checked in today (this one
    # included) and roster size, both read in the check-in's own transaction.
    done: int = 0
    roster: int = 0
    # The class the message's group chat is bound to (None: a private chat, or unbound).
    group_class_id: int | None = None

    @property
    def replaced(self) -> bool:
        return self.revision > 1


@dataclass(frozen=True)
class Reading:
    """One submission of the day, as kept in the revisions."""

    revision: int
    temp_tenths: int
    symptoms: tuple[str, ...]
    abnormal: bool
    submitted_at: datetime


_COLUMNS = (
    "student_id, class_id, day, temp_tenths, symptoms, city, note, abnormal, abnormal_today,"
    " late, submitted_at, platform, revision"
)
_REPLACE = (
    "ON CONFLICT (student_id, day) DO UPDATE SET class_id = excluded.class_id,"
    " temp_tenths = excluded.temp_tenths, symptoms = excluded.symptoms, city = excluded.city,"
    " note = excluded.note, abnormal = excluded.abnormal,"
    " abnormal_today = checkins.abnormal_today OR excluded.abnormal, late = excluded.late,"
    " submitted_at = excluded.submitted_at, platform = excluded.platform,"
    " revision = checkins.revision + 1"
)
_REVISION_COLUMNS = (
    "student_id, day, revision, temp_tenths, symptoms, city, note, abnormal, late, submitted_at"
)


_ROW = (
    "student_id", "class_id", "day", "temp_tenths", "symptoms", "city", "note", "abnormal",
    "late", "submitted_at", "platform", "g_platform", "g_chat",
)  # fmt: skip
_ROLES = ", ".join(f"'{role}'" for role in STUDENT_ROLES)


def _record_statement(dialect: str) -> tuple[str, str]:
    """The upsert of many check-ins (one row each of `_ROW`), their revisions and counts."""
    if dialect == "postgresql":
        # One round trip: the upserts, their revisions and each class's count. The count
        # reads the statement's snapshot, taken after the class lock (see `record_many`):
        # every check-in of the class committed before, except those this statement
        # replaces, plus this statement's own.
        casts = (
            "integer", "integer", "date", "integer", "text", "text", "text", "boolean",
            "boolean", "timestamptz", "text", "text", "text",
        )  # fmt: skip
        row = "(" + ", ".join(f"CAST(? AS {t})" for t in casts) + ")"
        return (
            f"WITH v ({', '.join(_ROW)}) AS (VALUES {{rows}}),"
            f" up AS (INSERT INTO checkins ({_COLUMNS})"
            " SELECT student_id, class_id, day, temp_tenths, symptoms, city, note, abnormal,"
            " abnormal, late, submitted_at, platform, 1 FROM v"
            f" {_REPLACE} RETURNING student_id, day, revision, abnormal_today),"
            f" rev AS (INSERT INTO checkin_revisions ({_REVISION_COLUMNS})"
            " SELECT v.student_id, v.day, up.revision, v.temp_tenths, v.symptoms, v.city,"
            " v.note, v.abnormal, v.late, v.submitted_at FROM up"
            " JOIN v ON v.student_id = up.student_id AND v.day = up.day)"
            " SELECT up.student_id, up.day, up.revision, up.abnormal_today,"
            " (SELECT count(*) FROM checkins c WHERE c.class_id = v.class_id"
            " AND c.day = v.day AND NOT EXISTS (SELECT 1 FROM v w"
            " WHERE w.student_id = c.student_id AND w.day = c.day))"
            " + (SELECT count(*) FROM v w WHERE w.class_id = v.class_id AND w.day = v.day),"
            " (SELECT count(*) FROM people p WHERE p.class_id = v.class_id"
            f" AND p.role IN ({_ROLES}) AND p.active = true),"
            " (SELECT g.class_id FROM group_chats g"
            " WHERE g.platform = v.g_platform AND g.chat_id = v.g_chat)"
            " FROM up JOIN v ON v.student_id = up.student_id AND v.day = up.day",
            row,
        )
    if dialect == "sqlite":
        # SQLite has no INSERT in a WITH clause: the revisions and the counts are
        # statements of their own, in the same transaction (SQLite has one writer).
        return (
            f"INSERT INTO checkins ({_COLUMNS}) VALUES {{rows}} {_REPLACE}"
            " RETURNING student_id, day, revision, abnormal_today",
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        )
    raise NotImplementedError(f"no check-in upsert for {dialect}")


_RECORD = Multi(_record_statement)
_REVISIONS = Multi(
    lambda dialect: (
        f"INSERT INTO checkin_revisions ({_REVISION_COLUMNS}) VALUES {{rows}}",
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
)
# SQLite: each check-in's class count, roster and group class, read after the upserts.
_COUNTS = Multi(
    lambda dialect: (
        "SELECT (SELECT count(*) FROM checkins c WHERE c.class_id = v.column1"
        " AND c.day = v.column2),"
        " (SELECT count(*) FROM people p WHERE p.class_id = v.column1"
        f" AND p.role IN ({_ROLES}) AND p.active = 1),"
        " (SELECT g.class_id FROM group_chats g"
        " WHERE g.platform = v.column3 AND g.chat_id = v.column4)"
        " FROM (VALUES {rows}) AS v",
        "(?, ?, ?, ?)",
    )
)
# Check-ins of one class take turns on PostgreSQL, so each acknowledgement's class count
# is exact (SQLite's single writer already serializes them). Locked in id order, so two
# batches never wait on each other in a circle.
_CLASS_LOCK = Multi(
    lambda dialect: ("SELECT id FROM classes WHERE id IN ({rows}) ORDER BY id FOR UPDATE", "?")
)
_PROGRESS = Prepared(
    lambda dialect: text(
        "SELECT (SELECT count(*) FROM checkins WHERE class_id = :class_id AND day = :day),"
        " (SELECT count(*) FROM people WHERE class_id = :class_id AND role IN ("
        + _ROLES
        + f") AND active = {'1' if dialect == 'sqlite' else 'true'})"
    )
)

# Check-ins per statement. Each statement's counts are adjusted among its own check-ins
# (see `_record`), so the check-ins go to it one statement's worth at a time.
BATCH = Multi.CHUNK


def record(session: Session, data: CheckInInput, group: tuple[str, str] | None = None) -> Stored:
    """Store today's check-in; a second one the same day replaces the first, history kept.
    `group` is the (platform, chat id) it came from (see `record_many`)."""
    [stored] = record_many(session, [(data, group)])
    return stored


def record_many(
    session: Session, entries: Sequence[tuple[CheckInInput, tuple[str, str] | None]]
) -> list[Stored]:
    """Store check-ins of different students, in order, as if one after another.

    One statement (INSERT … ON CONFLICT DO UPDATE) decides insert-or-replace for each, so
    two concurrent check-ins can never both insert, and the revision counts every
    submission. Each comes back with its class's count as it stood after it (the class's
    count after all of them, less the later ones new to the class today), the roster size
    and, for its `group` (platform, chat id), the class that group is bound to. SQL on the
    driver, in the session's transaction: on PostgreSQL the class lock and one statement,
    on SQLite three statements, whatever the number of check-ins.
    """
    if len({(d.student_id, d.day) for d, _ in entries}) != len(entries):
        raise ValueError("one check-in per student and day in a batch")
    out: list[Stored] = []
    for i in range(0, len(entries), BATCH):
        out.extend(_record(session, entries[i : i + BATCH]))
    return out


def _record(
    session: Session, entries: Sequence[tuple[CheckInInput, tuple[str, str] | None]]
) -> list[Stored]:
    rows = [
        (
            d.student_id,
            d.class_id,
            d.day,
            d.temp_tenths,
            "、".join(d.symptoms),
            d.city,
            d.note,
            d.abnormal,
            d.late,
            d.submitted_at,
            d.platform,
            group[0] if group else "",
            group[1] if group else "",
        )
        for d, group in entries
    ]
    if session.get_bind().dialect.name == "postgresql":
        _CLASS_LOCK.rows(session, [(c,) for c in sorted({d.class_id for d, _ in entries})])
        found = {
            (student, _day(day)): (revision, sticky, done, roster, group_class)
            for student, day, revision, sticky, done, roster, group_class in _RECORD.rows(
                session, rows
            )
        }
    else:
        upserted = {
            (student, _day(day)): (revision, sticky)
            for student, day, revision, sticky in _RECORD.rows(
                session, [(*r[:8], r[7], *r[8:11]) for r in rows]
            )
        }
        _REVISIONS.rows(
            session,
            [
                (r[0], r[2], upserted[(r[0], r[2])][0], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
                for r in rows
            ],
        )
        counts = _COUNTS.rows(session, [(r[1], r[2], r[11], r[12]) for r in rows])
        found = {
            (r[0], r[2]): (*upserted[(r[0], r[2])], *c) for r, c in zip(rows, counts, strict=True)
        }
    stored = []
    for d, _ in entries:
        revision, sticky, done, roster, group_class = found[(d.student_id, d.day)]
        stored.append(
            Stored(
                int(revision),
                bool(sticky),
                int(done),
                int(roster),
                int(group_class) if group_class is not None else None,
            )
        )
    # Each one's count as it stood after it: the later ones that were new to the class
    # that day had not yet been counted.
    later: dict[tuple[int, date], int] = {}
    for j in range(len(stored) - 1, -1, -1):
        d = entries[j][0]
        key = (d.class_id, d.day)
        s = stored[j]
        stored[j] = replace(s, done=s.done - later.get(key, 0))
        if not s.replaced:
            later[key] = later.get(key, 0) + 1
    return stored


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def readings(session: Session, student_id: int, day: date) -> list[Reading]:
    """Every submission of one student on one day, oldest first (read only on a day with an
    abnormal reading, to decide on alerts and corrections)."""
    return [
        Reading(r, t, tuple(s for s in (symptoms or "").split("、") if s), bool(a), at)
        for r, t, symptoms, a, at in session.execute(
            select(
                CheckInRevision.revision,
                CheckInRevision.temp_tenths,
                CheckInRevision.symptoms,
                CheckInRevision.abnormal,
                CheckInRevision.submitted_at,
            )
            .where(CheckInRevision.student_id == student_id, CheckInRevision.day == day)
            .order_by(CheckInRevision.revision)
        )
    ]


def class_progress(session: Session, class_id: int, day: date) -> tuple[int, int]:
    """(checked in, roster size) of one class on one day: the group acknowledgement."""
    [(done, roster)] = _PROGRESS.rows(session, {"class_id": class_id, "day": day})
    return int(done or 0), int(roster or 0)


def latest(session: Session, student_id: int, limit: int = 1) -> list[CheckIn]:
    return list(
        session.scalars(
            select(CheckIn)
            .where(CheckIn.student_id == student_id)
            .order_by(CheckIn.day.desc())
            .limit(limit)
        )
    )


def for_day(session: Session, student_id: int, day: date) -> CheckIn | None:
    return session.scalar(
        select(CheckIn).where(CheckIn.student_id == student_id, CheckIn.day == day)
    )


def format_temp(tenths: int) -> str:
    return f"{tenths // 10}.{tenths % 10}"
