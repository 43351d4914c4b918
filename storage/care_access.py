"""Who reads care records (tags, contact logs, follow-ups, 心理委员 reports, 心理预警).

Only the student's counselor(s), the college's configured mental-health contact(s) and
staff a counselor assigned the item to. This overrides "a school admin reads
everything": a school admin sees counts only. Every read is audited, without the data.

The mental-health contacts come from `[care] mental_health_contacts` (college name → 工号
list), passed in as `contacts`; a 工号 that is not an active staff member on the roster
is skipped when used.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import audit
from storage.identity import Actor, staff_for_class
from storage.models import College, Person, Role, SchoolClass, StaffAssignment

# College name → the 工号 of its mental-health contact(s).
Contacts = Mapping[str, Collection[str]]


def _college_of(session: Session, student_id: int) -> College | None:
    return session.scalar(
        select(College)
        .join(SchoolClass, SchoolClass.college_id == College.id)
        .join(Person, Person.class_id == SchoolClass.id)
        .where(Person.id == student_id)
    )


def mental_health_contacts(
    session: Session, student_id: int, contacts: Contacts | None = None
) -> list[Person]:
    """The configured mental-health contact(s) of the student's college, as on the roster."""
    college = _college_of(session, student_id)
    numbers = list((contacts or {}).get(college.name, ())) if college is not None else []
    if not numbers:
        return []
    return list(
        session.scalars(
            select(Person)
            .where(
                Person.number.in_(numbers),
                Person.active.is_(True),
                Person.role.notin_([Role.STUDENT.value, Role.MONITOR.value]),
            )
            .order_by(Person.number)
        )
    )


def counselors_of(session: Session, student_id: int) -> list[Person]:
    student = session.get(Person, student_id)
    if student is None or student.class_id is None:
        return []
    return staff_for_class(session, student.class_id, (Role.COUNSELOR,))


def care_readers(
    session: Session, student_id: int, *, contacts: Contacts | None = None
) -> list[Person]:
    """The people who may read this student's care records, by 工号, without duplicates."""
    seen: dict[int, Person] = {}
    for person in counselors_of(session, student_id) + mental_health_contacts(
        session, student_id, contacts
    ):
        seen.setdefault(person.id, person)
    return sorted(seen.values(), key=lambda p: p.number)


def class_care_readers(
    session: Session, class_id: int, *, contacts: Contacts | None = None
) -> list[Person]:
    """Who reads a class's care records (its 心理委员 reports): as for any of its students."""
    return classes_care_readers(session, [class_id], contacts=contacts).get(class_id, [])


def classes_care_readers(
    session: Session, class_ids: Iterable[int], *, contacts: Contacts | None = None
) -> dict[int, list[Person]]:
    """`class_care_readers` for many classes, in three reads whatever their number: each
    class with a student, its counselors and its college's mental-health contacts."""
    ids = sorted(set(class_ids))
    if not ids:
        return {}
    college_of = dict(
        session.execute(
            select(SchoolClass.id, College.name)
            .join(College, College.id == SchoolClass.college_id)
            .where(
                SchoolClass.id.in_(ids),
                select(Person.id)
                .where(
                    Person.class_id == SchoolClass.id,
                    Person.role.in_([Role.STUDENT.value, Role.MONITOR.value]),
                )
                .exists(),
            )
        ).all()
    )
    readers: dict[int, dict[int, Person]] = {cid: {} for cid in college_of}
    for cid, person in session.execute(
        select(StaffAssignment.class_id, Person)
        .join(Person, Person.id == StaffAssignment.person_id)
        .where(
            StaffAssignment.class_id.in_(list(college_of)),
            Person.role == Role.COUNSELOR.value,
            Person.active.is_(True),
        )
    ).all():
        readers[cid][person.id] = person
    numbers_of: dict[int, Collection[str]] = {
        cid: (contacts or {}).get(name, ()) for cid, name in college_of.items()
    }
    numbers = {n for found in numbers_of.values() for n in found}
    if numbers:
        by_number: dict[str, Person] = {
            p.number: p
            for p in session.scalars(
                select(Person).where(
                    Person.number.in_(sorted(numbers)),
                    Person.active.is_(True),
                    Person.role.notin_([Role.STUDENT.value, Role.MONITOR.value]),
                )
            )
        }
        for cid, found in numbers_of.items():
            for number in found:
                if number in by_number:
                    readers[cid].setdefault(by_number[number].id, by_number[number])
    return {cid: sorted(people.values(), key=lambda p: p.number) for cid, people in readers.items()}


def may_read_care(
    session: Session,
    actor: Actor,
    student_id: int,
    *,
    assigned_to: Collection[int] = (),
    contacts: Contacts | None = None,
) -> bool:
    """Whether `actor` may read this student's care records.

    `assigned_to`: the people the item at hand was assigned to by a counselor.
    """
    if not actor.is_staff:
        return False
    if actor.person_id in assigned_to:
        return True
    return any(
        p.id == actor.person_id for p in care_readers(session, student_id, contacts=contacts)
    )


def audit_read(
    session: Session,
    actor: Actor,
    student_id: int,
    what: str,
    *,
    now: datetime | None = None,
) -> None:
    """Record that `actor` read `what` (e.g. "alert:3", "file") of this student's care records."""
    student = session.get(Person, student_id)
    audit.record(
        session,
        at=now or datetime.now(UTC),
        actor=actor,
        action="care_read",
        target=f"person:{student.number if student is not None else student_id}",
        detail={"what": what},
    )
