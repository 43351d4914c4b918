"""诉求: 反映 raises a matter privately; staff 受理, 指派 and 办结 it with a note; the student
may 重开 it; 诉求 lists a staff member's open items.

A matter is private: it never appears in a group, and only the student, the staff of
their class (and the college office) and the person it is assigned to see it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bot.router import (
    DECIDERS,
    STAFF,
    STUDENTS,
    Args,
    CommandRouter,
    Context,
    Feature,
    Where,
)
from bot.texts import Catalogue, Text
from schedules.matters import MATTER_JOBS
from storage import identity, requests
from storage import matters as store
from storage.errors import BadArguments, TooLate
from storage.matters import MATTER, MatterPayload
from storage.matters import MatterTexts as T
from storage.models import Person, Request, Role

router = CommandRouter("matters")

EXAMPLE = MATTER.ref(5)
# In a group 反映 / 诉求 are everyday words: a command only alone or before an id.
_ALONE_OR_ID = r"(?:[Qq]\d{1,9})?"


class MatterCommandTexts(Catalogue):
    """The 诉求 commands' usage and help, and what their refusals name."""

    ask_usage = Text("反映 <内容>，例：反映 宿舍热水器坏了三天", "/ask <text>")
    ask_help = Text(
        "私下向辅导员反映诉求，办结为止", "raise a matter privately, tracked to closure"
    )
    take_usage = Text("受理 <编号>，例：受理 Q5", "/take <id>")
    take_help = Text("受理诉求（处理中）", "start working on a matter")
    assign_usage = Text("指派 <编号> <工号>，例：指派 Q5 T002", "/assign <id> <staff id>")
    assign_help = Text(
        "把诉求指派给本班的另一位老师", "assign a matter to another staff member in scope"
    )
    close_usage = Text("办结 <编号> <说明>，例：办结 Q5 已联系后勤，明天修好", "/close <id> <note>")
    close_help = Text("办结诉求，说明会告诉学生", "close a matter with a note the student sees")
    reopen_usage = Text("重开 <编号>，例：重开 Q5", "/reopen <id>")
    reopen_help = Text("办结后没解决，重开自己的诉求", "reopen your matter if it is not solved")
    matters_usage = Text("诉求", "/matters")
    matters_help = Text(
        "我的待办诉求（指派给我的和本班的）",
        "your open matters (assigned to you or in your classes)",
    )
    content = Text("内容", "The matter")
    reopened = Text("重开", "reopened")


def require_ref(ctx: Context, args: Args) -> int:
    ref = requests.parse_ref(args.tokens[0]) if args.tokens else None
    if ref is None or ref.kind_name != MATTER.name:
        raise BadArguments(T.need_ref("zh", example=EXAMPLE), T.need_ref("en", example=EXAMPLE))
    return ref.number


def student_text(ctx: Context, request: Request) -> str:
    student = ctx.session.get(Person, request.student_id)
    return ctx.render(
        T.student,
        name=student.name if student else "?",
        number=student.number if student else "?",
        cls=store.class_code(ctx.session, request),
    )


def handlers_of(ctx: Context, request: Request) -> list[Person]:
    """The class's counselors; the college office when the class has none."""
    counselors = requests.people_in_role(ctx.session, Role.COUNSELOR, request.class_id)
    return counselors or requests.people_in_role(ctx.session, Role.COLLEGE_ADMIN, request.class_id)


