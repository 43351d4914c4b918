"""A day's numbers: per-class summaries, missing lists, leave and pending requests.

Shared by the 11:00 reminder, the 12:00 roll-up, /report, /missing and the ledger, so every
place counts the same way. Each function is a handful of grouped queries, whatever the scope.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from storage.models import (
    CheckIn,
    College,
    LeaveRequest,
    Person,
    Role,
    SchoolClass,
    SubsidyApplication,
)

STUDENT_ROLES = (Role.STUDENT.value, Role.MONITOR.value)
PENDING_SUBSIDY = ("pending_counselor", "pending_college")


@dataclass(frozen=True)
class AbnormalCount:
    """异常: students with an abnormal reading today, and how many of them a later normal
    reading corrected (已更正). An abnormal reading is never erased, so both are counted;
    it reads as `异常 2（含已更正 1）` wherever a summary shows it."""

    students: int = 0
    corrected: int = 0

    def __add__(self, other: AbnormalCount | int) -> AbnormalCount:
        if isinstance(other, int):
            return AbnormalCount(self.students + other, self.corrected)
        return AbnormalCount(self.students + other.students, self.corrected + other.corrected)

    __radd__ = __add__

    def __int__(self) -> int:
        return self.students

    def __eq__(self, other: object) -> bool:
        if isinstance(other, int):
            return self.students == other and not self.corrected
        if isinstance(other, AbnormalCount):
            return (self.students, self.corrected) == (other.students, other.corrected)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.students, self.corrected))

    def __str__(self) -> str:
        if not self.corrected:
            return str(self.students)
        return f"{self.students}（含已更正 {self.corrected}）"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


@dataclass
class ClassSummary:
    class_id: int
    code: str
    college: str
    roster: int = 0
    checked_in: int = 0
    late: int = 0
    abnormal: AbnormalCount = field(default_factory=AbnormalCount)
    on_leave: int = 0
    missing: int = 0
    pending_leave: int = 0
    pending_subsidy: int = 0


@dataclass
class Totals:
    classes: int = 0
    roster: int = 0
    checked_in: int = 0
    late: int = 0
    abnormal: AbnormalCount = field(default_factory=AbnormalCount)
    on_leave: int = 0
    missing: int = 0
    pending_leave: int = 0
    pending_subsidy: int = 0

    @classmethod
    def of(cls, summaries: Collection[ClassSummary]) -> Totals:
        t = cls(classes=len(summaries))
        for s in summaries:
            t.roster += s.roster
            t.checked_in += s.checked_in
            t.late += s.late
            t.abnormal += s.abnormal
            t.on_leave += s.on_leave
            t.missing += s.missing
            t.pending_leave += s.pending_leave
            t.pending_subsidy += s.pending_subsidy
        return t


@dataclass(frozen=True)
class Student:
    id: int
    number: str
    name: str
    class_id: int


@dataclass
class ClassMissing:
    """Who in one class has not checked in; students on approved leave are apart."""

    class_id: int
    code: str
    missing: list[Student] = field(default_factory=list)
    on_leave: list[tuple[Student, LeaveRequest]] = field(default_factory=list)


def _in_classes(column: Any, class_ids: Collection[int] | None) -> ColumnElement[bool]:
    if class_ids is None:
        return true()
    return cast(ColumnElement[bool], column.in_(list(class_ids)))


def classes_in_scope(
    session: Session, class_ids: Collection[int] | None
) -> list[tuple[int, str, str]]:
    """(class id, code, college name), ordered by college then code."""
    rows = session.execute(
        select(SchoolClass.id, SchoolClass.code, College.name)
        .join(College, College.id == SchoolClass.college_id)
        .where(_in_classes(SchoolClass.id, class_ids))
        .order_by(College.name, SchoolClass.code)
    )
    return [(i, c, n) for i, c, n in rows]


def covering(day: date) -> ColumnElement[bool]:
    """Leaves whose dates cover a day and that were approved (ended ones are checked further)."""
    return and_(
        LeaveRequest.start_date <= day,
        LeaveRequest.end_date >= day,
        or_(
            LeaveRequest.status == "approved",
            and_(LeaveRequest.status == "ended", LeaveRequest.ended_at.is_not(None)),
        ),
    )


def on_leave(
    session: Session,
    day: date,
    class_ids: Collection[int] | None,
    ended_before: datetime | None = None,
) -> dict[int, LeaveRequest]:
    """Approved leave covering `day`, by student id.

    A leave ended early (销假) stops counting from the day it was ended: `ended_before` is the
    start of `day` in the local zone, and a leave ended before it no longer covers the day.
    """
    rows = session.scalars(
        select(LeaveRequest).where(covering(day), _in_classes(LeaveRequest.class_id, class_ids))
    )
    out: dict[int, LeaveRequest] = {}
    for leave in rows:
        ended_early = leave.status == "ended" and leave.ended_at is not None
        if ended_early and ended_before is not None and leave.ended_at <= ended_before:  # type: ignore[operator]
            continue
        out[leave.student_id] = leave
    return out


def summaries(
    session: Session,
    day: date,
    class_ids: Collection[int] | None,
    *,
    leave: dict[int, LeaveRequest] | None = None,
) -> list[ClassSummary]:
    """Per-class counts for one day, in college and class order."""
    result = {
        cid: ClassSummary(cid, code, college)
        for cid, code, college in classes_in_scope(session, class_ids)
    }
    for cid, n in session.execute(
        select(Person.class_id, func.count())
        .where(
            Person.role.in_(STUDENT_ROLES),
            Person.active.is_(True),
            _in_classes(Person.class_id, class_ids),
        )
        .group_by(Person.class_id)
    ):
        if cid in result:
            result[cid].roster = int(n)
    for cid, n, late, abnormal, corrected in session.execute(
        select(
            CheckIn.class_id,
            func.count(),
            func.sum(case((CheckIn.late, 1), else_=0)),
            func.sum(case((CheckIn.abnormal_today, 1), else_=0)),
            func.sum(case((and_(CheckIn.abnormal_today, ~CheckIn.abnormal), 1), else_=0)),
        )
        .where(CheckIn.day == day, _in_classes(CheckIn.class_id, class_ids))
        .group_by(CheckIn.class_id)
    ):
        if cid in result:
            s = result[cid]
            s.checked_in, s.late = int(n), int(late or 0)
            s.abnormal = AbnormalCount(int(abnormal or 0), int(corrected or 0))
    leave = leave if leave is not None else on_leave(session, day, class_ids)
    checked = set(
        session.scalars(
            select(CheckIn.student_id).where(
                CheckIn.day == day, CheckIn.student_id.in_(list(leave)) if leave else false()
            )
        )
    )
    leave_not_checked: dict[int, int] = defaultdict(int)
    for student_id, req in leave.items():
        if req.class_id in result:
            result[req.class_id].on_leave += 1
            if student_id not in checked:
                leave_not_checked[req.class_id] += 1
    for s in result.values():
        s.missing = max(s.roster - s.checked_in - leave_not_checked[s.class_id], 0)
    for cid, n in session.execute(
        select(LeaveRequest.class_id, func.count())
        .where(LeaveRequest.status == "pending", _in_classes(LeaveRequest.class_id, class_ids))
        .group_by(LeaveRequest.class_id)
    ):
        if cid in result:
            result[cid].pending_leave = int(n)
    for cid, n in session.execute(
        select(SubsidyApplication.class_id, func.count())
        .where(
            SubsidyApplication.status.in_(PENDING_SUBSIDY),
            _in_classes(SubsidyApplication.class_id, class_ids),
        )
        .group_by(SubsidyApplication.class_id)
    ):
        if cid in result:
            result[cid].pending_subsidy = int(n)
    return list(result.values())


def missing(
    session: Session,
    day: date,
    class_ids: Collection[int] | None,
    *,
    leave: dict[int, LeaveRequest] | None = None,
) -> list[ClassMissing]:
    """Students of each class in scope who have not checked in on `day`."""
    out = {cid: ClassMissing(cid, code) for cid, code, _ in classes_in_scope(session, class_ids)}
    leave = leave if leave is not None else on_leave(session, day, class_ids)
    rows = session.execute(
        select(Person.id, Person.number, Person.name, Person.class_id)
        .outerjoin(CheckIn, and_(CheckIn.student_id == Person.id, CheckIn.day == day))
        .where(
            CheckIn.id.is_(None),
            Person.role.in_(STUDENT_ROLES),
            Person.active.is_(True),
            _in_classes(Person.class_id, class_ids),
        )
        .order_by(Person.class_id, Person.number)
    )
    for pid, number, name, cid in rows:
        if cid not in out:
            continue
        student = Student(pid, number, name, cid)
        if pid in leave:
            out[cid].on_leave.append((student, leave[pid]))
        else:
            out[cid].missing.append(student)
    return list(out.values())


@dataclass(frozen=True)
class PendingRequest:
    ref: str
    class_code: str
    student: str
    created_at: datetime
    status: str


def pending_requests(
    session: Session,
    class_ids: Collection[int] | None,
    older_than: datetime | None = None,
    *,
    include_subsidy: bool = True,
    tz: ZoneInfo | None = None,
) -> list[PendingRequest]:
    """Leave and subsidy requests still waiting for a decision, oldest first; with `tz`, the
    times are in that zone, as every date a user sees must be."""
    out: list[PendingRequest] = []
    leave_q = (
        select(
            LeaveRequest.id,
            SchoolClass.code,
            Person.name,
            LeaveRequest.created_at,
            LeaveRequest.status,
        )
        .join(Person, Person.id == LeaveRequest.student_id)
        .join(SchoolClass, SchoolClass.id == LeaveRequest.class_id)
        .where(LeaveRequest.status == "pending", _in_classes(LeaveRequest.class_id, class_ids))
    )
    if older_than is not None:
        leave_q = leave_q.where(LeaveRequest.created_at < older_than)
    out += [PendingRequest(f"L{i}", c, n, t, s) for i, c, n, t, s in session.execute(leave_q)]
    if include_subsidy:
        sub_q = (
            select(
                SubsidyApplication.id,
                SchoolClass.code,
                Person.name,
                SubsidyApplication.created_at,
                SubsidyApplication.status,
            )
            .join(Person, Person.id == SubsidyApplication.student_id)
            .join(SchoolClass, SchoolClass.id == SubsidyApplication.class_id)
            .where(
                SubsidyApplication.status.in_(PENDING_SUBSIDY),
                _in_classes(SubsidyApplication.class_id, class_ids),
            )
        )
        if older_than is not None:
            sub_q = sub_q.where(SubsidyApplication.created_at < older_than)
        out += [PendingRequest(f"S{i}", c, n, t, s) for i, c, n, t, s in session.execute(sub_q)]
    if tz is not None:
        out = [replace(p, created_at=p.created_at.astimezone(tz)) for p in out]
    return sorted(out, key=lambda p: p.created_at)
