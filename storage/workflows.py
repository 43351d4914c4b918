"""What leave requests and subsidy applications share: typed ids (L37, S12), state names,
the one-step conditional state change, and the list of requests still waiting for a decision."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.errors import NotPending
from storage.models import LeaveRequest, Person, SubsidyApplication

# Free text a person types into a request (reasons, notes): the replies state this limit.
MAX_TEXT = 200

LEAVE_PENDING = "pending"
LEAVE_APPROVED = "approved"
LEAVE_REJECTED = "rejected"
LEAVE_CANCELLED = "cancelled"
LEAVE_ENDED = "ended"

SUBSIDY_PENDING_COUNSELOR = "pending_counselor"
SUBSIDY_PENDING_COLLEGE = "pending_college"
SUBSIDY_APPROVED = "approved"
SUBSIDY_REJECTED = "rejected"
SUBSIDY_CANCELLED = "cancelled"
SUBSIDY_OPEN = (SUBSIDY_PENDING_COUNSELOR, SUBSIDY_PENDING_COLLEGE)

_STATES: dict[str, tuple[str, str]] = {
    LEAVE_PENDING: ("待审批", "pending"),
    LEAVE_APPROVED: ("已批准", "approved"),
    LEAVE_REJECTED: ("已驳回", "rejected"),
    LEAVE_CANCELLED: ("已撤销", "cancelled"),
    LEAVE_ENDED: ("已结束", "ended"),
    SUBSIDY_PENDING_COUNSELOR: ("待辅导员审核", "waiting for the counselor"),
    SUBSIDY_PENDING_COLLEGE: ("待学工办审批", "waiting for the college office"),
}

Kind = Literal["L", "S"]
_REF = re.compile(r"^([LS])#?(\d{1,9})$")


@dataclass(frozen=True)
class Ref:
    """A typed request id as people see it: L37 is leave request 37, S12 subsidy application 12."""

    kind: Kind
    id: int

    def __str__(self) -> str:
        return f"{self.kind}{self.id}"


def parse_ref(token: str) -> Ref | None:
    """`L37`, `l37`, `Ｌ37` → Ref('L', 37); anything else → None."""
    text = unicodedata.normalize("NFKC", token).strip().upper()
    m = _REF.match(text)
    if m is None:
        return None
    kind: Kind = "L" if m.group(1) == "L" else "S"
    return Ref(kind, int(m.group(2)))


def leave_ref(leave_id: int) -> str:
    return f"L{leave_id}"


def subsidy_ref(application_id: int) -> str:
    return f"S{application_id}"


def state_label(status: str, lang: str) -> str:
    zh, en = _STATES.get(status, (status, status))
    return en if lang == "en" else zh


def state_params(status: str) -> dict[str, str]:
    """A state for an error message, in both languages."""
    return {"state": state_label(status, "zh"), "state_en": state_label(status, "en")}


def not_pending(ref: str, status: str, action: str, action_en: str) -> NotPending:
    return NotPending(ref=ref, action=action, action_en=action_en, **state_params(status))


def transition(
    session: Session,
    model: type[LeaveRequest] | type[SubsidyApplication],
    row_id: int,
    from_states: Collection[str],
    values: dict[str, Any],
) -> bool:
    """Move one row out of one of `from_states`, in a single conditional UPDATE.

    Returns False when the row was no longer in one of those states: a second click, or
    another decider who got there first. Reading the state and then writing it would let
    both of two concurrent deciders win.
    """
    stmt = (
        update(model)
        .where(model.id == row_id, model.status.in_(list(from_states)))
        .values(**values)
        .returning(model.id)
        # The identity map may hold a stale copy; never let it decide what matched.
        .execution_options(synchronize_session=False)
    )
    won = session.execute(stmt).first() is not None
    return won


@dataclass(frozen=True)
class PendingRequest:
    """A request waiting for a decision, without its reason or amount (for roll-ups)."""

    ref: str
    kind: Literal["leave", "subsidy"]
    status: str
    student_id: int
    student_number: str
    student_name: str
    class_id: int
    created_at: datetime


def pending_requests(
    session: Session, class_ids: Iterable[int] | None, older_than: datetime | None
) -> list[PendingRequest]:
    """Leave requests and subsidy applications still waiting for a decision, oldest first.

    `class_ids` None means every class. `older_than` keeps only requests made before that
    instant (the roll-up passes now minus one day to list what has waited for over a day).
    """
    ids = None if class_ids is None else list(class_ids)
    out: list[PendingRequest] = []
    leaves = select(LeaveRequest, Person).join(Person, Person.id == LeaveRequest.student_id)
    leaves = leaves.where(LeaveRequest.status == LEAVE_PENDING)
    subsidies = select(SubsidyApplication, Person).join(
        Person, Person.id == SubsidyApplication.student_id
    )
    subsidies = subsidies.where(SubsidyApplication.status.in_(SUBSIDY_OPEN))
    if ids is not None:
        leaves = leaves.where(LeaveRequest.class_id.in_(ids))
        subsidies = subsidies.where(SubsidyApplication.class_id.in_(ids))
    if older_than is not None:
        leaves = leaves.where(LeaveRequest.created_at < older_than)
        subsidies = subsidies.where(SubsidyApplication.created_at < older_than)
    for leave, person in session.execute(leaves):
        out.append(
            PendingRequest(
                leave_ref(leave.id),
                "leave",
                leave.status,
                person.id,
                person.number,
                person.name,
                leave.class_id,
                leave.created_at,
            )
        )
    for app, person in session.execute(subsidies):
        out.append(
            PendingRequest(
                subsidy_ref(app.id),
                "subsidy",
                app.status,
                person.id,
                person.number,
                person.name,
                app.class_id,
                app.created_at,
            )
        )
    out.sort(key=lambda r: (r.created_at, r.ref))
    return out
