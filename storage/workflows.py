"""What leave requests and subsidy applications share: typed ids (L37, S12), state names,
and the one-step conditional state change.

Who is on leave on a day and which requests wait for a decision are read in storage.reports
(`on_leave`, `pending_requests`), beside the other numbers of a day.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.errors import NotPending
from storage.models import LeaveRequest, SubsidyApplication

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
