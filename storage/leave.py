"""请假: leave requests from asking to ending.

pending → approved | rejected | cancelled; approved → ended (销假, or the end date passed).
Every state change is one conditional UPDATE and one audit entry (never the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.dates import day_label
from storage import audit
from storage.errors import BadArguments, LeaveOverlaps, NotFound, TextTooLong
from storage.identity import Actor
from storage.models import LeaveFollowUp, LeaveRequest, Person
from storage.workflows import (
    LEAVE_APPROVED,
    LEAVE_CANCELLED,
    LEAVE_ENDED,
    LEAVE_PENDING,
    LEAVE_REJECTED,
    MAX_TEXT,
    leave_ref,
    not_pending,
    state_params,
    transition,
)

SICK = "sick"
PERSONAL = "personal"
KINDS = (SICK, PERSONAL)
# Leaves that hold their days: a new request may not overlap them.
HOLDING = (LEAVE_PENDING, LEAVE_APPROVED)


@dataclass(frozen=True)
class LeaveLimits:
    """The `[leave]` settings the rules need."""

    max_days_ahead: int
    max_days: int
    max_days_back: int


def check_text(text: str, what: str, what_en: str) -> str:
    if len(text) > MAX_TEXT:
        raise TextTooLong(what=what, what_en=what_en, limit=MAX_TEXT)
    return text


def check_dates(kind: str, start: date, end: date, today: date, limits: LeaveLimits) -> None:
    """The date rules of a new request. A sick leave may be reported afterwards (up to
    `max_days_back` days); a personal leave must be asked for before it begins."""
    if end < start:
        raise BadArguments("结束日期早于开始日期。", "The end date is before the start date.")
    if start > today + timedelta(days=limits.max_days_ahead):
        raise BadArguments(
            f"请假最多提前 {limits.max_days_ahead} 天申请。",
            f"A leave can be asked for at most {limits.max_days_ahead} days ahead.",
        )
    if (end - start).days + 1 > limits.max_days:
        raise BadArguments(
            f"一次请假最长 {limits.max_days} 天。",
            f"A leave can last at most {limits.max_days} days.",
        )
    if start < today:
        if kind != SICK:
            raise BadArguments(
                "事假不能从过去的日期开始，请从今天或以后开始。",
                "A personal leave cannot start in the past.",
            )
        if (today - start).days > limits.max_days_back:
            raise BadArguments(
                f"病假最多补请 {limits.max_days_back} 天前的。",
                f"A sick leave can start at most {limits.max_days_back} days ago.",
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
) -> LeaveRequest:
    """Store a new pending request, after the date rules and the overlap check."""
    if actor.class_id is None:
        raise BadArguments("花名册里你没有班级，请联系辅导员。", "You have no class on the roster.")
    check_text(reason, "理由", "The reason")
    check_dates(kind, start, end, today, limits)
    # Two requests from the same student at once must not both pass the overlap check.
    session.execute(
        select(Person.id).where(Person.id == actor.person_id).with_for_update(key_share=True)
    )
    clash = session.scalar(
        select(LeaveRequest)
        .where(
            LeaveRequest.student_id == actor.person_id,
            LeaveRequest.status.in_(HOLDING),
            LeaveRequest.start_date <= end,
            LeaveRequest.end_date >= start,
        )
        .order_by(LeaveRequest.start_date)
        .limit(1)
    )
    if clash is not None:
        raise LeaveOverlaps(
            ref=leave_ref(clash.id),
            start=day_label(clash.start_date),
            end=day_label(clash.end_date),
            **state_params(clash.status),
        )
    leave = LeaveRequest(
        student_id=actor.person_id,
        class_id=actor.class_id,
        kind=kind,
        start_date=start,
        end_date=end,
        reason=reason,
        status=LEAVE_PENDING,
        created_at=now,
    )
    session.add(leave)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="leave.submit",
        target=leave_ref(leave.id),
        to_state=LEAVE_PENDING,
    )
    return leave


def get(session: Session, leave_id: int) -> LeaveRequest:
    leave = session.get(LeaveRequest, leave_id, populate_existing=True)
    if leave is None:
        ref = leave_ref(leave_id)
        raise NotFound(what=f"请假 {ref}", what_en=f"Leave {ref}")
    return leave


def own(session: Session, actor: Actor, leave_id: int) -> LeaveRequest:
    """One of the asker's own requests; someone else's is simply not found."""
    leave = session.get(LeaveRequest, leave_id, populate_existing=True)
    if leave is None or leave.student_id != actor.person_id:
        ref = leave_ref(leave_id)
        raise NotFound(what=f"你的请假 {ref}", what_en=f"Your leave {ref}")
    return leave


def _change(
    session: Session,
    leave: LeaveRequest,
    actor: Actor | None,
    from_state: str,
    to_state: str,
    values: dict[str, object],
    action: tuple[str, str],
    now: datetime,
    audit_action: str,
    detail: dict[str, object] | None = None,
) -> LeaveRequest:
    ref = leave_ref(leave.id)
    if not transition(
        session, LeaveRequest, leave.id, (from_state,), {"status": to_state, **values}
    ):
        session.refresh(leave)
        raise not_pending(ref, leave.status, *action)
    session.refresh(leave)
    audit.record(
        session,
        at=now,
        actor=actor,
        action=audit_action,
        target=ref,
        from_state=from_state,
        to_state=to_state,
        detail=detail,
    )
    return leave


def decide(
    session: Session,
    actor: Actor,
    leave_id: int,
    *,
    approve: bool,
    note: str | None,
    now: datetime,
) -> LeaveRequest:
    """批准 / 驳回 a pending request, by a decider whose scope covers the student's class."""
    leave = get(session, leave_id)
    ref = leave_ref(leave.id)
    actor.require_class(leave.class_id, f"请假 {ref}", f"Leave {ref}")
    if note is not None:
        check_text(note, "驳回理由", "The reason")
    to_state = LEAVE_APPROVED if approve else LEAVE_REJECTED
    action = ("批准", "approved") if approve else ("驳回", "rejected")
    return _change(
        session,
        leave,
        actor,
        LEAVE_PENDING,
        to_state,
        {"decided_by": actor.person_id, "decided_at": now, "decision_note": note},
        action,
        now,
        "leave.approve" if approve else "leave.reject",
    )


