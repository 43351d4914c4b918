"""云考勤: online-class attendance postings, the weekly summary, and the rows for the ledger."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from storage import audit
from storage import leave as leaves
from storage.errors import AbsentAndLate, RosterMismatch
from storage.identity import Actor
from storage.models import (
    AttendanceEntry,
    AttendanceRecord,
    Person,
    Request,
    Role,
    SchoolClass,
    StaffAssignment,
)

ABSENT = "absent"
LATE = "late"
LEAVE = "leave"
# A ledger row for a session where nobody was absent, late or on leave.
ALL_PRESENT = "all_present"

STATUS_LABELS = {
    ABSENT: ("缺勤", "absent"),
    LATE: ("迟到", "late"),
    LEAVE: ("请假", "on leave"),
    ALL_PRESENT: ("全勤", "all present"),
}
_STATUS_ORDER = {ABSENT: 0, LATE: 1, LEAVE: 2, ALL_PRESENT: 3}

STUDENT_ROLES = (Role.STUDENT.value, Role.MONITOR.value)
# A leave in these states covered the days it ran; 'ended' may have been cut short (销假).
_LEAVE_TOOK_PLACE = (leaves.APPROVED, leaves.ENDED)


def status_label(status: str, lang: str) -> str:
    zh, en = STATUS_LABELS[status]
    return en if lang == "en" else zh


@dataclass(frozen=True)
class Student:
    person_id: int
    number: str
    name: str

    @classmethod
    def of(cls, person: Person) -> Student:
        return cls(person.id, person.number, person.name)

    @property
    def label(self) -> str:
        return f"{self.number} {self.name}"


def class_roster(session: Session, class_id: int) -> list[Student]:
    """The active students (monitors included) of one class, by 学号."""
    people = session.scalars(
        select(Person)
        .where(
            Person.class_id == class_id,
            Person.role.in_(STUDENT_ROLES),
            Person.active.is_(True),
        )
        .order_by(Person.number)
    )
    return [Student.of(p) for p in people]


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def match_student(roster: Sequence[Student], token: str) -> list[Student]:
    """Who a typed id means: the full 学号, else a 学号 suffix (`03`, `017`), else a name."""
    typed = _squash(token)
    if not typed:
        return []
    exact = [s for s in roster if s.number == typed]
    if exact:
        return exact
    if typed.isascii() and typed.isalnum():
        return [s for s in roster if s.number.endswith(typed)]
    return [s for s in roster if _squash(s.name) == typed]


def resolve_students(
    roster: Sequence[Student], class_code: str, lists: Sequence[Sequence[str]]
) -> list[list[Student]]:
    """Resolve each list of typed ids against the roster, or refuse them all at once.

    Every unknown id and every ambiguous one is reported together, so one correction fixes
    the posting.
    """
    unknown: list[str] = []
    ambiguous: list[tuple[str, list[str]]] = []
    resolved: list[list[Student]] = []
    for tokens in lists:
        found: dict[int, Student] = {}
        for token in tokens:
            matches = match_student(roster, token)
            if not matches:
                if token not in unknown:
                    unknown.append(token)
            elif len(matches) > 1:
                if token not in (t for t, _ in ambiguous):
                    ambiguous.append((token, [m.label for m in matches]))
            else:
                found.setdefault(matches[0].person_id, matches[0])
        resolved.append(list(found.values()))
    if unknown or ambiguous:
        raise RosterMismatch(class_code, unknown, ambiguous)
    return resolved


def students_on_leave(session: Session, class_id: int, day: date, tz: ZoneInfo) -> set[int]:
    """Students of a class whose approved leave covers `day` (请假 rows read directly).

    A leave ended early (销假) covers the day only if it ended after that day.
    """
    next_midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    rows = session.scalars(
        select(Request.student_id).where(
            Request.kind == leaves.LEAVE.name,
            Request.class_id == class_id,
            Request.status.in_(_LEAVE_TOOK_PLACE),
            Request.starts_on <= day,
            Request.ends_on >= day,
            or_(Request.closed_at.is_(None), Request.closed_at >= next_midnight),
        )
    )
    return set(rows)


@dataclass(frozen=True)
class Posting:
    """What a monitor (or staff member) posted for one session, ids as typed."""

    class_id: int
    class_code: str
    course: str
    day: date
    session: str
    absent: tuple[str, ...]
    late: tuple[str, ...]
    posted_at: datetime


@dataclass(frozen=True)
class Posted:
    record_id: int
    revision: int
    roster_size: int
    absent: list[Student]
    late: list[Student]
    leave: list[Student]
    # Listed as absent but on approved leave that day, so recorded as leave.
    excused: list[Student]

    @property
    def present(self) -> int:
        """On time: everyone not absent, late or on leave."""
        return self.roster_size - len(self.absent) - len(self.late) - len(self.leave)

    @property
    def replaced(self) -> bool:
        return self.revision > 1


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(AttendanceRecord)


def post(session: Session, posting: Posting, actor: Actor, tz: ZoneInfo) -> Posted:
    """Store one session's attendance; posting it again replaces it and keeps the history.

    Nothing is stored unless every id resolves on the class roster. Students on approved
    leave that day are recorded as on leave, whether or not they were listed as absent;
    a student listed as late came to class and stays late.
    """
    roster = class_roster(session, posting.class_id)
    absent, late = resolve_students(roster, posting.class_code, [posting.absent, posting.late])
    late_ids = {s.person_id for s in late}
    both = [s for s in absent if s.person_id in late_ids]
    if both:
        raise AbsentAndLate(names="、".join(s.label for s in both))
    leave_ids = students_on_leave(session, posting.class_id, posting.day, tz)
    excused = [s for s in absent if s.person_id in leave_ids]
    absent = [s for s in absent if s.person_id not in leave_ids]
    leave = [s for s in roster if s.person_id in leave_ids and s.person_id not in late_ids]

    key = {
        "class_id": posting.class_id,
        "course": posting.course,
        "day": posting.day,
        "session": posting.session,
    }
    # Insert-if-absent then lock the row: two monitors posting at once take turns, and the
    # second one's posting becomes the next revision instead of failing on the unique key.
    session.execute(
        _insert(session)
        .values(
            **key,
            posted_by=actor.person_id,
            posted_at=posting.posted_at,
            revision=0,
            roster_size=len(roster),
            history=[],
        )
        .on_conflict_do_nothing(index_elements=list(key))
    )
    record = session.scalars(
        select(AttendanceRecord)
        .filter_by(**key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    revision = record.revision + 1
    record.revision = revision
    record.posted_by = actor.person_id
    record.posted_at = posting.posted_at
    record.roster_size = len(roster)
    # A new list, not an in-place append, so the JSON column is seen as changed.
    record.history = [
        *record.history,
        {
            "revision": revision,
            "posted_by": actor.number,
            "posted_at": posting.posted_at.isoformat(),
            "roster_size": len(roster),
            "absent": [s.number for s in absent],
            "late": [s.number for s in late],
            "leave": [s.number for s in leave],
        },
    ]
    session.execute(delete(AttendanceEntry).where(AttendanceEntry.record_id == record.id))
    for status, students in ((ABSENT, absent), (LATE, late), (LEAVE, leave)):
        for s in students:
            session.add(AttendanceEntry(record_id=record.id, student_id=s.person_id, status=status))
    audit.record(
        session,
        at=posting.posted_at,
        actor=actor,
        action="attendance.post",
        target=f"attendance:{record.id}",
        to_state=f"r{revision}",
        detail={"absent": len(absent), "late": len(late), "leave": len(leave)},
    )
    return Posted(record.id, revision, len(roster), absent, late, leave, excused)


# -- weekly summary --------------------------------------------------------------------------


@dataclass
class StudentWeek:
    number: str
    name: str
    absent: int = 0
    late: int = 0
    leave: int = 0


@dataclass
class ClassWeek:
    class_id: int
    class_code: str
    sessions: int
    # Students absent, late or on leave at least once, most absences first.
    students: list[StudentWeek] = field(default_factory=list)
    # Students with at least `alert_absences` absences.
    flagged: list[StudentWeek] = field(default_factory=list)
    # Teaching days with no attendance posted at all.
    missing_days: list[date] = field(default_factory=list)


@dataclass
class WeekSummary:
    week_start: date
    alert_absences: int
    classes: list[ClassWeek]

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)


def teaching_days(week_start: date, skip_dates: Iterable[date], through: date | None) -> list[date]:
    """Monday–Friday of the week starting `week_start`, minus holidays, up to `through`."""
    skip = set(skip_dates)
    days = [week_start + timedelta(days=i) for i in range(7)]
    return [
        d for d in days if d.weekday() < 5 and d not in skip and (through is None or d <= through)
    ]


def _classes(session: Session, class_ids: Iterable[int] | None) -> list[SchoolClass]:
    stmt = select(SchoolClass).order_by(SchoolClass.code)
    if class_ids is not None:
        stmt = stmt.where(SchoolClass.id.in_(list(class_ids)))
    return list(session.scalars(stmt))


def weekly_summary(
    session: Session,
    class_ids: Iterable[int] | None,
    week_start: date,
    skip_dates: Iterable[date],
    *,
    alert_absences: int = 3,
    through: date | None = None,
) -> WeekSummary:
    """Per class: sessions recorded, each student's absences and lates, flags, missing days.

    `class_ids` None means every class. `through` stops the missing-day check early (an
    on-demand summary in mid-week does not count days still to come).
    """
    week_end = week_start + timedelta(days=6)
    classes = _classes(session, class_ids)
    ids = [c.id for c in classes]
    in_week = and_(
        AttendanceRecord.class_id.in_(ids),
        AttendanceRecord.day >= week_start,
        AttendanceRecord.day <= week_end,
    )
    sessions: dict[int, int] = defaultdict(int)
    posted_days: dict[int, set[date]] = defaultdict(set)
    for class_id, day in session.execute(
        select(AttendanceRecord.class_id, AttendanceRecord.day).where(in_week)
    ):
        sessions[class_id] += 1
        posted_days[class_id].add(day)

    per_class: dict[int, dict[str, StudentWeek]] = defaultdict(dict)
    counts = session.execute(
        select(
            AttendanceRecord.class_id,
            Person.number,
            Person.name,
            AttendanceEntry.status,
            func.count(),
        )
        .join(AttendanceEntry, AttendanceEntry.record_id == AttendanceRecord.id)
        .join(Person, Person.id == AttendanceEntry.student_id)
        .where(in_week)
        .group_by(AttendanceRecord.class_id, Person.number, Person.name, AttendanceEntry.status)
    )
    for class_id, number, name, status, n in counts:
        week = per_class[class_id].setdefault(number, StudentWeek(number, name))
        setattr(week, status, getattr(week, status) + int(n))

    days = teaching_days(week_start, skip_dates, through)
    out = []
    for cls in classes:
        students = sorted(
            per_class[cls.id].values(), key=lambda s: (-s.absent, -s.late, -s.leave, s.number)
        )
        out.append(
            ClassWeek(
                class_id=cls.id,
                class_code=cls.code,
                sessions=sessions[cls.id],
                students=students,
                flagged=[s for s in students if s.absent >= alert_absences],
                missing_days=[d for d in days if d not in posted_days[cls.id]],
            )
        )
    return WeekSummary(week_start, alert_absences, out)


def counselor_classes(session: Session) -> dict[int, list[int]]:
    """Each active counselor's classes: who gets the weekly summary, and of what."""
    rows = session.execute(
        select(Person.id, StaffAssignment.class_id)
        .join(StaffAssignment, StaffAssignment.person_id == Person.id)
        .where(Person.role == Role.COUNSELOR.value, Person.active.is_(True))
        .order_by(Person.number)
    )
    out: dict[int, list[int]] = defaultdict(list)
    for person_id, class_id in rows:
        out[person_id].append(class_id)
    return dict(out)


