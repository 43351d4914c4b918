"""诉求: a matter a student raises privately, tracked to closure (逐一销号).

open (待处理) → working (处理中, once started or assigned) → closed (已办结, with a note);
an item open too long without a change goes to the college office (escalated, 待学工办处理);
the student may reopen a closed one within `[matters] reopen_days`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.texts import Catalogue, Text
from storage import identity, requests
from storage.errors import OutOfScope
from storage.identity import Actor
from storage.models import Person, Request, RequestEvent, Role, SchoolClass
from storage.requests import (
    Action,
    Column,
    LedgerRow,
    LedgerSheet,
    RequestKind,
    Retention,
    Sensitivity,
    State,
    Timer,
)


class MatterTexts(Catalogue):
    """诉求: raised with 反映, assigned, closed with a note, reopened; the digest."""

    matter_ref = Text("诉求 {ref}", "Matter {ref}")

    received = Text(
        "✓ 已收到你的诉求 {ref}，已转给辅导员；办结时会告诉你。",
        "✓ Matter {ref} received and passed to your counselor; you will hear when it is closed.",
    )
    raised = Text(
        "📮 新诉求 {ref}：{student}\n{body}\n受理：受理 {ref}；指派：指派 {ref} <工号>；办结：办结 {ref} <说明>",
        "📮 New matter {ref}: {student}\n{body}\nStart: /start {ref}; assign: /assign {ref} <staff id>; close: /close {ref} <note>",
    )
    student = Text("{name}（{number}，{cls}）", "{name} ({number}, {cls})")
    assigned = Text(
        "✓ {ref} 已指派给 {name}（{number}）。", "✓ {ref} assigned to {name} ({number})."
    )
    assigned_to_you = Text(
        "📮 {by} 把诉求 {ref} 指派给你：{student}\n{body}\n办结：办结 {ref} <说明>",
        "📮 {by} assigned matter {ref} to you: {student}\n{body}\nClose: /close {ref} <note>",
    )
    started = Text("✓ 已受理 {ref}。", "✓ {ref} started.")
    in_progress = Text(
        "🔧 你的诉求 {ref} 已受理，正在处理。", "🔧 Your matter {ref} is being worked on."
    )
    closed = Text("✓ 已办结 {ref}，已告诉学生。", "✓ {ref} closed; the student was told.")
    closed_to_student = Text(
        "✅ 你的诉求 {ref} 已办结：{note}\n如果还没解决，{days} 天内可发送「重开 {ref}」。",
        "✅ Your matter {ref} is closed: {note}\nIf it is not solved, send /reopen {ref} within {days} days.",
    )
    reopened = Text("✓ 已重开 {ref}，已告诉辅导员。", "✓ {ref} reopened; your counselor was told.")
    reopened_to_staff = Text(
        "🔁 {student} 重开了诉求 {ref}：\n{body}", "🔁 {student} reopened matter {ref}:\n{body}"
    )
    need_ref = Text("请写上诉求编号，例如 {example}。", "Give the matter's id, e.g. {example}.")
    need_text = Text("请写上你要反映的内容。", "Please say what the matter is.")
    need_note_text = Text("说明不能为空。", "The note cannot be empty.")
    need_staff = Text("请写上被指派人的工号。", "Give the staff id of the person to assign it to.")
    need_note = Text(
        "请写上 {ref} 的办结说明（学生会看到），直接回复即可：",
        "Reply with the closing note for {ref} (the student will see it):",
    )
    no_staff = Text("花名册里没有工号 {number} 的老师。", "No staff member {number} on the roster.")
    list_header = Text("待办诉求 {count} 件：", "Open matters: {count}")
    list_line = Text("{ref} {state} {cls} {name}：{body}", "{ref} {state} {cls} {name}: {body}")
    list_empty = Text("没有待办的诉求。", "No open matters.")
    mine_header = Text("诉求：", "Matters:")
    mine_line = Text("  {ref} {state}", "  {ref} {state}")
    digest = Text(
        "📮 今日诉求（{day}）：新增 {new}，未办结 {open}，超时 {overdue}{refs}",
        "📮 Matters today ({day}): new {new}, open {open}, overdue {overdue}{refs}",
    )
    digest_zero = Text(
        "📮 今日无新诉求（{day}）：未办结 {open}，超时 {overdue}{refs}",
        "📮 No new matters today ({day}): open {open}, overdue {overdue}{refs}",
    )
    overdue_refs = Text("：{refs}", ": {refs}")
    escalated = Text(
        "⏰ 诉求 {ref} 超过 {hours} 小时未办结，请学工办跟进（重点问题不隔日）：{student}\n{body}\n受理：受理 {ref}；办结：办结 {ref} <说明>",
        "⏰ Matter {ref} has been open over {hours} hours; please follow it up: {student}\n{body}\nStart: /start {ref}; close: /close {ref} <note>",
    )
    week_rate = Text(
        "本周诉求办结率 {rate}%（{closed}/{raised}）",
        "Matters closed this week: {rate}% ({closed}/{raised})",
    )
    week_none = Text("本周无新诉求", "No matters raised this week")


OPEN = "open"
WORKING = "working"
ESCALATED = "escalated"
CLOSED = "closed"
# Not yet closed: listed to staff, counted in the digest.
UNRESOLVED = (OPEN, WORKING, ESCALATED)
HANDLERS = frozenset({Role.COUNSELOR, Role.COLLEGE_ADMIN})


class MatterPayload(BaseModel):
    text: str


def _closing(row: LedgerRow) -> RequestEvent | None:
    return row.last("close")


class MatterLedgerTexts(Catalogue):
    """The 诉求 sheet of the daily ledger."""

    sheet = Text("诉求", "Matters")
    text = Text("内容", "Matter")
    state = Text("状态", "State")
    raised_at = Text("提出时间", "Raised at")
    closed_by = Text("办结人", "Closed by")
    closed_at = Text("办结时间", "Closed at")
    note = Text("办结说明", "Closing note")


def _closed_at(row: LedgerRow, to_local: Any) -> Any:
    event = _closing(row)
    return to_local(event.at) if event else None


MATTER: RequestKind[MatterPayload] = RequestKind(
    name="matter",
    noun=("诉求", "Matter"),
    payload=MatterPayload,
    states={
        OPEN: State("待处理", "open", open=True),
        WORKING: State("处理中", "in progress", open=True),
        ESCALATED: State("待学工办处理", "with the college office", open=True),
        CLOSED: State("已办结", "closed", final=True),
    },
    initial=OPEN,
    actions=(
        Action(
            "start",
            ("受理", "started"),
            (OPEN, ESCALATED),
            WORKING,
            by=HANDLERS,
            assignee=True,
        ),
        Action(
            "close",
            ("办结", "closed"),
            UNRESOLVED,
            CLOSED,
            by=HANDLERS,
            assignee=True,
            note=True,
        ),
        # Within [matters] reopen_days of closing: the handler checks the setting.
        Action("reopen", ("重开", "reopened"), (CLOSED,), OPEN, student=True),
    ),
    sensitivity=Sensitivity.RESTRICTED,
    retention=Retention("health", text_fields=("text",), notes=("close",)),
    ledger=LedgerSheet(
        MatterLedgerTexts.sheet,
        (
            Column(MatterLedgerTexts.text, 30, lambda r, t: r.payload.get("text", "")),
            Column(
                MatterLedgerTexts.state, 10, lambda r, t: r.kind.label(r.request.status, r.lang)
            ),
            Column(MatterLedgerTexts.raised_at, 18, lambda r, t: t(r.request.created_at)),
            Column(MatterLedgerTexts.closed_by, 10, lambda r, t: r.actor_of(_closing(r))),
            Column(MatterLedgerTexts.closed_at, 18, _closed_at),
            Column(
                MatterLedgerTexts.note,
                30,
                lambda r, t: (e.note or "") if (e := _closing(r)) else "",
            ),
        ),
    ),
    short_noun=("诉求", "Matters"),
)


def escalating(after: timedelta) -> RequestKind[MatterPayload]:
    """The kind with its escalation timer: open or in progress, unchanged for `after`."""

    def due(today: date, now: datetime) -> Any:
        return Request.changed_at <= now - after

    return dataclasses.replace(
        MATTER,
        timers=(
            Timer(OPEN, ESCALATED, "escalate", due),
            Timer(WORKING, ESCALATED, "escalate", due),
        ),
    )


def escalate(session: Session, after: timedelta, today: date, now: datetime) -> int:
    """Move every matter unchanged for `after` to the college office; how many moved."""
    return requests.run_timers(session, [escalating(after)], today, now)


def escalated_since(session: Session, since: datetime) -> list[Request]:
    """Matters escalated at or after `since` and still with the college office."""
    escalated = select(RequestEvent.request_id).where(
        RequestEvent.action == "escalate", RequestEvent.at >= since
    )
    return list(
        session.scalars(
            select(Request)
            .where(
                Request.kind == MATTER.name,
                Request.status == ESCALATED,
                Request.id.in_(escalated),
            )
            .order_by(Request.number)
        )
    )


def open_for_staff(
    session: Session, person_id: int, class_ids: Collection[int] | None
) -> list[Request]:
    """Unresolved matters assigned to this person or in these classes (None: every class)."""
    in_scope = requests.in_classes(Request.class_id, class_ids)
    return list(
        session.scalars(
            select(Request)
            .where(
                Request.kind == MATTER.name,
                Request.status.in_(UNRESOLVED),
                or_(Request.assignee_id == person_id, in_scope),
            )
            .order_by(Request.created_at, Request.number)
        )
    )


@dataclass(frozen=True)
class Digest:
    new: int
    open: int
    overdue: int
    overdue_refs: tuple[str, ...]


def digest(
    session: Session,
    class_ids: Collection[int] | None,
    *,
    day_start: datetime,
    now: datetime,
    overdue_after: timedelta,
) -> Digest:
    """New since `day_start`, still open, and open longer than `overdue_after`."""
    in_scope = requests.in_classes(Request.class_id, class_ids)
    base = and_(Request.kind == MATTER.name, in_scope)
    new = session.scalar(
        select(func.count()).select_from(Request).where(base, Request.created_at >= day_start)
    )
    unresolved = and_(base, Request.status.in_(UNRESOLVED))
    open_count = session.scalar(select(func.count()).select_from(Request).where(unresolved))
    overdue = list(
        session.scalars(
            select(Request.number)
            .where(unresolved, Request.created_at <= now - overdue_after)
            .order_by(Request.number)
        )
    )
    return Digest(
        int(new or 0), int(open_count or 0), len(overdue), tuple(MATTER.ref(n) for n in overdue)
    )


def week_closure(
    session: Session, class_ids: Collection[int] | None, *, since: datetime, now: datetime
) -> tuple[int, int]:
    """(closed, raised) for matters raised since `since`: the week's closure rate."""
    in_scope = requests.in_classes(Request.class_id, class_ids)
    rows = session.execute(
        select(Request.status, func.count())
        .where(
            Request.kind == MATTER.name,
            in_scope,
            Request.created_at >= since,
            Request.created_at <= now,
        )
        .group_by(Request.status)
    ).all()
    raised = sum(int(n) for _, n in rows)
    closed = sum(int(n) for status, n in rows if status == CLOSED)
    return closed, raised


