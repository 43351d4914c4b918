"""The workflow engine: requests that someone decides (请假, 补助, later 诉求), declared once.

A `RequestKind` names its id prefix, nouns, payload model, states, steps (who decides each,
whether a note is needed), the states a student may cancel, its timers, its sensitivity, its
retention and its ledger columns. Every kind shares one `requests` table and one
`request_events` trail; submit, decide, cancel, the pending lists and a student's own
requests are written here once. Each kind's declaration sits next to its feature
(storage/leave.py, storage/subsidy.py) and storage/workflows.py lists the registered kinds.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, Literal, NoReturn, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import func, insert, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from bot.texts import Catalogue, Text
from storage import audit, identity
from storage.errors import (
    BadArguments,
    DomainError,
    NotFound,
    NotPending,
    NotYourStep,
    OutOfScope,
    TooLate,
    check_length,
)
from storage.identity import Actor
from storage.models import (
    Person,
    Request,
    RequestCounter,
    RequestEvent,
    Role,
    SchoolClass,
)

# Typed ids, reserved once for every kind there is or will be: a prefix is a kind's name
# as people type it (L37, S12, C3, N12, Q5).
PREFIXES: Mapping[str, str] = {
    "L": "leave",
    "S": "subsidy",
    "C": "collection",
    "N": "notice",
    "Q": "matter",
    "P": "psych",
}
_PREFIX_OF = {kind: prefix for prefix, kind in PREFIXES.items()}
_REF = re.compile(r"^([A-Z])#?(\d{1,9})$")

# Free text a person types into a request (reasons, notes): the replies state this limit.
MAX_TEXT = 200

P = TypeVar("P", bound=BaseModel)


def prefix_of(kind_name: str) -> str:
    """The reserved id letter of a kind; a kind without one cannot be declared."""
    return _PREFIX_OF[kind_name]


@dataclass(frozen=True)
class Ref:
    """A typed request id as people see it: L37 is the 37th leave request."""

    prefix: str
    number: int

    def __str__(self) -> str:
        return f"{self.prefix}{self.number}"

    @property
    def kind_name(self) -> str:
        return PREFIXES[self.prefix]


def parse_ref(token: str) -> Ref | None:
    """`L37`, `l37`, `Ｌ37` → Ref('L', 37); a letter no kind has reserved, or anything else → None."""
    text = unicodedata.normalize("NFKC", token).strip().upper()
    m = _REF.match(text)
    if m is None or m.group(1) not in PREFIXES:
        return None
    return Ref(m.group(1), int(m.group(2)))


# -- declarations ------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """One state of a kind, with the one label chat and ledger both show."""

    zh: str
    en: str
    # Waiting for someone: counted as pending, listed to deciders, holds a student's one
    # open request where the kind allows only one.
    open: bool = False
    # Nothing happens after it (closed_at is set on entering).
    final: bool = False


@dataclass(frozen=True)
class Step:
    """A decision taken on a request waiting in `state`.

    `by` is the role in scope that decides it, with fallbacks: the class's people of the
    first role that has anyone are asked (the class's counselors, or the college office
    when the class has none). `also` are roles in scope that may decide it too.
    """

    state: str
    approve_to: str
    reject_to: str
    by: tuple[Role, ...]
    who: tuple[str, str]
    also: frozenset[Role] = frozenset()
    note_to_approve: bool = False
    note_to_reject: bool = True


@dataclass(frozen=True)
class Action:
    """A change beyond approve and reject: 开始处理, 办结 with a note, 重开 within N days.

    Who may take it: the roles in `by` whose scope covers the request's class, the request's
    own student (`student`), the person it is assigned to (`assignee`).
    """

    name: str
    label: tuple[str, str]
    from_states: tuple[str, ...]
    to: str
    by: frozenset[Role] = frozenset()
    student: bool = False
    assignee: bool = False
    note: bool = False
    # Only this long after the request reached its current state.
    within: timedelta | None = None


@dataclass(frozen=True)
class Timer:
    """A change nobody makes: a request in `state` moves to `to` once `due` holds.

    `due(today, now)` is a condition on the requests table, so one statement finds every
    request due (a leave past its last day; later, a matter open for 24 h).
    """

    state: str
    to: str
    action: str
    due: Callable[[date, datetime], ColumnElement[bool]]


class Sensitivity(enum.Enum):
    # The id and the student's name may be said in a group; the payload never.
    ORDINARY = "ordinary"
    # Private chat only; seen by the student, their counselor and the college office.
    RESTRICTED = "restricted"


@dataclass(frozen=True)
class Retention:
    """How a kind's details leave the database.

    `setting` names the retention period (privacy.retention_days for "health",
    privacy.subsidy_retention_days for "subsidy"). A kind with `delete` loses whole closed
    requests once closed longer than that; otherwise the request stays (its dates count
    for attendance and the day counts) and its `text_fields` and notes are cleared once its
    days ended that long ago (or, for a kind without days, once it closed that long ago),
    and its `notes` events go once written that long ago.
    """

    setting: Literal["health", "subsidy"]
    delete: bool = False
    text_fields: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LedgerRow:
    """What a ledger column may read of one request."""

    request: Request
    payload: dict[str, Any]
    student_number: str
    student_name: str
    class_code: str
    college: str
    # The request's events in order, with the actor's name.
    events: Sequence[tuple[RequestEvent, str | None]]
    kind: RequestKind[Any]
    # The ledger's language, for a column whose cell is a label (a state, a type).
    lang: str = "zh"

    def last(self, *actions: str, from_status: str | None = None) -> RequestEvent | None:
        for event, _ in reversed(self.events):
            if event.action in actions and from_status in (None, event.from_status):
                return event
        return None

    def actor_of(self, event: RequestEvent | None) -> str:
        for e, name in self.events:
            if e is event:
                return name or ""
        return ""


@dataclass(frozen=True)
class Column:
    header: str | Text
    width: int
    # The cell, from the row and the local-time converter.
    value: Callable[[LedgerRow, Callable[[datetime | None], datetime | None]], Any]


@dataclass(frozen=True)
class LedgerSheet:
    """A kind's sheet in the daily ledger: the id, college, class, 学号 and 姓名, then these."""

    title: str | Text
    columns: tuple[Column, ...]