def student_week(
    session: Session, student_id: int, week_start: date, through: date
) -> dict[str, int]:
    """One student's own absences, lates and leaves from `week_start` to `through` (我的)."""
    rows = session.execute(
        select(AttendanceEntry.status, func.count())
        .join(AttendanceRecord, AttendanceRecord.id == AttendanceEntry.record_id)
        .where(
            AttendanceEntry.student_id == student_id,
            AttendanceRecord.day >= week_start,
            AttendanceRecord.day <= through,
        )
        .group_by(AttendanceEntry.status)
    )
    return {status: int(n) for status, n in rows}


# -- ledger rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceRow:
    """One line of the ledger's 考勤 sheet.

    A session where nobody was absent, late or on leave gives one row with status
    `all_present` and no student, so that a posted session is never invisible.
    """

    class_code: str
    course: str
    session: str
    student_number: str | None
    student_name: str | None
    status: str
    posted_by: str | None
    posted_by_number: str | None
    posted_at: datetime
    roster_size: int = 0


def records_for_day(
    session: Session, class_ids: Iterable[int] | None, day: date
) -> list[AttendanceRow]:
    """Every attendance entry of one day, by class, course, session, status and 学号."""
    poster = aliased(Person)
    stmt = (
        select(AttendanceRecord, SchoolClass.code, poster.name, poster.number)
        .join(SchoolClass, SchoolClass.id == AttendanceRecord.class_id)
        .outerjoin(poster, poster.id == AttendanceRecord.posted_by)
        .where(AttendanceRecord.day == day)
    )
    if class_ids is not None:
        stmt = stmt.where(AttendanceRecord.class_id.in_(list(class_ids)))
    records = session.execute(stmt).all()
    entries: dict[int, list[tuple[str | None, str | None, str]]] = defaultdict(list)
    if records:
        for record_id, number, name, status in session.execute(
            select(AttendanceEntry.record_id, Person.number, Person.name, AttendanceEntry.status)
            .join(Person, Person.id == AttendanceEntry.student_id)
            .where(AttendanceEntry.record_id.in_([r.id for r, *_ in records]))
        ):
            entries[record_id].append((number, name, status))

    rows = [
        AttendanceRow(
            class_code=class_code,
            course=record.course,
            session=record.session,
            student_number=number,
            student_name=name,
            status=status,
            posted_by=poster_name,
            posted_by_number=poster_number,
            posted_at=record.posted_at,
            roster_size=record.roster_size,
        )
        for record, class_code, poster_name, poster_number in records
        for number, name, status in entries[record.id] or [(None, None, ALL_PRESENT)]
    ]
    rows.sort(
        key=lambda r: (
            r.class_code,
            r.course,
            r.session,
            _STATUS_ORDER[r.status],
            r.student_number or "",
        )
    )
    return rows
