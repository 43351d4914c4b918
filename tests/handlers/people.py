"""Helpers for workflow tests: extra staff beyond the demo school, and reading rows back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.adapters.testing import Sent
from bot.app import App
from storage.models import (
    AuditEntry,
    Base,
    ChatAccount,
    Person,
    Role,
    SchoolClass,
    StaffAssignment,
)


def add_staff(app: App, number: str, name: str, role: Role, class_codes: tuple[str, ...]) -> None:
    """A staff member assigned to `class_codes`, bound on the test platform as `number`."""
    now = app.clock.now()
    with app.uow() as s:
        person = Person(number=number, name=name, role=role.value, created_at=now, updated_at=now)
        s.add(person)
        s.flush()
        for code in class_codes:
            class_id = s.scalar(select(SchoolClass.id).where(SchoolClass.code == code))
            assert class_id is not None
            s.add(StaffAssignment(person_id=person.id, class_id=class_id))
        s.add(
            ChatAccount(platform="test", platform_user_id=number, person_id=person.id, bound_at=now)
        )


def unassign(app: App, number: str, class_code: str) -> None:
    with app.uow() as s:
        person_id = s.scalar(select(Person.id).where(Person.number == number))
        class_id = s.scalar(select(SchoolClass.id).where(SchoolClass.code == class_code))
        for a in s.scalars(
            select(StaffAssignment).where(
                StaffAssignment.person_id == person_id, StaffAssignment.class_id == class_id
            )
        ):
            s.delete(a)


def rows(app: App, model: type[Any]) -> list[Any]:
    with app.uow(readonly=True) as s:
        return list(s.scalars(select(model).order_by(model.id)))


def audit_trail(app: App, target: str) -> list[tuple[str, str | None, str | None]]:
    """(action, from, to) of every audit entry on one request, in order."""
    with app.uow(readonly=True) as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.target == target).order_by(AuditEntry.id)
        )
        return [(e.action, e.from_state, e.to_state) for e in entries]


def database_text(app: App) -> str:
    """Every value in every table, as one string: to prove some text was never stored."""
    parts: list[str] = []
    with app.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def private_to(sent: list[Sent], chat_id: str) -> list[Sent]:
    return [s for s in sent if not s.to.is_group and s.to.chat_id == chat_id]


def in_groups(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.to.is_group]
