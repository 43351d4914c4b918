"""每日健康打卡: storing check-ins (one current row per student and day, every version kept)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, insert, literal_column, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import CheckIn, CheckInRevision, Person, Role, SchoolClass

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


@functools.cache
def _statements(dialect: str) -> tuple[Any, Any, Any]:
    """The check-in statements, built once per dialect: a check-in is the busiest write, and
    building a statement costs more than running it on a warm SQLite."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    table = cast(Table, CheckIn.__table__)
    stmt = module.insert(table)
    excluded = stmt.excluded
    upsert = stmt.on_conflict_do_update(
        index_elements=[table.c.student_id, table.c.day],
        set_={
            "class_id": excluded.class_id,
            "temp_tenths": excluded.temp_tenths,
            "symptoms": excluded.symptoms,
            "city": excluded.city,
            "note": excluded.note,
            "abnormal": excluded.abnormal,
            "abnormal_today": or_(table.c.abnormal_today, excluded.abnormal),
            "late": excluded.late,
            "submitted_at": excluded.submitted_at,
            "platform": excluded.platform,
            "revision": table.c.revision + 1,
        },
    ).returning(table.c.revision, table.c.abnormal_today)
    revision = insert(cast(Table, CheckInRevision.__table__))
    people = cast(Table, Person.__table__)
    # Both counts of the group acknowledgement in one round trip.
    done = (
        select(func.count())
        .select_from(table)
        .where(table.c.class_id == bindparam("class_id"), table.c.day == bindparam("day"))
        .scalar_subquery()
    )
    roster = (
        select(func.count())
        .select_from(people)
        .where(
            people.c.class_id == bindparam("class_id"),
            # Inline constants, not an expanding parameter re-rendered on every check-in.
            people.c.role.in_([literal_column(f"'{role}'") for role in STUDENT_ROLES]),
            people.c.active.is_(True),
        )
        .scalar_subquery()
    )
    return upsert, revision, select(done, roster)


_CLASS_LOCK = (
    select(SchoolClass.__table__.c.id)
    .where(SchoolClass.__table__.c.id == bindparam("class_id"))
    .with_for_update()
)


def _connection(session: Session) -> Connection:
    # Core statements on the session's own connection (same transaction): ORM-enabled
    # execution would add its bookkeeping to every check-in for rows no one loads as objects.
    session.flush()
    return session.connection()


def record(session: Session, data: CheckInInput) -> Stored:
    """Store today's check-in; a second one the same day replaces the first, history kept.

    One statement (INSERT … ON CONFLICT DO UPDATE) decides insert-or-replace, so two
    concurrent check-ins can never both insert, and the revision counts every submission.
    """
    conn = _connection(session)
    upsert, insert_revision, _ = _statements(conn.dialect.name)
    values = {
        "student_id": data.student_id,
        "class_id": data.class_id,
        "day": data.day,
        "temp_tenths": data.temp_tenths,
        "symptoms": "、".join(data.symptoms),
        "city": data.city,
        "note": data.note,
        "abnormal": data.abnormal,
        "abnormal_today": data.abnormal,
        "late": data.late,
        "submitted_at": data.submitted_at,
        "platform": data.platform,
        "revision": 1,
    }
    if conn.dialect.name == "postgresql":
        # Check-ins of one class take turns, so each acknowledgement's class count is exact
        # (SQLite's single writer already serializes them).
        conn.execute(_CLASS_LOCK, {"class_id": data.class_id})
    revision, abnormal_today = conn.execute(upsert, values).one()
    revision = int(revision)
    conn.execute(
        insert_revision,
        {
            "student_id": data.student_id,
            "day": data.day,
            "revision": revision,
            "temp_tenths": data.temp_tenths,
            "symptoms": values["symptoms"],
            "city": data.city,
            "note": data.note,
            "abnormal": data.abnormal,
            "late": data.late,
            "submitted_at": data.submitted_at,
        },
    )
    return Stored(revision, bool(abnormal_today))


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
    conn = _connection(session)
    _, _, progress = _statements(conn.dialect.name)
    done, roster = conn.execute(progress, {"class_id": class_id, "day": day}).one()
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
