"""请假: leave requests from asking to ending, declared on the workflow engine.

pending → approved | rejected | cancelled; approved → ended (销假, or by itself once its
last day has passed). The engine makes every change one conditional UPDATE, one event and
one audit entry (never the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.dates import day_label
from bot.texts import Catalogue, Text
from storage import requests
from storage.errors import BadArguments, LeaveOverlaps
from storage.identity import Actor
from storage.models import Person, Request, RequestEvent, Role
from storage.requests import (
    Column,
    LedgerRow,
    LedgerSheet,
    Retention,
    Sensitivity,
    State,
    Step,
    Timer,
)


class LeaveLedgerTexts(Catalogue):
    """The 请假 sheet of the daily ledger."""

    sheet = Text("请假", "Leave")
    type = Text("类型", "Type")
    starts = Text("开始", "Starts")
    ends = Text("结束", "Ends")
    state = Text("状态", "State")
    reason = Text("理由", "Reason")
    asked_at = Text("申请时间", "Asked at")
    decided_by = Text("审批人", "Decided by")
    decided_at = Text("审批时间", "Decided at")
    decision_note = Text("审批意见", "Decision note")
    followups = Text("跟进记录", "Follow-ups")
    sick = Text("病假", "sick")
    personal = Text("事假", "personal")


class LeaveStorageTexts(Catalogue):
    end_action = Text("销假", "ended")
    followup_action = Text("跟进", "followed up")
    reason = Text("理由", "The reason")
    leave_ref = Text("请假 {ref}", "Leave {ref}")
    note = Text("跟进记录", "The note")
    end_date_is_before = Text("结束日期早于开始日期。", "The end date is before the start date.")
    leave_can_be_asked = Text(
        "请假最多提前 {max_days_ahead} 天申请。",
        "A leave can be asked for at most {max_days_ahead} days ahead.",
    )
    leave_can_last_at = Text(
        "一次请假最长 {max_days} 天。", "A leave can last at most {max_days} days."
    )
    you_have_no_class = Text(
        "花名册里你没有班级，请联系辅导员。", "You have no class on the roster."
    )
    ref_is_not_sick = Text("{ref} 是事假，只有病假需要跟进。", "{ref} is not a sick leave.")
    pending = Text("待审批", "pending")
    approved = Text("已批准", "approved")
    rejected = Text("已驳回", "rejected")
    cancelled = Text("已撤销", "cancelled")
    ended = Text("已结束", "ended")
    personal_leave_cannot_start = Text(
        "事假不能从过去的日期开始，请从今天或以后开始。",
        "A personal leave cannot start in the past.",
    )
    sick_leave_can_start = Text(
        "病假最多补请 {max_days_back} 天前的。",
        "A sick leave can start at most {max_days_back} days ago.",
    )


SICK = "sick"
PERSONAL = "personal"
TYPES = (SICK, PERSONAL)
TYPE_LABELS = {SICK: LeaveLedgerTexts.sick, PERSONAL: LeaveLedgerTexts.personal}


def _type_cell(row: LedgerRow) -> str:
    label = TYPE_LABELS.get(row.payload.get("type", ""))
    return label(row.lang) if label else ""


PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
CANCELLED = "cancelled"
ENDED = "ended"
# Leaves that hold their days: a new request may not overlap them.
HOLDING = (PENDING, APPROVED)
FOLLOWUP = "followup"


class LeavePayload(BaseModel):
    """What a student asks for; the dates are the request's own columns."""

    type: Literal["sick", "personal"]
    reason: str


def _decision(row: LedgerRow) -> RequestEvent | None:
    return row.last("approve", "reject")


def _followups(row: LedgerRow, to_local: Any) -> str:
    return "\n".join(
        f"{day_label(to_local(e.at).date())} {to_local(e.at):%H:%M} {e.note}"
        for e, _ in row.events
        if e.action == FOLLOWUP and e.note
    )