@router.command(
    "ask",
    "反映",
    roles=STUDENTS,
    where=Where.PRIVATE,
    also_chat=_ALONE_OR_ID,
    usage=MatterCommandTexts.ask_usage.pair,
    help=MatterCommandTexts.ask_help.pair,
)
def ask(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if not args.text:
        raise BadArguments(T.need_text("zh"), T.need_text("en"))
    text = requests.check_text(args.text, *MatterCommandTexts.content.pair)
    matter = requests.submit(ctx.session, MATTER, actor, MatterPayload(text=text), now=ctx.now)
    ref = MATTER.ref(matter.number)
    ctx.reply(ctx.render(T.received, ref=ref))
    ctx.notify(
        (p.id for p in handlers_of(ctx, matter)),
        ctx.render(T.raised, ref=ref, student=student_text(ctx, matter), body=text),
    )


@router.command(
    "take",
    "受理",
    roles=STAFF,
    where=Where.PRIVATE,
    usage=MatterCommandTexts.take_usage.pair,
    help=MatterCommandTexts.take_help.pair,
)
def take(ctx: Context, args: Args) -> None:
    number = require_ref(ctx, args)
    matter = requests.act(ctx.session, MATTER, ctx.require_actor(), number, "start", now=ctx.now)
    ref = MATTER.ref(number)
    ctx.reply(ctx.render(T.started, ref=ref))
    ctx.notify([matter.student_id], ctx.render(T.in_progress, ref=ref))


@router.command(
    "assign",
    "指派",
    roles=DECIDERS,
    where=Where.PRIVATE,
    usage=MatterCommandTexts.assign_usage.pair,
    help=MatterCommandTexts.assign_help.pair,
)
def assign(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    number = require_ref(ctx, args)
    if len(args) < 2:
        raise BadArguments(T.need_staff("zh"), T.need_staff("en"))
    staff_number = args.tokens[1].upper()
    person = identity.find_person(ctx.session, staff_number)
    if person is None or not Role(person.role).is_staff or not person.active:
        raise BadArguments(
            T.no_staff("zh", number=staff_number), T.no_staff("en", number=staff_number)
        )
    matter = requests.assign(ctx.session, MATTER, actor, number, person, now=ctx.now)
    if matter.status in (store.OPEN, store.ESCALATED):
        requests.move(
            ctx.session, MATTER, matter, to=store.WORKING, action="start", actor=actor, now=ctx.now
        )
        ctx.notify([matter.student_id], ctx.render(T.in_progress, ref=MATTER.ref(number)))
    ref = MATTER.ref(number)
    ctx.reply(ctx.render(T.assigned, ref=ref, name=person.name, number=person.number))
    ctx.notify(
        [person.id],
        ctx.render(
            T.assigned_to_you,
            by=actor.name,
            ref=ref,
            student=student_text(ctx, matter),
            body=MATTER.read(matter).text,
        ),
    )


def close_matter(ctx: Context, number: int, note: str) -> None:
    matter = requests.act(
        ctx.session, MATTER, ctx.require_actor(), number, "close", now=ctx.now, note=note
    )
    ref = MATTER.ref(number)
    ctx.reply(ctx.render(T.closed, ref=ref))
    ctx.notify(
        [matter.student_id],
        ctx.render(T.closed_to_student, ref=ref, note=note, days=ctx.config.matters.reopen_days),
    )


@router.command(
    "close",
    "办结",
    roles=STAFF,
    where=Where.PRIVATE,
    usage=MatterCommandTexts.close_usage.pair,
    help=MatterCommandTexts.close_help.pair,
)
def close(ctx: Context, args: Args) -> None:
    number = require_ref(ctx, args)
    note = args.rest(1)
    if not note:
        # Refused now rather than after the note, if it could not be closed anyway.
        store.require_closable(ctx.session, ctx.require_actor(), number)
        ctx.ask(
            ctx.render(T.need_note, ref=MATTER.ref(number)),
            expect="matters.close_note",
            state={"number": number},
        )
        return
    close_matter(ctx, number, note)


@router.answer("matters.close_note")
def close_note(ctx: Context, text: str, state: dict[str, Any]) -> None:
    note = text.strip()
    if not note:
        raise BadArguments(T.need_note_text("zh"), T.need_note_text("en"))
    close_matter(ctx, int(state["number"]), note)


@router.command(
    "reopen",
    "重开",
    roles=STUDENTS,
    where=Where.PRIVATE,
    usage=MatterCommandTexts.reopen_usage.pair,
    help=MatterCommandTexts.reopen_help.pair,
)
def reopen(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    number = require_ref(ctx, args)
    matter = requests.own(ctx.session, MATTER, actor, number)
    ref = MATTER.ref(number)
    days = ctx.config.matters.reopen_days
    if matter.status == store.CLOSED and ctx.now - matter.changed_at > timedelta(days=days):
        raise TooLate(ref=ref, days=days, action=MatterCommandTexts.reopened.bind())
    matter = requests.act(ctx.session, MATTER, actor, number, "reopen", now=ctx.now)
    ctx.reply(ctx.render(T.reopened, ref=ref))
    told = [p.id for p in handlers_of(ctx, matter)]
    if matter.assignee_id is not None:
        told.append(matter.assignee_id)
    ctx.notify(
        told,
        ctx.render(
            T.reopened_to_staff,
            ref=ref,
            student=student_text(ctx, matter),
            body=MATTER.read(matter).text,
        ),
    )


@router.command(
    "matters",
    "诉求",
    roles=STAFF,
    where=Where.PRIVATE,
    also_chat=_ALONE_OR_ID,
    usage=MatterCommandTexts.matters_usage.pair,
    help=MatterCommandTexts.matters_help.pair,
)
def list_matters(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    scope = None if actor.all_classes else actor.class_ids
    rows = store.open_for_staff(ctx.session, actor.person_id, scope)
    if not rows:
        ctx.reply(ctx.render(T.list_empty))
        return
    lines = [ctx.render(T.list_header, count=len(rows))]
    for r in rows:
        student = ctx.session.get(Person, r.student_id)
        lines.append(
            ctx.render(
                T.list_line,
                ref=MATTER.ref(r.number),
                state=MATTER.label(r.status, ctx.lang),
                cls=store.class_code(ctx.session, r),
                name=student.name if student else "?",
                body=MATTER.read(r).text,
            )
        )
    ctx.reply("\n".join(lines))


def mine_lines(ctx: Context, person_id: int, today: date) -> list[str]:
    """The student's own matters in /mine (sent privately)."""
    rows = requests.for_student(ctx.session, MATTER, person_id)
    if not rows:
        return []
    return [ctx.render(T.mine_header)] + [
        ctx.render(T.mine_line, ref=MATTER.ref(r.number), state=MATTER.label(r.status, ctx.lang))
        for r in rows
    ]


FEATURE = Feature(router, mine=mine_lines, jobs=MATTER_JOBS)