def label_of(label: str | Text, lang: str) -> str:
    """A ledger sheet's title or header in `lang` (a plain string is one language only)."""
    return label(lang) if isinstance(label, Text) else label


@dataclass(frozen=True)
class RequestKind(Generic[P]):
    """One kind of request, declared once."""

    name: str
    noun: tuple[str, str]
    payload: type[P]
    states: Mapping[str, State]
    initial: str
    sensitivity: Sensitivity
    retention: Retention
    ledger: LedgerSheet
    steps: tuple[Step, ...] = ()
    # States a student may withdraw from, each with a guard on (request, today), and the
    # state withdrawing leads to.
    cancellable: Mapping[str, Callable[[Request, date], bool]] = field(default_factory=dict)
    cancelled: str | None = None
    actions: tuple[Action, ...] = ()
    timers: tuple[Timer, ...] = ()
    # At most one open request per student, enforced by the database.
    one_open: bool = False
    already_open: type[DomainError] | None = None
    # The noun in counts ("待审批补助 2"), where it is shorter than `noun`.
    short_noun: tuple[str, str] | None = None
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", prefix_of(self.name))
        names = set(self.states)
        assert self.initial in names, self.name
        assert self.cancelled in names if self.cancellable else self.cancelled is None, self.name
        for step in self.steps:
            assert {step.state, step.approve_to, step.reject_to} <= names, (self.name, step)
        for timer in self.timers:
            assert {timer.state, timer.to} <= names, (self.name, timer)
        for action in self.actions:
            assert {*action.from_states, action.to} <= names, (self.name, action)
        assert set(self.cancellable) <= names, self.name

    def ref(self, number: int) -> str:
        return f"{self.prefix}{number}"

    def label(self, status: str, lang: str) -> str:
        state = self.states.get(status)
        if state is None:
            return status
        return state.en if lang == "en" else state.zh

    @property
    def counted(self) -> tuple[str, str]:
        return self.short_noun or self.noun

    @property
    def open_states(self) -> tuple[str, ...]:
        return tuple(name for name, s in self.states.items() if s.open)

    @property
    def restricted(self) -> bool:
        return self.sensitivity is Sensitivity.RESTRICTED

    def step_at(self, status: str) -> Step | None:
        return next((s for s in self.steps if s.state == status), None)

    def action(self, name: str) -> Action:
        return next(a for a in self.actions if a.name == name)

    def read(self, request: Request) -> P:
        """The request's payload as its model."""
        return self.payload.model_validate(request.payload)


