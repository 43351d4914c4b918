"""临时困难补助: hardship-subsidy applications and their two-step review, declared on the
workflow engine.

pending_counselor → pending_college → approved, or rejected at either step (or cancelled by
the student while still open). Amounts are integer cents. Audit entries never hold the
reason or the amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from bot.texts import Catalogue, Text
from storage import requests
from storage.errors import AmountTooHigh, OpenApplicationExists, OutOfRange
from storage.identity import Actor
from storage.models import Person, Request, Role
from storage.requests import (
    Column,
    Decision,
    LedgerRow,
    LedgerSheet,
    Retention,
    Sensitivity,
    State,
    Step,
)


class SubsidyLedgerTexts(Catalogue):
    """The 补助 sheet of the daily ledger."""

    sheet = Text("补助", "Subsidies")
    asked = Text("申请金额(元)", "Asked (yuan)")
    granted = Text("核定金额(元)", "Granted (yuan)")
    reason = Text("理由", "Reason")
    state = Text("状态", "State")
    asked_at = Text("申请时间", "Asked at")
    counselor_at = Text("辅导员审批时间", "Counselor decided at")
    college_at = Text("学院审批时间", "College decided at")
    rejection = Text("驳回理由", "Rejection reason")


class SubsidyStorageTexts(Catalogue):
    yuan = Text("{amount} 元", "{amount} yuan")
    reason = Text("理由", "The reason")
    amount = Text("金额", "The amount")
    waiting_for_counselor = Text("待辅导员审核", "waiting for the counselor")
    waiting_for_college_office = Text("待学工办审批", "waiting for the college office")
    approved = Text("已批准", "approved")
    rejected = Text("已驳回", "rejected")
    cancelled = Text("已撤销", "cancelled")


PENDING_COUNSELOR = "pending_counselor"
PENDING_COLLEGE = "pending_college"
APPROVED = "approved"
REJECTED = "rejected"
CANCELLED = "cancelled"


class SubsidyPayload(BaseModel):
    amount_cents: int
    reason: str
    # What the reviewers granted so far (a counselor may lower it).
    approved_cents: int | None = None


def _step_time(row: LedgerRow, step: str, to_local: Any) -> Any:
    event = row.last("approve", "reject", from_status=step)
    return to_local(event.at) if event else None


def _reject_reason(row: LedgerRow) -> str:
    event = row.last("reject")
    return (event.note or "") if event else ""


def _yuan(cents: int | None) -> float | None:
    return cents / 100 if cents is not None else None


SUBSIDY: requests.RequestKind[SubsidyPayload] = requests.RequestKind(
    name="subsidy",
    noun=("补助申请", "Subsidy application"),
    short_noun=("补助", "subsidy"),
    payload=SubsidyPayload,
    states={
        PENDING_COUNSELOR: State(*SubsidyStorageTexts.waiting_for_counselor.pair, open=True),
        PENDING_COLLEGE: State(*SubsidyStorageTexts.waiting_for_college_office.pair, open=True),
        APPROVED: State(*SubsidyStorageTexts.approved.pair, final=True),
        REJECTED: State(*SubsidyStorageTexts.rejected.pair, final=True),
        CANCELLED: State(*SubsidyStorageTexts.cancelled.pair, final=True),
    },
    initial=PENDING_COUNSELOR,
    steps=(
        Step(
            PENDING_COUNSELOR,
            approve_to=PENDING_COLLEGE,
            reject_to=REJECTED,
            # A class without a counselor would wait forever: its college office takes the step.
            by=(Role.COUNSELOR, Role.COLLEGE_ADMIN),
            who=("辅导员", "the counselor"),
        ),
        Step(
            PENDING_COLLEGE,
            approve_to=APPROVED,
            reject_to=REJECTED,
            by=(Role.COLLEGE_ADMIN,),
            who=("学工办", "the college office"),
        ),
    ),
    cancellable={
        PENDING_COUNSELOR: lambda r, today: True,
        PENDING_COLLEGE: lambda r, today: True,
    },
    cancelled=CANCELLED,
    sensitivity=Sensitivity.RESTRICTED,
    retention=Retention("subsidy", delete=True),
    one_open=True,
    already_open=OpenApplicationExists,
    ledger=LedgerSheet(
        SubsidyLedgerTexts.sheet,
        (
            Column(SubsidyLedgerTexts.asked, 12, lambda r, t: _yuan(r.payload.get("amount_cents"))),
            Column(
                SubsidyLedgerTexts.granted, 12, lambda r, t: _yuan(r.payload.get("approved_cents"))
            ),
            Column(SubsidyLedgerTexts.reason, 30, lambda r, t: r.payload.get("reason", "")),
            Column(
                SubsidyLedgerTexts.state, 12, lambda r, t: r.kind.label(r.request.status, r.lang)
            ),
            Column(SubsidyLedgerTexts.asked_at, 17, lambda r, t: t(r.request.created_at)),
            Column(
                SubsidyLedgerTexts.counselor_at,
                17,
                lambda r, t: _step_time(r, PENDING_COUNSELOR, t),
            ),
            Column(
                SubsidyLedgerTexts.college_at, 17, lambda r, t: _step_time(r, PENDING_COLLEGE, t)
            ),
            Column(SubsidyLedgerTexts.rejection, 20, lambda r, t: _reject_reason(r)),
        ),
    ),
)


def format_amount(cents: int) -> str:
    """¥800 or ¥800.50."""
    yuan, rest = divmod(cents, 100)
    return f"¥{yuan}" if rest == 0 else f"¥{yuan}.{rest:02d}"


def check_amount(cents: int, max_amount: int) -> int:
    if not 100 <= cents <= max_amount * 100:
        raise OutOfRange(
            what=SubsidyStorageTexts.amount.bind(),
            low="1",
            high=SubsidyStorageTexts.yuan.bind(amount=max_amount),
        )
    return cents


def submit(
    session: Session,
    actor: Actor,
    *,
    amount_cents: int,
    reason: str,
    max_amount: int,
    now: datetime,
) -> Request:
    """Store a new application; a student may have only one open at a time."""
    check_amount(amount_cents, max_amount)
    requests.check_text(reason, *SubsidyStorageTexts.reason.pair)
    return requests.submit(
        session, SUBSIDY, actor, SubsidyPayload(amount_cents=amount_cents, reason=reason), now=now
    )


def get(session: Session, number: int) -> Request:
    return requests.get(session, SUBSIDY, number)


def deciders(session: Session, app: Request) -> list[Person]:
    """Who decides the step the application is waiting at (nobody once it is closed)."""
    return requests.deciders(session, SUBSIDY, app)


def deciders_for_state(session: Session, class_id: int, status: str) -> list[Person]:
    return requests.deciders_at(session, SUBSIDY, class_id, status)


def counselor_of(session: Session, app: Request) -> int | None:
    """Who took the counselor's step, if anyone did."""
    event = requests.last_event(session, app, ("approve",), from_status=PENDING_COUNSELOR)
    return event.actor_id if event else None


