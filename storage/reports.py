"""A day's numbers: per-class summaries, missing lists, leave and pending requests.

Shared by the 11:00 reminder, the 12:00 roll-up, /report, /missing and the ledger, so every
place counts the same way. Each function is a handful of grouped queries, whatever the scope.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from bot.texts import Catalogue, Text
from storage import requests
from storage.leave import APPROVED, ENDED, LEAVE
from storage.models import ChatAccount, CheckIn, College, Person, Request, Role, SchoolClass
from storage.requests import PendingRequest
from storage.workflows import WORKFLOWS

STUDENT_ROLES = (Role.STUDENT.value, Role.MONITOR.value)


class ReportsStorageTexts(Catalogue):
    """The roll-up's numbers that carry words of their own."""

    abnormal_corrected = Text(
        "{students}（含已更正 {corrected}）", "{students} ({corrected} since corrected)"
    )


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

    def in_language(self, lang: str) -> str:
        """The count as a text shows it, in `lang`: `3（含已更正 1）`."""
        if not self.corrected:
            return str(self.students)
        return ReportsStorageTexts.abnormal_corrected(
            lang, students=self.students, corrected=self.corrected
        )

    def __str__(self) -> str:
        return self.in_language("zh")

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
    # Requests waiting for a decision, by kind name.
    pending: dict[str, int] = field(default_factory=dict)


@dataclass
class Totals:
    classes: int = 0
    roster: int = 0
    checked_in: int = 0
    late: int = 0
    abnormal: AbnormalCount = field(default_factory=AbnormalCount)
    on_leave: int = 0
    missing: int = 0
    pending: dict[str, int] = field(default_factory=dict)

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
            for kind, n in s.pending.items():
                t.pending[kind] = t.pending.get(kind, 0) + n
        return t


@dataclass(frozen=True)
class Student:
    id: int
    number: str
    name: str
    class_id: int
    phone: str | None = None


@dataclass
class ClassMissing:
    """Who in one class has not checked in; students on approved leave are apart."""

    class_id: int
    code: str
    missing: list[Student] = field(default_factory=list)
    on_leave: list[tuple[Student, Request]] = field(default_factory=list)


_in_classes = requests.in_classes


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


def first_class_code(session: Session, class_ids: Collection[int] | None) -> str | None:
    """The first class code (in code order) among these classes, or of the whole roster."""
    return session.scalar(
        select(SchoolClass.code)
        .where(_in_classes(SchoolClass.id, class_ids))
        .order_by(SchoolClass.code)
        .limit(1)
    )


@dataclass(frozen=True)
class Named:
    """What a staff command's class filter named: a class or a college, and its classes."""

    label: str
    class_ids: frozenset[int]
    college: bool = False


def find_classes(session: Session, name: str) -> Named | None:
    """The class with this code, else the college with this name, else None."""
    found = session.scalar(select(SchoolClass.id).where(SchoolClass.code == name))
    if found is not None:
        return Named(name, frozenset({found}))
    college = session.scalar(select(College.id).where(College.name == name))
    if college is None:
        return None
    ids = session.scalars(select(SchoolClass.id).where(SchoolClass.college_id == college))
    return Named(name, frozenset(ids), college=True)


def accounts_on(session: Session, platform: str, person_ids: Collection[int]) -> dict[int, str]:
    """Each person's account on one platform (for @-mentions), by person id."""
    ids = list(person_ids)
    out: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        for person_id, user_id in session.execute(
            select(ChatAccount.person_id, ChatAccount.platform_user_id).where(
                ChatAccount.platform == platform, ChatAccount.person_id.in_(ids[i : i + 500])
            )
        ):
            out[person_id] = user_id
    return out


def covering(day: date) -> ColumnElement[bool]:
    """Leaves whose dates cover a day and that were approved (ended ones are checked further)."""
    return and_(
        Request.kind == LEAVE.name,
        Request.starts_on <= day,
        Request.ends_on >= day,
        or_(
            Request.status == APPROVED,
            and_(Request.status == ENDED, Request.closed_at.is_not(None)),
        ),
    )


