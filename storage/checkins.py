"""每日健康打卡: storing check-ins (one current row per student and day, every version kept)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from storage.db import Prepared
from storage.models import CheckIn, CheckInRevision, Role, SchoolClass

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
_VALUES = (
    ":student_id, :class_id, :day, :temp_tenths, :symptoms, :city, :note, :abnormal,"
    " :abnormal, :late, :submitted_at, :platform, 1"
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
_REVISION_VALUES = (
    ":student_id, :day, {revision}, :temp_tenths, :symptoms, :city, :note, :abnormal, :late,"
    " :submitted_at"
)


def _counts(true: str) -> str:
    """The group acknowledgement's figures: the others of the class checked in today, plus
    this one (so it holds whether or not the statement sees its own row), the roster, and
    the class of the group the message came from."""
    roles = ", ".join(f"'{role}'" for role in STUDENT_ROLES)
    return (
        "(SELECT count(*) FROM checkins WHERE class_id = :class_id AND day = :day"
        " AND student_id <> :student_id) + 1,"
        " (SELECT count(*) FROM people WHERE class_id = :class_id"
        f" AND role IN ({roles}) AND active = {true}),"
        " (SELECT class_id FROM group_chats WHERE platform = :g_platform AND chat_id = :g_chat)"
    )


def _record_statement(dialect: str) -> ClauseElement:
    if dialect == "postgresql":
        # One round trip: the upsert, its revision and the counts. The counts read the
        # statement's snapshot, taken after the class lock (see `record`), so they include
        # every check-in of the class committed before this one.
        return text(
            f"WITH up AS (INSERT INTO checkins ({_COLUMNS}) VALUES ({_VALUES}) {_REPLACE}"
            " RETURNING revision, abnormal_today),"
            f" rev AS (INSERT INTO checkin_revisions ({_REVISION_COLUMNS})"
            f" SELECT {_REVISION_VALUES.format(revision='up.revision')} FROM up)"
            f" SELECT up.revision, up.abnormal_today, {_counts('true')} FROM up"
        )
    if dialect == "sqlite":
        # SQLite has no INSERT in a WITH clause: the upsert returns the counts, and the
        # revision is a second statement.
        return text(
            f"INSERT INTO checkins ({_COLUMNS}) VALUES ({_VALUES}) {_REPLACE}"
            f" RETURNING revision, abnormal_today, {_counts('1')}"
        )
    raise NotImplementedError(f"no check-in upsert for {dialect}")


_RECORD = Prepared(_record_statement)
_REVISION = Prepared(
    lambda dialect: text(
        f"INSERT INTO checkin_revisions ({_REVISION_COLUMNS})"
        f" VALUES ({_REVISION_VALUES.format(revision=':revision')})"
    )
)
# Check-ins of one class take turns on PostgreSQL, so each acknowledgement's class count
# is exact (SQLite's single writer already serializes them).
_CLASS_LOCK = Prepared(
    lambda dialect: (
        select(SchoolClass.__table__.c.id)
        .where(SchoolClass.__table__.c.id == bindparam("class_id"))
        .with_for_update()
    )
)
_PROGRESS = Prepared(
    lambda dialect: text(
        "SELECT (SELECT count(*) FROM checkins WHERE class_id = :class_id AND day = :day),"
        " (SELECT count(*) FROM people WHERE class_id = :class_id AND role IN ("
        + ", ".join(f"'{role}'" for role in STUDENT_ROLES)
        + f") AND active = {'1' if dialect == 'sqlite' else 'true'})"
    )
)


def record(session: Session, data: CheckInInput, group: tuple[str, str] | None = None) -> Stored:
    """Store today's check-in; a second one the same day replaces the first, history kept.

    One statement (INSERT … ON CONFLICT DO UPDATE) decides insert-or-replace, so two
    concurrent check-ins can never both insert, and the revision counts every submission.
    It also returns the class's counts and, for `group` (platform, chat id), the class that
    group is bound to. Prepared statements on the driver, in the session's transaction.
    """
    values = {
        "student_id": data.student_id,
        "class_id": data.class_id,
        "day": data.day,
        "temp_tenths": data.temp_tenths,
        "symptoms": "、".join(data.symptoms),
        "city": data.city,
        "note": data.note,
        "abnormal": data.abnormal,
        "late": data.late,
        "submitted_at": data.submitted_at,
        "platform": data.platform,
        "g_platform": group[0] if group else "",
        "g_chat": group[1] if group else "",
    }
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        _CLASS_LOCK.rows(session, {"class_id": data.class_id})
    [(revision, abnormal_today, done, roster, group_class)] = _RECORD.rows(session, values)
    revision = int(revision)
    if not postgres:
        _REVISION.run(session, {**values, "revision": revision})
    return Stored(
        revision,
        bool(abnormal_today),
        int(done),
        int(roster),
        int(group_class) if group_class is not None else None,
    )


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