def reject_reason(session: Session, app: Request) -> str | None:
    event = requests.last_event(session, app, ("reject",))
    return event.note if event else None


def decide(
    session: Session,
    actor: Actor,
    number: int,
    *,
    approve: bool,
    amount_cents: int | None,
    reason: str | None,
    now: datetime,
) -> Decision:
    """One review step: the counselor's (may lower the amount), then the college office's."""
    lowered = False

    def amount(app: Request, step: Step) -> Mapping[str, Any]:
        nonlocal lowered
        if not approve:
            return {}
        payload = SUBSIDY.read(app)
        current = (
            payload.approved_cents if payload.approved_cents is not None else payload.amount_cents
        )
        if amount_cents is not None and amount_cents > current:
            raise AmountTooHigh(current=format_amount(current))
        approved = current if amount_cents is None else amount_cents
        lowered = approved < current
        return {"approved_cents": approved}

    return requests.decide(
        session,
        SUBSIDY,
        actor,
        number,
        approve=approve,
        note=None if approve else reason,
        now=now,
        validate=amount,
        detail=lambda app: {"lowered": True} if lowered else None,
    )


def cancel(
    session: Session, actor: Actor, number: int, now: datetime, today: date | None = None
) -> tuple[Request, str]:
    """撤销: the student withdraws an application still under review."""
    return requests.cancel(session, SUBSIDY, actor, number, today=today or now.date(), now=now)


def open_application(session: Session, student_id: int) -> Request | None:
    """The student's application still under review, if any."""
    return requests.open_request(session, SUBSIDY, student_id)


def cancel_open_on_withdrawal(session: Session, actor: Actor, now: datetime) -> Request | None:
    """A student who withdraws consent takes back the application still under review."""
    app = open_application(session, actor.person_id)
    if app is None:
        return None
    cancelled, _ = cancel(session, actor, app.number, now)
    return cancelled


def for_student(session: Session, student_id: int, limit: int = 5) -> list[Request]:
    """A student's most recent applications, newest first."""
    return requests.for_student(session, SUBSIDY, student_id, limit)