LEAVE: requests.RequestKind[LeavePayload] = requests.RequestKind(
    name="leave",
    noun=("请假", "Leave"),
    payload=LeavePayload,
    states={
        PENDING: State(*LeaveStorageTexts.pending.pair, open=True),
        APPROVED: State(*LeaveStorageTexts.approved.pair),
        REJECTED: State(*LeaveStorageTexts.rejected.pair, final=True),
        CANCELLED: State(*LeaveStorageTexts.cancelled.pair, final=True),
        ENDED: State(*LeaveStorageTexts.ended.pair, final=True),
    },
    initial=PENDING,
    steps=(
        Step(
            PENDING,
            approve_to=APPROVED,
            reject_to=REJECTED,
            by=(Role.COUNSELOR, Role.COLLEGE_ADMIN),
            also=frozenset({Role.COUNSELOR, Role.COLLEGE_ADMIN}),
            who=("辅导员", "the counselor"),
        ),
    ),
    # An approved leave may still be withdrawn up to its first day.
    cancellable={
        PENDING: lambda r, today: True,
        APPROVED: lambda r, today: r.starts_on is not None and today <= r.starts_on,
    },
    cancelled=CANCELLED,
    timers=(
        # Readers go by dates, so the hours before this runs still count correctly.
        Timer(APPROVED, ENDED, "expire", lambda today, now: Request.ends_on < today),
    ),
    sensitivity=Sensitivity.ORDINARY,
    retention=Retention("health", text_fields=("reason",), notes=(FOLLOWUP,)),
    ledger=LedgerSheet(
        LeaveLedgerTexts.sheet,
        (
            Column(LeaveLedgerTexts.type, 6, lambda r, t: _type_cell(r)),
            Column(LeaveLedgerTexts.starts, 11, lambda r, t: r.request.starts_on),
            Column(LeaveLedgerTexts.ends, 11, lambda r, t: r.request.ends_on),
            Column(LeaveLedgerTexts.state, 8, lambda r, t: r.kind.label(r.request.status, r.lang)),
            Column(LeaveLedgerTexts.reason, 24, lambda r, t: r.payload.get("reason", "")),
            Column(LeaveLedgerTexts.asked_at, 17, lambda r, t: t(r.request.created_at)),
            Column(LeaveLedgerTexts.decided_by, 10, lambda r, t: r.actor_of(_decision(r))),
            Column(
                LeaveLedgerTexts.decided_at,
                17,
                lambda r, t: t(e.at) if (e := _decision(r)) else None,
            ),
            Column(
                LeaveLedgerTexts.decision_note,
                16,
                lambda r, t: (e.note or "") if (e := _decision(r)) else "",
            ),
            Column(LeaveLedgerTexts.followups, 30, _followups),
        ),
    ),
)


@dataclass(frozen=True)
class LeaveLimits:
    """The `[leave]` settings the rules need."""

    max_days_ahead: int
    max_days: int
    max_days_back: int


def check_dates(kind: str, start: date, end: date, today: date, limits: LeaveLimits) -> None:
    """The date rules of a new request. A sick leave may be reported afterwards (up to
    `max_days_back` days); a personal leave must be asked for before it begins."""
    if end < start:
        raise BadArguments(LeaveStorageTexts.end_date_is_before)
    if start > today + timedelta(days=limits.max_days_ahead):
        raise BadArguments(
            LeaveStorageTexts.leave_can_be_asked,
            max_days_ahead=limits.max_days_ahead,
        )
    if (end - start).days + 1 > limits.max_days:
        raise BadArguments(
            LeaveStorageTexts.leave_can_last_at,
            max_days=limits.max_days,
        )
    if start < today:
        if kind != SICK:
            raise BadArguments(
                LeaveStorageTexts.personal_leave_cannot_start,
            )
        if (today - start).days > limits.max_days_back:
            raise BadArguments(
                LeaveStorageTexts.sick_leave_can_start,
                max_days_back=limits.max_days_back,
            )