class Workflows:
    """The registered kinds, in order."""

    def __init__(self, *kinds: RequestKind[Any]) -> None:
        self.kinds = kinds
        assert len({k.name for k in kinds}) == len(kinds), "a kind registered twice"

    def __iter__(self) -> Iterator[RequestKind[Any]]:
        return iter(self.kinds)

    def example(self) -> tuple[str, str]:
        """Examples of every registered id (请假如 L37，补助如 S12), for the replies."""
        numbers = [37, 12, 3, 5, 8, 21]
        pairs = list(zip(self.kinds, numbers, strict=False))
        t = RequestStorageTexts
        zh = t.example_separator("zh").join(
            t.example("zh", noun=k.counted[0], ref=k.ref(n)) for k, n in pairs
        )
        en = t.example_separator("en").join(
            t.example("en", noun=k.noun[1].lower(), ref=k.ref(n)) for k, n in pairs
        )
        return zh, en


# -- errors in both languages ------------------------------------------------------------


class RequestStorageTexts(Catalogue):
    """What every kind of request says when an action on it is refused."""

    example = Text("{noun}如 {ref}", "{ref} for a {noun}")
    example_separator = Text("，", ", ")
    yours = Text("你的{noun} {ref}", "Your {noun} {ref}")
    no_class = Text("花名册里你没有班级，请联系辅导员。", "You have no class on the roster.")
    give_reason = Text("请写上驳回理由。", "Please give a reason for rejecting.")
    give_note = Text("请写上说明。", "Please add a note.")
    reason = Text("驳回理由", "The reason")
    decision_note = Text("备注", "The note")
    note = Text("说明", "The note")
    assigned = Text("指派", "assigned")
    their_classes = Text("{name} 的班级", "{name}'s classes")


def state_params(kind: RequestKind[Any], status: str) -> dict[str, str]:
    """A state for an error message, in both languages."""
    return {"state": kind.label(status, "zh"), "state_en": kind.label(status, "en")}


def not_pending(
    kind: RequestKind[Any], ref: str, status: str, action: tuple[str, str]
) -> NotPending:
    return NotPending(ref=ref, action=action[0], action_en=action[1], **state_params(kind, status))


def check_text(text: str, what: str, what_en: str) -> str:
    return check_length(text, what, what_en, MAX_TEXT)


APPROVE = ("批准", "approved")
REJECT = ("驳回", "rejected")
CANCEL = ("撤销", "cancelled")


# -- reading -----------------------------------------------------------------------------


def find(session: Session, kind: RequestKind[Any], number: int) -> Request | None:
    stmt = (
        select(Request)
        .where(Request.kind == kind.name, Request.number == number)
        .execution_options(populate_existing=True)
    )
    return session.scalar(stmt)


def get(session: Session, kind: RequestKind[Any], number: int) -> Request:
    request = find(session, kind, number)
    if request is None:
        ref = kind.ref(number)
        raise NotFound(what=f"{kind.noun[0]} {ref}", what_en=f"{kind.noun[1]} {ref}")
    return request


def own(session: Session, kind: RequestKind[Any], actor: Actor, number: int) -> Request:
    """One of the asker's own requests; someone else's is simply not found."""
    request = find(session, kind, number)
    if request is None or request.student_id != actor.person_id:
        own_request_missing(kind, number)
    return request


def for_student(
    session: Session, kind: RequestKind[Any], student_id: int, limit: int = 5
) -> list[Request]:
    """A student's most recent requests of one kind, newest first."""
    return list(
        session.scalars(
            select(Request)
            .where(Request.kind == kind.name, Request.student_id == student_id)
            .order_by(Request.created_at.desc(), Request.number.desc())
            .limit(limit)
        )
    )