def class_code(session: Session, request: Request) -> str:
    return session.scalar(select(SchoolClass.code).where(SchoolClass.id == request.class_id)) or "?"


def student_of(session: Session, request: Request) -> Person | None:
    return session.get(Person, request.student_id)


def digest_recipients(session: Session) -> list[tuple[int, frozenset[int]]]:
    """Every active counselor and college admin with the classes in their scope."""
    people = session.scalars(
        select(Person)
        .where(
            Person.role.in_([Role.COUNSELOR.value, Role.COLLEGE_ADMIN.value]),
            Person.active.is_(True),
        )
        .order_by(Person.number)
    )
    out = []
    for person in people:
        class_ids, _ = identity.scope_of(session, person)
        if class_ids:
            out.append((person.id, class_ids))
    return out


def week_line(
    session: Session, class_ids: Collection[int] | None, day: date, tz: ZoneInfo, lang: str = "zh"
) -> str:
    """The roll-up's line: this week's (from Monday) closure rate of matters."""
    monday = day - timedelta(days=day.weekday())
    since = datetime.combine(monday, time(0), tzinfo=tz)
    until = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    closed, raised = week_closure(session, class_ids, since=since, now=until)
    if not raised:
        return MatterTexts.week_none(lang)
    rate = round(100 * closed / raised)
    return MatterTexts.week_rate(lang, rate=rate, closed=closed, raised=raised)


def require_closable(session: Session, actor: Actor, number: int) -> Request:
    """The checks 办结 makes before its note: in scope (or the assignee), still unresolved."""
    request = requests.get(session, MATTER, number)
    ref = MATTER.ref(number)
    action = MATTER.action("close")
    assigned = request.assignee_id == actor.person_id
    if not assigned and not (actor.role in action.by and actor.covers_class(request.class_id)):
        raise OutOfScope(what=MatterTexts.matter_ref.bind(ref=ref))
    if request.status not in action.from_states:
        raise requests.not_pending(MATTER, ref, request.status, action.label)
    return request