def submit(
    session: Session,
    actor: Actor,
    *,
    kind: str,
    start: date,
    end: date,
    reason: str,
    today: date,
    now: datetime,
    limits: LeaveLimits,
) -> Request:
    """Store a new pending request, after the date rules and the overlap check."""
    if actor.class_id is None:
        raise BadArguments(LeaveStorageTexts.you_have_no_class)
    requests.check_text(reason, *LeaveStorageTexts.reason.pair)
    check_dates(kind, start, end, today, limits)
    # Two requests from the same student at once must not both pass the overlap check.
    session.execute(
        select(Person.id).where(Person.id == actor.person_id).with_for_update(key_share=True)
    )
    clash = session.scalar(
        select(Request)
        .where(
            Request.kind == LEAVE.name,
            Request.student_id == actor.person_id,
            Request.status.in_(HOLDING),
            Request.starts_on <= end,
            Request.ends_on >= start,
        )
        .order_by(Request.starts_on)
        .limit(1)
    )
    if clash is not None:
        assert clash.starts_on is not None and clash.ends_on is not None
        raise LeaveOverlaps(
            ref=LEAVE.ref(clash.number),
            start=day_label(clash.starts_on),
            end=day_label(clash.ends_on),
            **requests.state_params(LEAVE, clash.status),
        )
    return requests.submit(
        session,
        LEAVE,
        actor,
        LeavePayload(type=SICK if kind == SICK else PERSONAL, reason=reason),
        now=now,
        starts_on=start,
        ends_on=end,
    )


def get(session: Session, number: int) -> Request:
    return requests.get(session, LEAVE, number)


def decide(
    session: Session,
    actor: Actor,
    number: int,
    *,
    approve: bool,
    note: str | None,
    now: datetime,
) -> Request:
    """批准 / 驳回 a pending request, by a decider whose scope covers the student's class."""
    return requests.decide(
        session, LEAVE, actor, number, approve=approve, note=note, now=now
    ).request


def cancel(session: Session, actor: Actor, number: int, today: date, now: datetime) -> Request:
    """撤销: withdraw a pending request, or an approved one that has not begun."""
    request, _ = requests.cancel(session, LEAVE, actor, number, today=today, now=now)
    return request


def come_back(session: Session, actor: Actor, number: int, today: date, now: datetime) -> Request:
    """销假: end an approved leave early. Back today means the leave covers up to yesterday,
    or only its first day when that is today (it was taken, and stays in the ledger); back
    before it began means it never took effect, and it is withdrawn. Shortening the end
    date keeps "who was on leave on day D" a plain date test for every reader
    (storage.reports.on_leave, attendance)."""
    leave = requests.own(session, LEAVE, actor, number)
    action = LeaveStorageTexts.end_action.pair
    if leave.status != APPROVED:
        raise requests.not_pending(LEAVE, LEAVE.ref(number), leave.status, action)
    assert leave.starts_on is not None and leave.ends_on is not None
    if today < leave.starts_on:
        return requests.move(
            session,
            LEAVE,
            leave,
            to=CANCELLED,
            action="cancel",
            actor=actor,
            now=now,
            refused=requests.CANCEL,
        )
    last_day = max(leave.starts_on, min(leave.ends_on, today - timedelta(days=1)))
    return requests.move(
        session,
        LEAVE,
        leave,
        to=ENDED,
        action="back",
        actor=actor,
        now=now,
        values={"ends_on": last_day},
        detail={"requested_end": leave.ends_on.isoformat(), "end": last_day.isoformat()},
        refused=action,
    )


def follow_up(session: Session, actor: Actor, number: int, note: str, now: datetime) -> int:
    """病因追查: add a note to a sick leave; returns how many notes it now has."""
    leave = get(session, number)
    ref = LEAVE.ref(number)
    actor.require_class(leave.class_id, LeaveStorageTexts.leave_ref.bind(ref=ref))
    requests.check_text(note, *LeaveStorageTexts.note.pair)
    if LEAVE.read(leave).type != SICK:
        raise BadArguments(LeaveStorageTexts.ref_is_not_sick, ref=ref)
    if leave.status in (REJECTED, CANCELLED):
        raise requests.not_pending(LEAVE, ref, leave.status, LeaveStorageTexts.followup_action.pair)
    return requests.add_note(
        session, LEAVE, leave, actor=actor, action=FOLLOWUP, note=note, now=now
    )


def for_student(session: Session, student_id: int, limit: int = 5) -> list[Request]:
    """A student's most recent requests, newest first."""
    return requests.for_student(session, LEAVE, student_id, limit)


def days(leave: Request) -> int:
    assert leave.starts_on is not None and leave.ends_on is not None
    return (leave.ends_on - leave.starts_on).days + 1
