"""每日健康打卡: storing check-ins (one current row per student and day, every version kept)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select
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

    @property
    def replaced(self) -> bool:
        return self.revision > 1


def _upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(CheckIn)


def record(session: Session, data: CheckInInput) -> Stored:
    """Store today's check-in; a second one the same day replaces the first, history kept.

    One statement (INSERT … ON CONFLICT DO UPDATE) decides insert-or-replace, so two
    concurrent check-ins can never both insert, and the revision counts every submission.
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
        "revision": 1,
    }
    stmt = _upsert(session).values(**values)
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[CheckIn.student_id, CheckIn.day],
        set_={
            "class_id": excluded.class_id,
            "temp_tenths": excluded.temp_tenths,
            "symptoms": excluded.symptoms,
            "city": excluded.city,
            "note": excluded.note,
            "abnormal": excluded.abnormal,
            "late": excluded.late,
            "submitted_at": excluded.submitted_at,
            "platform": excluded.platform,
            "revision": CheckIn.revision + 1,
        },
    ).returning(CheckIn.revision)
    # Check-ins of one class take turns, so each acknowledgement's class count is exact on
    # PostgreSQL too (SQLite's single writer already serializes them).
    session.execute(select(SchoolClass.id).where(SchoolClass.id == data.class_id).with_for_update())
    revision = int(session.execute(stmt).scalar_one())
    session.execute(
        insert(CheckInRevision).values(
            student_id=data.student_id,
            day=data.day,
            revision=revision,
            temp_tenths=data.temp_tenths,
            symptoms=values["symptoms"],
            city=data.city,
            note=data.note,
            abnormal=data.abnormal,
            late=data.late,
            submitted_at=data.submitted_at,
        )
    )
    return Stored(revision)


def class_progress(session: Session, class_id: int, day: date) -> tuple[int, int]:
    """(checked in, roster size) of one class on one day: the group acknowledgement."""
    done = session.scalar(
        select(func.count()).where(CheckIn.class_id == class_id, CheckIn.day == day)
    )
    roster = session.scalar(
        select(func.count()).where(
            Person.class_id == class_id,
            Person.role.in_(STUDENT_ROLES),
            Person.active.is_(True),
        )
    )
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