def cancel(
    session: Session, actor: Actor, leave_id: int, today: date, now: datetime
) -> LeaveRequest:
    """撤销: withdraw a pending request, or an approved one that has not begun."""
    leave = own(session, actor, leave_id)
    action = ("撤销", "cancelled")
    if leave.status == LEAVE_APPROVED and today <= leave.start_date:
        return _withdraw_approved(session, actor, leave, now)
    if leave.status != LEAVE_PENDING:
        raise not_pending(leave_ref(leave.id), leave.status, *action)
    return _change(
        session,
        leave,
        actor,
        LEAVE_PENDING,
        LEAVE_CANCELLED,
        {"ended_at": now},
        action,
        now,
        "leave.cancel",
    )


def come_back(
    session: Session, actor: Actor, leave_id: int, today: date, now: datetime
) -> LeaveRequest:
    """销假: end an approved leave early. Back today means the leave covers up to yesterday,
    or only its first day when that is today (it was taken, and stays in the ledger); back
    before it began means it never took effect, and it is withdrawn. Shortening the end
    date keeps "who was on leave on day D" a plain date test for every reader
    (storage.reports.on_leave, attendance)."""
    leave = own(session, actor, leave_id)
    action = ("销假", "ended")
    if leave.status != LEAVE_APPROVED:
        raise not_pending(leave_ref(leave.id), leave.status, *action)
    if today < leave.start_date:
        return _withdraw_approved(session, actor, leave, now)
    last_day = max(leave.start_date, min(leave.end_date, today - timedelta(days=1)))
    return _change(
        session,
        leave,
        actor,
        LEAVE_APPROVED,
        LEAVE_ENDED,
        {"ended_at": now, "end_date": last_day},
        action,
        now,
        "leave.back",
        detail={"requested_end": leave.end_date.isoformat(), "end": last_day.isoformat()},
    )


def _withdraw_approved(
    session: Session, actor: Actor, leave: LeaveRequest, now: datetime
) -> LeaveRequest:
    return _change(
        session,
        leave,
        actor,
        LEAVE_APPROVED,
        LEAVE_CANCELLED,
        {"ended_at": now},
        ("撤销", "cancelled"),
        now,
        "leave.cancel",
    )


def follow_up(session: Session, actor: Actor, leave_id: int, note: str, now: datetime) -> int:
    """病因追查: add a note to a sick leave; returns how many notes it now has."""
    leave = get(session, leave_id)
    ref = leave_ref(leave.id)
    actor.require_class(leave.class_id, f"请假 {ref}", f"Leave {ref}")
    check_text(note, "跟进记录", "The note")
    if leave.kind != SICK:
        raise BadArguments(f"{ref} 是事假，只有病假需要跟进。", f"{ref} is not a sick leave.")
    if leave.status in (LEAVE_REJECTED, LEAVE_CANCELLED):
        raise not_pending(ref, leave.status, "跟进", "followed up")
    session.add(
        LeaveFollowUp(leave_id=leave.id, author_id=actor.person_id, note=note, created_at=now)
    )
    session.flush()
    audit.record(session, at=now, actor=actor, action="leave.followup", target=ref)
    count = session.scalar(
        select(func.count()).select_from(LeaveFollowUp).where(LeaveFollowUp.leave_id == leave.id)
    )
    return int(count or 0)


def followups(session: Session, leave_id: int) -> list[LeaveFollowUp]:
    return list(
        session.scalars(
            select(LeaveFollowUp)
            .where(LeaveFollowUp.leave_id == leave_id)
            .order_by(LeaveFollowUp.created_at, LeaveFollowUp.id)
        )
    )


def end_expired_leaves(session: Session, today: date, now: datetime) -> int:
    """End every approved leave whose last day is before `today`; for the daily job."""
    ids = list(
        session.scalars(
            select(LeaveRequest.id).where(
                LeaveRequest.status == LEAVE_APPROVED, LeaveRequest.end_date < today
            )
        )
    )
    ended = 0
    for leave_id in ids:
        if transition(
            session,
            LeaveRequest,
            leave_id,
            (LEAVE_APPROVED,),
            {"status": LEAVE_ENDED, "ended_at": now},
        ):
            ended += 1
            audit.record(
                session,
                at=now,
                actor=None,
                actor_label="system",
                action="leave.expire",
                target=leave_ref(leave_id),
                from_state=LEAVE_APPROVED,
                to_state=LEAVE_ENDED,
            )
    return ended


def for_student(session: Session, student_id: int, limit: int = 5) -> list[LeaveRequest]:
    """A student's most recent requests, newest first."""
    return list(
        session.scalars(
            select(LeaveRequest)
            .where(LeaveRequest.student_id == student_id)
            .order_by(LeaveRequest.created_at.desc(), LeaveRequest.id.desc())
            .limit(limit)
        )
    )


def days(leave: LeaveRequest) -> int:
    return (leave.end_date - leave.start_date).days + 1