def on_leave(
    session: Session,
    day: date,
    class_ids: Collection[int] | None,
    ended_before: datetime | None = None,
) -> dict[int, Request]:
    """Approved leave covering `day`, by student id.

    A leave ended early (销假) stops counting from the day it was ended: `ended_before` is the
    start of `day` in the local zone, and a leave ended before it no longer covers the day.
    """
    rows = session.scalars(
        select(Request).where(covering(day), _in_classes(Request.class_id, class_ids))
    )
    out: dict[int, Request] = {}
    for leave in rows:
        ended = leave.closed_at if leave.status == ENDED else None
        if ended is not None and ended_before is not None and ended <= ended_before:
            continue
        out[leave.student_id] = leave
    return out


def summaries(
    session: Session,
    day: date,
    class_ids: Collection[int] | None,
    *,
    leave: dict[int, Request] | None = None,
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
    for (kind_name, cid), n in requests.pending_counts(session, WORKFLOWS, class_ids).items():
        if cid in result:
            result[cid].pending[kind_name] = n
    return list(result.values())


def missing(
    session: Session,
    day: date,
    class_ids: Collection[int] | None,
    *,
    leave: dict[int, Request] | None = None,
) -> list[ClassMissing]:
    """Students of each class in scope who have not checked in on `day`."""
    out = {cid: ClassMissing(cid, code) for cid, code, _ in classes_in_scope(session, class_ids)}
    leave = leave if leave is not None else on_leave(session, day, class_ids)
    rows = session.execute(
        select(Person.id, Person.number, Person.name, Person.class_id, Person.phone)
        .outerjoin(CheckIn, and_(CheckIn.student_id == Person.id, CheckIn.day == day))
        .where(
            CheckIn.id.is_(None),
            Person.role.in_(STUDENT_ROLES),
            Person.active.is_(True),
            _in_classes(Person.class_id, class_ids),
        )
        .order_by(Person.class_id, Person.number)
    )
    for pid, number, name, cid, phone in rows:
        if cid not in out:
            continue
        student = Student(pid, number, name, cid, phone)
        if pid in leave:
            out[cid].on_leave.append((student, leave[pid]))
        else:
            out[cid].missing.append(student)
    return list(out.values())


TREND_DAYS = 14


@dataclass(frozen=True)
class DayCounts:
    """Check-ins of one class on one day: how many, how many abnormal, how many late."""

    checked_in: int = 0
    abnormal: int = 0
    late: int = 0


def checkin_counts(
    session: Session, where: ColumnElement[bool]
) -> dict[tuple[int, date], DayCounts]:
    """Check-ins per (class id, day) where `where` holds, in one grouped query: the chart's
    trend, and the anonymous daily counts kept after retention."""
    rows = session.execute(
        select(
            CheckIn.class_id,
            CheckIn.day,
            func.count(),
            func.sum(case((CheckIn.abnormal_today, 1), else_=0)),
            func.sum(case((CheckIn.late, 1), else_=0)),
        )
        .where(where)
        .group_by(CheckIn.class_id, CheckIn.day)
    )
    return {
        (int(cid), day): DayCounts(int(n), int(abnormal or 0), int(late or 0))
        for cid, day, n, abnormal, late in rows
    }


def daily_counts(
    session: Session, first: date, last: date, class_ids: Collection[int] | None
) -> dict[tuple[int, date], DayCounts]:
    """Check-ins per (class id, day) from `first` to `last`, for a trend."""
    return checkin_counts(
        session,
        and_(CheckIn.day >= first, CheckIn.day <= last, _in_classes(CheckIn.class_id, class_ids)),
    )


def pending_requests(
    session: Session,
    class_ids: Collection[int] | None,
    older_than: datetime | None = None,
    *,
    tz: ZoneInfo | None = None,
) -> list[PendingRequest]:
    """Requests of every registered kind still waiting for a decision, oldest first; with
    `tz`, the times are in that zone, as every date a user sees must be."""
    out = requests.pending(session, WORKFLOWS, class_ids, older_than)
    if tz is not None:
        out = [replace(p, created_at=p.created_at.astimezone(tz)) for p in out]
    return out