def open_request(session: Session, kind: RequestKind[Any], student_id: int) -> Request | None:
    return session.scalar(
        select(Request).where(
            Request.kind == kind.name,
            Request.student_id == student_id,
            Request.status.in_(kind.open_states),
        )
    )


def events(session: Session, request_ids: Collection[int]) -> dict[int, list[RequestEvent]]:
    """The events of some requests, oldest first."""
    out: dict[int, list[RequestEvent]] = {i: [] for i in request_ids}
    ids = list(request_ids)
    for i in range(0, len(ids), 500):
        for e in session.scalars(
            select(RequestEvent)
            .where(RequestEvent.request_id.in_(ids[i : i + 500]))
            .order_by(RequestEvent.at, RequestEvent.id)
        ):
            out[e.request_id].append(e)
    return out


def last_event(
    session: Session, request: Request, actions: Collection[str], from_status: str | None = None
) -> RequestEvent | None:
    stmt = select(RequestEvent).where(
        RequestEvent.request_id == request.id, RequestEvent.action.in_(list(actions))
    )
    if from_status is not None:
        stmt = stmt.where(RequestEvent.from_status == from_status)
    return session.scalar(stmt.order_by(RequestEvent.id.desc()).limit(1))


def in_classes(column: Any, class_ids: Collection[int] | None) -> ColumnElement[bool]:
    if class_ids is None:
        return true()
    return cast(ColumnElement[bool], column.in_(list(class_ids)))


@dataclass(frozen=True)
class PendingRequest:
    ref: str
    class_code: str
    student: str
    created_at: datetime
    status: str
    restricted: bool


def pending(
    session: Session,
    kinds: Iterable[RequestKind[Any]],
    class_ids: Collection[int] | None,
    older_than: datetime | None = None,
) -> list[PendingRequest]:
    """Requests of these kinds still waiting for someone, oldest first."""
    out: list[PendingRequest] = []
    for kind in kinds:
        stmt = (
            select(
                Request.number, SchoolClass.code, Person.name, Request.created_at, Request.status
            )
            .join(Person, Person.id == Request.student_id)
            .join(SchoolClass, SchoolClass.id == Request.class_id)
            .where(
                Request.kind == kind.name,
                Request.status.in_(kind.open_states),
                in_classes(Request.class_id, class_ids),
            )
        )
        if older_than is not None:
            stmt = stmt.where(Request.created_at < older_than)
        out += [
            PendingRequest(kind.ref(n), code, name, at, status, kind.restricted)
            for n, code, name, at, status in session.execute(stmt)
        ]
    return sorted(out, key=lambda p: p.created_at)


def pending_counts(
    session: Session, kinds: Iterable[RequestKind[Any]], class_ids: Collection[int] | None
) -> dict[tuple[str, int], int]:
    """(kind name, class id) → how many requests wait there."""
    out: dict[tuple[str, int], int] = {}
    for kind in kinds:
        for cid, n in session.execute(
            select(Request.class_id, func.count())
            .where(
                Request.kind == kind.name,
                Request.status.in_(kind.open_states),
                in_classes(Request.class_id, class_ids),
            )
            .group_by(Request.class_id)
        ):
            out[(kind.name, int(cid))] = int(n)
    return out


# -- who decides -------------------------------------------------------------------------


def people_in_role(session: Session, role: Role, class_id: int) -> list[Person]:
    """The people of a role whose scope covers a class."""
    if role in (Role.COUNSELOR, Role.HEAD_TEACHER):
        return identity.staff_for_class(session, class_id, (role,))
    if role is Role.COLLEGE_ADMIN:
        cls = session.get(SchoolClass, class_id)
        return identity.college_admins(session, cls.college_id) if cls else []
    return []


def _step_role(session: Session, step: Step, class_id: int) -> tuple[Role | None, list[Person]]:
    for role in step.by:
        people = people_in_role(session, role, class_id)
        if people:
            return role, people
    return None, []


def deciders(session: Session, kind: RequestKind[Any], request: Request) -> list[Person]:
    """Who decides the step the request waits at (nobody once it is past every step)."""
    return deciders_at(session, kind, request.class_id, request.status)


