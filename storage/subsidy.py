"""临时困难补助: hardship-subsidy applications and their two-step review.

pending_counselor → pending_college → approved, or rejected at either step (or cancelled by
the student while still open). Amounts are integer cents. Audit entries never hold the
reason or the amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage import audit, identity
from storage.errors import (
    AmountTooHigh,
    BadArguments,
    NotFound,
    NotYourStep,
    OpenApplicationExists,
    OutOfRange,
    TextTooLong,
)
from storage.identity import Actor
from storage.models import Person, Role, SchoolClass, SubsidyApplication
from storage.workflows import (
    MAX_TEXT,
    SUBSIDY_APPROVED,
    SUBSIDY_CANCELLED,
    SUBSIDY_OPEN,
    SUBSIDY_PENDING_COLLEGE,
    SUBSIDY_PENDING_COUNSELOR,
    SUBSIDY_REJECTED,
    not_pending,
    state_params,
    subsidy_ref,
    transition,
)


def format_amount(cents: int) -> str:
    """¥800 or ¥800.50."""
    yuan, rest = divmod(cents, 100)
    return f"¥{yuan}" if rest == 0 else f"¥{yuan}.{rest:02d}"


def check_amount(cents: int, max_amount: int) -> int:
    if not 100 <= cents <= max_amount * 100:
        raise OutOfRange(what="金额", what_en="The amount", low="1", high=f"{max_amount} 元")
    return cents


def _check_text(text: str, what: str, what_en: str) -> str:
    if len(text) > MAX_TEXT:
        raise TextTooLong(what=what, what_en=what_en, limit=MAX_TEXT)
    return text


def submit(
    session: Session,
    actor: Actor,
    *,
    amount_cents: int,
    reason: str,
    max_amount: int,
    now: datetime,
) -> SubsidyApplication:
    """Store a new application; a student may have only one open at a time."""
    if actor.class_id is None:
        raise BadArguments("花名册里你没有班级，请联系辅导员。", "You have no class on the roster.")
    check_amount(amount_cents, max_amount)
    _check_text(reason, "理由", "The reason")
    app = SubsidyApplication(
        student_id=actor.person_id,
        class_id=actor.class_id,
        amount_cents=amount_cents,
        reason=reason,
        status=SUBSIDY_PENDING_COUNSELOR,
        created_at=now,
    )
    try:
        # The partial unique index decides, so two applications sent at once cannot both open.
        with session.begin_nested():
            session.add(app)
    except IntegrityError:
        existing = open_application(session, actor.person_id)
        raise OpenApplicationExists(ref=subsidy_ref(existing.id) if existing else "?") from None
    audit.record(
        session,
        at=now,
        actor=actor,
        action="subsidy.submit",
        target=subsidy_ref(app.id),
        to_state=SUBSIDY_PENDING_COUNSELOR,
    )
    return app


def open_application(session: Session, student_id: int) -> SubsidyApplication | None:
    return session.scalar(
        select(SubsidyApplication).where(
            SubsidyApplication.student_id == student_id,
            SubsidyApplication.status.in_(SUBSIDY_OPEN),
        )
    )


def get(session: Session, application_id: int) -> SubsidyApplication:
    app = session.get(SubsidyApplication, application_id, populate_existing=True)
    if app is None:
        ref = subsidy_ref(application_id)
        raise NotFound(what=f"补助申请 {ref}", what_en=f"Subsidy application {ref}")
    return app


def counselors_of(session: Session, class_id: int) -> list[Person]:
    return identity.staff_for_class(session, class_id, (Role.COUNSELOR,))


def college_admins_of(session: Session, class_id: int) -> list[Person]:
    cls = session.get(SchoolClass, class_id)
    return identity.college_admins(session, cls.college_id) if cls else []


def deciders(session: Session, app: SubsidyApplication) -> list[Person]:
    """Who decides the step the application is waiting at (nobody once it is closed)."""
    return deciders_for_state(session, app.class_id, app.status)


def deciders_for_state(session: Session, class_id: int, status: str) -> list[Person]:
    if status == SUBSIDY_PENDING_COUNSELOR:
        # A class without a counselor would wait forever: its college office takes the step.
        return counselors_of(session, class_id) or college_admins_of(session, class_id)
    if status == SUBSIDY_PENDING_COLLEGE:
        return college_admins_of(session, class_id)
    return []


@dataclass(frozen=True)
class Decision:
    application: SubsidyApplication
    from_state: str
    lowered: bool


def decide(
    session: Session,
    actor: Actor,
    application_id: int,
    *,
    approve: bool,
    amount_cents: int | None,
    reason: str | None,
    now: datetime,
) -> Decision:
    """One review step: the counselor's (may lower the amount), then the college office's."""
    app = get(session, application_id)
    ref = subsidy_ref(app.id)
    actor.require_class(app.class_id, f"补助申请 {ref}", f"Subsidy application {ref}")
    action = ("批准", "approved") if approve else ("驳回", "rejected")
    from_state = app.status
    if from_state == SUBSIDY_PENDING_COUNSELOR:
        allowed = actor.role is Role.COUNSELOR or (
            actor.role is Role.COLLEGE_ADMIN and not counselors_of(session, app.class_id)
        )
        who = ("辅导员", "the counselor")
        step = {"counselor_id": actor.person_id, "counselor_at": now}
        to_state = SUBSIDY_PENDING_COLLEGE if approve else SUBSIDY_REJECTED
    elif from_state == SUBSIDY_PENDING_COLLEGE:
        allowed = actor.role is Role.COLLEGE_ADMIN
        who = ("学工办", "the college office")
        step = {"college_admin_id": actor.person_id, "college_at": now}
        to_state = SUBSIDY_APPROVED if approve else SUBSIDY_REJECTED
    else:
        raise not_pending(ref, from_state, *action)
    if not allowed:
        raise NotYourStep(ref=ref, who=who[0], who_en=who[1], **state_params(from_state))

    current = app.approved_cents if app.approved_cents is not None else app.amount_cents
    values: dict[str, object] = {"status": to_state, **step}
    lowered = False
    if approve:
        if amount_cents is not None and amount_cents > current:
            raise AmountTooHigh(current=format_amount(current))
        approved = current if amount_cents is None else amount_cents
        lowered = approved < current
        values["approved_cents"] = approved
    else:
        if not reason:
            raise BadArguments("请写上驳回理由。", "Please give a reason for rejecting.")
        values["reject_reason"] = _check_text(reason, "驳回理由", "The reason")

    if not transition(session, SubsidyApplication, app.id, (from_state,), values):
        session.refresh(app)
        raise not_pending(ref, app.status, *action)
    session.refresh(app)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="subsidy.approve" if approve else "subsidy.reject",
        target=ref,
        from_state=from_state,
        to_state=to_state,
        detail={"lowered": True} if lowered else None,
    )
    return Decision(app, from_state, lowered)


def cancel(
    session: Session, actor: Actor, application_id: int, now: datetime
) -> tuple[SubsidyApplication, str]:
    """撤销: the student withdraws an application still under review."""
    app = session.get(SubsidyApplication, application_id, populate_existing=True)
    ref = subsidy_ref(application_id)
    if app is None or app.student_id != actor.person_id:
        raise NotFound(what=f"你的补助申请 {ref}", what_en=f"Your subsidy application {ref}")
    from_state = app.status
    if from_state not in SUBSIDY_OPEN:
        raise not_pending(ref, from_state, "撤销", "cancelled")
    if not transition(
        session, SubsidyApplication, app.id, (from_state,), {"status": SUBSIDY_CANCELLED}
    ):
        session.refresh(app)
        raise not_pending(ref, app.status, "撤销", "cancelled")
    session.refresh(app)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="subsidy.cancel",
        target=ref,
        from_state=from_state,
        to_state=SUBSIDY_CANCELLED,
    )
    return app, from_state


def cancel_open_on_withdrawal(
    session: Session, actor: Actor, now: datetime
) -> SubsidyApplication | None:
    """A student who withdraws consent takes back the application still under review."""
    app = open_application(session, actor.person_id)
    if app is None:
        return None
    cancelled, _ = cancel(session, actor, app.id, now)
    return cancelled


def for_student(session: Session, student_id: int, limit: int = 5) -> list[SubsidyApplication]:
    """A student's most recent applications, newest first."""
    return list(
        session.scalars(
            select(SubsidyApplication)
            .where(SubsidyApplication.student_id == student_id)
            .order_by(SubsidyApplication.created_at.desc(), SubsidyApplication.id.desc())
            .limit(limit)
        )
    )
