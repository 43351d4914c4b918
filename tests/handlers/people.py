"""Helpers for workflow tests: extra staff beyond the demo school, and reading rows back."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.testing import Sent
from bot.app import App
from storage import requests
from storage.leave import LEAVE
from storage.models import (
    AuditEntry,
    Base,
    ChatAccount,
    Person,
    Request,
    RequestEvent,
    Role,
    SchoolClass,
    StaffAssignment,
)
from storage.requests import RequestKind
from storage.subsidy import SUBSIDY


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


def database_text(app: App, skip: Collection[str] = ()) -> str:
    """Every value in every table (but those in `skip`), as one string: to prove some text was
    never stored."""
    parts: list[str] = []
    with app.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            for row in conn.execute(table.select()):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def private_to(sent: list[Sent], chat_id: str) -> list[Sent]:
    return [s for s in sent if not s.to.is_group and s.to.chat_id == chat_id]


def in_groups(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.to.is_group]


def add_request(
    session: Session,
    kind: RequestKind[Any],
    *,
    student_id: int,
    class_id: int,
    status: str,
    created_at: datetime,
    payload: dict[str, Any],
    starts_on: date | None = None,
    ends_on: date | None = None,
    closed_at: datetime | None = None,
) -> Request:
    """A request row written directly, in a state the commands would take longer to reach."""
    request = Request(
        kind=kind.name,
        number=requests.next_number(session, kind),
        student_id=student_id,
        class_id=class_id,
        status=status,
        created_at=created_at,
        changed_at=closed_at or created_at,
        closed_at=closed_at,
        starts_on=starts_on,
        ends_on=ends_on,
        exclusive=kind.one_open and kind.states[status].open,
        payload=kind.payload.model_validate(payload).model_dump(mode="json"),
    )
    session.add(request)
    session.flush()
    return request


def add_event(
    session: Session,
    request: Request,
    action: str,
    at: datetime,
    *,
    note: str | None = None,
    actor_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
) -> None:
    session.add(
        RequestEvent(
            request_id=request.id,
            at=at,
            actor_id=actor_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
        )
    )


def requests_of(app: App, kind: RequestKind[Any]) -> list[Request]:
    """Every request of one kind, in number order."""
    with app.uow(readonly=True) as s:
        return list(
            s.scalars(select(Request).where(Request.kind == kind.name).order_by(Request.number))
        )


def notes_of(app: App, action: str) -> list[RequestEvent]:
    """Every request event of one action (a follow-up note), in order."""
    with app.uow(readonly=True) as s:
        return list(
            s.scalars(
                select(RequestEvent).where(RequestEvent.action == action).order_by(RequestEvent.id)
            )
        )


@dataclass(frozen=True)
class LeaveRow:
    """A leave request as its tests read it: the request, its payload and its decision."""

    number: int
    kind: str
    start_date: date | None
    end_date: date | None
    status: str
    reason: str
    decided_by: int | None
    decided_at: datetime | None
    decision_note: str | None
    ended_at: datetime | None


@dataclass(frozen=True)
class SubsidyRow:
    """A subsidy application as its tests read it: the request, its payload and its steps."""

    number: int
    amount_cents: int
    approved_cents: int | None
    reason: str
    status: str
    reject_reason: str | None
    counselor_id: int | None
    college_admin_id: int | None


def _events(app: App, request: Request) -> list[RequestEvent]:
    with app.uow(readonly=True) as s:
        return list(
            s.scalars(
                select(RequestEvent)
                .where(RequestEvent.request_id == request.id)
                .order_by(RequestEvent.id)
            )
        )


def leave_rows(app: App) -> list[LeaveRow]:
    out = []
    for r in requests_of(app, LEAVE):
        payload = LEAVE.read(r)
        decision = next(
            (e for e in reversed(_events(app, r)) if e.action in ("approve", "reject")), None
        )
        out.append(
            LeaveRow(
                number=r.number,
                kind=payload.type,
                start_date=r.starts_on,
                end_date=r.ends_on,
                status=r.status,
                reason=payload.reason,
                decided_by=decision.actor_id if decision else None,
                decided_at=decision.at if decision else None,
                decision_note=decision.note if decision else None,
                ended_at=r.closed_at if r.status in ("cancelled", "ended") else None,
            )
        )
    return out


def subsidy_rows(app: App) -> list[SubsidyRow]:
    out = []
    for r in requests_of(app, SUBSIDY):
        payload = SUBSIDY.read(r)
        steps = {e.from_status: e for e in _events(app, r) if e.action in ("approve", "reject")}
        rejected = next((e for e in steps.values() if e.action == "reject"), None)
        counselor, college = steps.get("pending_counselor"), steps.get("pending_college")
        out.append(
            SubsidyRow(
                number=r.number,
                amount_cents=payload.amount_cents,
                approved_cents=payload.approved_cents,
                reason=payload.reason,
                status=r.status,
                reject_reason=rejected.note if rejected else None,
                counselor_id=counselor.actor_id if counselor else None,
                college_admin_id=college.actor_id if college else None,
            )
        )
    return out