def deciders_at(
    session: Session, kind: RequestKind[Any], class_id: int, status: str
) -> list[Person]:
    step = kind.step_at(status)
    return _step_role(session, step, class_id)[1] if step else []


def may_decide(session: Session, step: Step, actor: Actor, class_id: int) -> bool:
    if actor.role in step.also:
        return True
    role, _ = _step_role(session, step, class_id)
    return role is not None and actor.role is role


# -- changing ----------------------------------------------------------------------------


def next_number(session: Session, kind: RequestKind[Any]) -> int:
    """The next id of a kind. The counter row is locked until the request is stored, so two
    requests sent at once never get the same number."""
    while True:
        number = session.scalar(
            update(RequestCounter)
            .where(RequestCounter.kind == kind.name)
            .values(last=RequestCounter.last + 1)
            .returning(RequestCounter.last)
            .execution_options(synchronize_session=False)
        )
        if number is not None:
            return int(number)
        try:
            with session.begin_nested():
                session.execute(insert(RequestCounter).values(kind=kind.name, last=0))
        except IntegrityError:
            pass  # another request created the counter first


def _audit_action(kind: RequestKind[Any], action: str) -> str:
    return f"{kind.name}.{action}"


def record(
    session: Session,
    kind: RequestKind[Any],
    request: Request,
    *,
    actor: Actor | None,
    action: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One event on a request, and its audit entry (which never holds the note)."""
    session.add(
        RequestEvent(
            request_id=request.id,
            at=now,
            actor_id=actor.person_id if actor else None,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
        )
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        actor_label=None if actor else "system",
        action=_audit_action(kind, action),
        target=kind.ref(request.number),
        from_state=from_status,
        to_state=to_status,
        detail=detail,
    )


def submit(
    session: Session,
    kind: RequestKind[P],
    actor: Actor,
    payload: P,
    *,
    now: datetime,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> Request:
    """Store a new request in the kind's first state."""
    if actor.class_id is None:
        raise BadArguments(RequestStorageTexts.no_class)
    request = Request(
        kind=kind.name,
        number=next_number(session, kind),
        student_id=actor.person_id,
        class_id=actor.class_id,
        status=kind.initial,
        created_at=now,
        changed_at=now,
        starts_on=starts_on,
        ends_on=ends_on,
        exclusive=kind.one_open and kind.states[kind.initial].open,
        payload=payload.model_dump(mode="json"),
    )
    try:
        # Where a kind allows one open request, the partial unique index decides, so two
        # sent at once cannot both open.
        with session.begin_nested():
            session.add(request)
    except IntegrityError:
        if not kind.one_open or kind.already_open is None:
            raise
        existing = open_request(session, kind, actor.person_id)
        raise kind.already_open(ref=kind.ref(existing.number) if existing else "?") from None
    record(session, kind, request, actor=actor, action="submit", now=now, to_status=kind.initial)
    return request


def move(
    session: Session,
    kind: RequestKind[Any],
    request: Request,
    *,
    to: str,
    action: str,
    actor: Actor | None,
    now: datetime,
    expect: Collection[str] | None = None,
    payload: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
    refused: tuple[str, str] = APPROVE,
) -> Request:
    """Move a request out of `expect` (its current state by default) in one conditional
    UPDATE: a request no longer there (a second click, another decider who got there first)
    is refused with its current state. Reading the state and then writing it would let both
    of two concurrent deciders win."""
    from_states = list(expect) if expect is not None else [request.status]
    from_status = request.status
    state = kind.states[to]
    changes: dict[str, Any] = {
        "status": to,
        "changed_at": now,
        "exclusive": kind.one_open and state.open,
        **(values or {}),
    }
    if state.final:
        changes["closed_at"] = now
    if payload:
        changes["payload"] = {**request.payload, **payload}
    stmt = (
        update(Request)
        .where(Request.id == request.id, Request.status.in_(from_states))
        .values(**changes)
        .returning(Request.id)
        # The identity map may hold a stale copy; never let it decide what matched.
        .execution_options(synchronize_session=False)
    )
    won = session.execute(stmt).first() is not None
    session.refresh(request)
    if not won:
        raise not_pending(kind, kind.ref(request.number), request.status, refused)
    record(
        session,
        kind,
        request,
        actor=actor,
        action=action,
        now=now,
        from_status=from_status,
        to_status=to,
        note=note,
        detail=detail,
    )
    return request


@dataclass(frozen=True)
class Decision:
    request: Request
    from_status: str
    step: Step


def decide(
    session: Session,
    kind: RequestKind[Any],
    actor: Actor,
    number: int,
    *,
    approve: bool,
    note: str | None,
    now: datetime,
    validate: Callable[[Request, Step], Mapping[str, Any]] | None = None,
    detail: Callable[[Request], dict[str, Any] | None] | None = None,
) -> Decision:
    """批准 / 驳回 the step a request waits at, by someone whose role in scope decides it.

    `validate` checks a kind's own arguments (a subsidy's lowered amount) and returns the
    payload fields the decision changes.
    """
    request = get(session, kind, number)
    ref = kind.ref(number)
    actor.require_class(request.class_id, f"{kind.noun[0]} {ref}", f"{kind.noun[1]} {ref}")
    if note is not None:
        what = RequestStorageTexts.decision_note if approve else RequestStorageTexts.reason
        check_text(note, what("zh"), RequestStorageTexts.reason("en"))
    action = APPROVE if approve else REJECT
    step = kind.step_at(request.status)
    if step is None:
        raise not_pending(kind, ref, request.status, action)
    if not may_decide(session, step, actor, request.class_id):
        raise NotYourStep(
            ref=ref, who=step.who[0], who_en=step.who[1], **state_params(kind, request.status)
        )
    if (step.note_to_approve if approve else step.note_to_reject) and not note:
        raise BadArguments(RequestStorageTexts.give_reason)
    changes = validate(request, step) if validate is not None else {}
    from_status = request.status
    moved = move(
        session,
        kind,
        request,
        to=step.approve_to if approve else step.reject_to,
        action="approve" if approve else "reject",
        actor=actor,
        now=now,
        payload=changes,
        note=note,
        detail=detail(request) if detail else None,
        refused=action,
    )
    return Decision(moved, from_status, step)


def cancel(
    session: Session,
    kind: RequestKind[Any],
    actor: Actor,
    number: int,
    *,
    today: date,
    now: datetime,
) -> tuple[Request, str]:
    """撤销: the student withdraws their own request where the kind allows it."""
    request = own(session, kind, actor, number)
    from_status = request.status
    allowed = kind.cancellable.get(from_status)
    if allowed is None or kind.cancelled is None or not allowed(request, today):
        raise not_pending(kind, kind.ref(number), from_status, CANCEL)
    moved = move(
        session,
        kind,
        request,
        to=kind.cancelled,
        action="cancel",
        actor=actor,
        now=now,
        refused=CANCEL,
    )
    return moved, from_status


def close_for_leavers(
    session: Session,
    kinds: Iterable[RequestKind[Any]],
    student_ids: Collection[int],
    *,
    now: datetime,
    note: str,
) -> int:
    """Students who left the roster: each of their requests still waiting for a decision is
    cancelled with the note (离校); the history stays. Returns how many were closed."""
    closed = 0
    for kind in kinds:
        waiting = [step.state for step in kind.steps]
        if kind.cancelled is None or not waiting or not student_ids:
            continue
        rows = session.scalars(
            select(Request).where(
                Request.kind == kind.name,
                Request.student_id.in_(list(student_ids)),
                Request.status.in_(waiting),
            )
        ).all()
        for request in rows:
            move(
                session,
                kind,
                request,
                to=kind.cancelled,
                action="retire",
                actor=None,
                now=now,
                note=note,
            )
            closed += 1
    return closed


def act(
    session: Session,
    kind: RequestKind[Any],
    actor: Actor,
    number: int,
    name: str,
    *,
    now: datetime,
    note: str | None = None,
) -> Request:
    """Take one of the kind's declared actions (开始处理, 办结, 重开) on a request."""
    action = kind.action(name)
    request = get(session, kind, number)
    ref = kind.ref(number)
    is_own = action.student and request.student_id == actor.person_id
    assigned = action.assignee and request.assignee_id == actor.person_id
    in_scope = actor.role in action.by and actor.covers_class(request.class_id)
    if not (is_own or assigned or in_scope):
        if action.student and not action.by and not action.assignee:
            own_request_missing(kind, number)
        raise OutOfScope(what=f"{kind.noun[0]} {ref}", what_en=f"{kind.noun[1]} {ref}")
    if request.status not in action.from_states:
        raise not_pending(kind, ref, request.status, action.label)
    if action.within is not None and now - request.changed_at > action.within:
        raise TooLate(
            ref=ref, days=action.within.days, action=action.label[0], action_en=action.label[1]
        )
    if action.note and not note:
        raise BadArguments(RequestStorageTexts.give_note)
    if note is not None:
        check_text(note, *RequestStorageTexts.note.pair)
    return move(
        session,
        kind,
        request,
        to=action.to,
        action=action.name,
        actor=actor,
        now=now,
        note=note,
        refused=action.label,
    )


def own_request_missing(kind: RequestKind[Any], number: int) -> NoReturn:
    ref = kind.ref(number)
    raise NotFound(
        what=RequestStorageTexts.yours("zh", noun=kind.noun[0], ref=ref),
        what_en=RequestStorageTexts.yours("en", noun=kind.noun[1].lower(), ref=ref),
    )


def assign(
    session: Session,
    kind: RequestKind[Any],
    actor: Actor,
    number: int,
    to: Person,
    *,
    now: datetime,
) -> Request:
    """指派: hand an open request to a named staff member whose scope covers its class."""
    request = get(session, kind, number)
    ref = kind.ref(number)
    actor.require_class(request.class_id, f"{kind.noun[0]} {ref}", f"{kind.noun[1]} {ref}")
    if request.status not in kind.open_states:
        raise not_pending(kind, ref, request.status, RequestStorageTexts.assigned.pair)
    scope, everything = identity.scope_of(session, to)
    if not Role(to.role).is_staff or not (everything or request.class_id in scope):
        raise OutOfScope(
            what=RequestStorageTexts.their_classes.bind(name=to.name),
        )
    won = session.execute(
        update(Request)
        .where(Request.id == request.id, Request.status.in_(kind.open_states))
        .values(assignee_id=to.id)
        .returning(Request.id)
        .execution_options(synchronize_session=False)
    ).first()
    session.refresh(request)
    if won is None:
        raise not_pending(kind, ref, request.status, RequestStorageTexts.assigned.pair)
    record(
        session,
        kind,
        request,
        actor=actor,
        action="assign",
        now=now,
        detail={"to": to.number},
    )
    return request


def add_note(
    session: Session,
    kind: RequestKind[Any],
    request: Request,
    *,
    actor: Actor,
    action: str,
    note: str,
    now: datetime,
) -> int:
    """A note on a request that changes no state (病因追查); returns how many it now has."""
    record(session, kind, request, actor=actor, action=action, now=now, note=note)
    session.flush()
    count = session.scalar(
        select(func.count())
        .select_from(RequestEvent)
        .where(RequestEvent.request_id == request.id, RequestEvent.action == action)
    )
    return int(count or 0)


def run_timers(
    session: Session, kinds: Iterable[RequestKind[Any]], today: date, now: datetime
) -> int:
    """Apply every declared timer that is due; returns how many requests moved.

    Each move is conditional, so a second run (another process, a restart) finds nothing
    left to do.
    """
    moved = 0
    for kind in kinds:
        for timer in kind.timers:
            due = list(
                session.scalars(
                    select(Request)
                    .where(
                        Request.kind == kind.name,
                        Request.status == timer.state,
                        timer.due(today, now),
                    )
                    .order_by(Request.id)
                )
            )
            for request in due:
                try:
                    move(
                        session,
                        kind,
                        request,
                        to=timer.to,
                        action=timer.action,
                        actor=None,
                        now=now,
                        expect=(timer.state,),
                    )
                except NotPending:
                    continue
                moved += 1
    return moved
