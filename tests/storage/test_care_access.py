"""Who reads care records: the student's counselors, the college's mental-health contacts
and staff a counselor assigned the item to; never a school admin, a head teacher or a
student. Every read is audited without the data."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import App
from storage import identity
from storage.care_access import (
    audit_read,
    care_readers,
    class_care_readers,
    classes_care_readers,
    may_read_care,
)
from storage.models import AuditEntry, Person, Role, SchoolClass, StaffAssignment
from tests.handlers.people import add_staff

CONTACTS = {"医学院": ["T005", "X999"]}


def person_id(app: App, number: str) -> int:
    with app.uow(readonly=True) as s:
        pid = s.scalar(select(Person.id).where(Person.number == number))
        assert pid is not None
        return pid


def test_readers_are_the_counselors_and_the_colleges_contacts_on_the_roster(app: App) -> None:
    add_staff(app, "T005", "孙心理", Role.COUNSELOR, ())
    student = person_id(app, "2020001")
    with app.uow(readonly=True) as s:
        assert [p.number for p in care_readers(s, student)] == ["T001"]
        # X999 is not on the roster and is skipped.
        assert [p.number for p in care_readers(s, student, contacts=CONTACTS)] == ["T001", "T005"]
        # Another college's contacts are not this student's.
        assert [p.number for p in care_readers(s, student, contacts={"药学院": ["T005"]})] == [
            "T001"
        ]


def test_only_readers_and_assignees_may_read(app: App) -> None:
    add_staff(app, "T005", "孙心理", Role.COUNSELOR, ())
    add_staff(app, "T006", "周老师", Role.COUNSELOR, ())
    student = person_id(app, "2020001")
    with app.uow(readonly=True) as s:

        def may(number: str, **kw: object) -> bool:
            actor = identity.actor_for_number(s, number)
            return may_read_care(s, actor, student, contacts=CONTACTS, **kw)  # type: ignore[arg-type]

        assert may("T001") and may("T005")
        for number in ("T002", "T003", "T009", "T006", "2020001", "2020002"):
            assert not may(number), number
        assert may("T006", assigned_to={person_id(app, "T006")})
        # A student is never a reader, even if named as an assignee.
        assert not may("2020002", assigned_to={person_id(app, "2020002")})


def test_a_read_is_audited_without_the_data(app: App) -> None:
    student = person_id(app, "2020001")
    with app.uow() as s:
        audit_read(s, identity.actor_for_number(s, "T001"), student, "alert:1", now=app.clock.now())
    with app.uow(readonly=True) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "care_read")).one()
    assert entry.target == "person:2020001" and entry.detail == {"what": "alert:1"}
    assert entry.at == app.clock.now()


def test_many_classes_readers_in_one_call_are_each_classes_own(app: App) -> None:
    add_staff(app, "T005", "孙心理", Role.COUNSELOR, ())
    add_staff(app, "T006", "周老师", Role.COUNSELOR, ("检验172",))
    add_staff(app, "T007", "钱班主任", Role.HEAD_TEACHER, ("护理172",))
    with app.uow() as s:
        # A class with no student yet has no care records and so no readers.
        college_id = s.scalar(select(SchoolClass.college_id).where(SchoolClass.code == "护理172"))
        assert college_id is not None
        s.add(SchoolClass(code="护理173", college_id=college_id))
        s.flush()
        add_assignment = s.scalar(select(Person.id).where(Person.number == "T001"))
        empty = s.scalar(select(SchoolClass.id).where(SchoolClass.code == "护理173"))
        assert add_assignment is not None and empty is not None
        s.add(StaffAssignment(person_id=add_assignment, class_id=empty))
    with app.uow(readonly=True) as s:
        ids = dict(s.execute(select(SchoolClass.code, SchoolClass.id)).all())
        found = classes_care_readers(s, ids.values(), contacts=CONTACTS)
        assert set(found) == {ids["护理172"], ids["检验172"]}
        for code in ("护理172", "检验172"):
            one = class_care_readers(s, ids[code], contacts=CONTACTS)
            assert [p.number for p in found[ids[code]]] == [p.number for p in one]
            student = s.scalar(select(Person.id).where(Person.class_id == ids[code]))
            assert student is not None
            assert [p.number for p in one] == [
                p.number for p in care_readers(s, student, contacts=CONTACTS)
            ]
        # Counselors and the college's contact; never a head teacher.
        assert [p.number for p in found[ids["检验172"]]] == ["T001", "T005", "T006"]
        assert [p.number for p in found[ids["护理172"]]] == ["T001", "T005"]
        assert class_care_readers(s, ids["护理173"], contacts=CONTACTS) == []
        assert classes_care_readers(s, []) == {}
