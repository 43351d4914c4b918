"""通知: notices staff send to their classes, which each student confirms with 收到.

A notice is a campaign of kind `notice` (storage/campaigns.py) with an empty form: its
response is the confirmation. It is posted in each bound class group of its audience (and
privately to each student with `[notices] private = true`); the reminders before and at its
deadline, and its roll-up, are the campaign engine's (schedules/campaigns.py).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time

import schedules.campaigns
from bot.dates import day_label, try_parse_date
from bot.messages import Button, ChatAddress, OutgoingMessage
from bot.router import ALL_ROLES, Args, CommandRouter, Context, Feature, normalize
from bot.texts import Catalogue, Text
from handlers.notice_texts import NoticeTexts
from storage import campaigns, identity
from storage.campaigns import NOTICE, Audience, Instance
from storage.errors import BadArguments, NotFound, OutOfScope
from storage.identity import Actor
from storage.models import Person, Role

router = CommandRouter("notices")


class NoticeCommandTexts(Catalogue):
    """The 通知 and 收到 commands: their usage, help, and what a refusal names."""

    notice_usage = Text(
        "通知 <班级|学院|全部> [截止 <日期> <时间>] <正文>，"
        "例：通知 {class_code} 截止 {tomorrow} 18:00 请把告家长的一封信转给家长",
        "/notice <class|college|all> [deadline <date> <time>] <text>, "
        "e.g. /notice {class_code} deadline {tomorrow} 18:00 Please forward the letter to your parents",
    )
    notice_help = Text(
        "给班级发通知，同学回复「收到」确认，截止时提醒未确认的同学",
        "send a notice students confirm with /ack; those who have not are reminded",
    )
    ack_usage = Text(
        "收到　或　收到 <通知编号>，例：收到 N3", "/ack or /ack <notice id>, e.g. /ack N3"
    )
    ack_help = Text(
        "确认收到通知（不写编号则确认所有未确认的通知）",
        "confirm notices (all open ones, or one by id)",
    )
    a_class = Text("班级 {code}", "class {code}")
    a_college = Text("学院 {name}", "college {name}")
    for_you = Text("给你的通知 {ref}", "A notice {ref} for you")


# The 收到 command (name, keyword): a button's command is its keyword, read back by the bot.
ACK = ("ack", "收到")

MAX_BODY = 1000
ONCE = "once"
_TIME = re.compile(r"(\d{1,2})[:：点](\d{2})?分?")
_DEADLINE_WORDS = ("截止", "deadline")
_ALL_WORDS = ("全部", "all")


def _problem(ctx: Context, text: Text, **params: object) -> BadArguments:
    return BadArguments(text("zh", **params), text("en", **params))


def _when(ctx: Context, at: datetime) -> str:
    local = at.astimezone(ctx.config.tz)
    return f"{day_label(local.date(), ctx.lang)} {local:%H:%M}"


def _deadline(ctx: Context, args: Args, start: int) -> tuple[datetime, int]:
    """The deadline after 截止: `12-05 18:00`, `12-05` (that day's end), or `18:00` (today)."""
    tz = ctx.config.tz
    today = ctx.now.astimezone(tz).date()
    example = f"{today.month}-{today.day}"
    tokens = args.tokens
    day: date | None = None
    at: time | None = None
    i = start
    if i < len(tokens):
        try:
            day = try_parse_date(tokens[i], today, future=True)
        except BadArguments:
            day = None
        if day is not None:
            i += 1
    if i < len(tokens):
        m = _TIME.fullmatch(normalize(tokens[i]))
        if m is not None:
            hour, minute = int(m.group(1)), int(m.group(2) or 0)
            if hour > 23 or minute > 59:
                raise _problem(ctx, NoticeTexts.bad_deadline, example=example)
            at = time(hour, minute)
            i += 1
    if day is None and at is None:
        raise _problem(ctx, NoticeTexts.bad_deadline, example=example)
    deadline = datetime.combine(day or today, at or time(23, 59), tzinfo=tz)
    if deadline <= ctx.now:
        raise _problem(ctx, NoticeTexts.past_deadline, deadline=_when(ctx, deadline))
    return deadline, i


def _audience(ctx: Context, actor: Actor, token: str) -> Audience:
    """A class code, a college name, or 全部 (everything the sender may reach)."""
    word = normalize(token)
    if word.lower() in _ALL_WORDS:
        if actor.all_classes:
            return Audience(school=True)
        if actor.role is Role.COLLEGE_ADMIN and actor.college_id is not None:
            return Audience(college_id=actor.college_id)
        return Audience(class_ids=actor.class_ids)
    cls = identity.class_by_code(ctx.session, token) or identity.class_by_code(ctx.session, word)
    if cls is not None:
        actor.require_class(cls.id, what=NoticeCommandTexts.a_class.bind(code=cls.code))
        return Audience(class_ids=frozenset({cls.id}))
    college = campaigns.college_by_name(ctx.session, token)
    if college is not None:
        if actor.all_classes or (
            actor.role is Role.COLLEGE_ADMIN and actor.college_id == college.id
        ):
            return Audience(college_id=college.id)
        raise OutOfScope(what=NoticeCommandTexts.a_college.bind(name=college.name))
    raise _problem(ctx, NoticeTexts.unknown_scope, scope=token)


def _ack_button(ctx: Context, ref: str) -> Button:
    return Button(ctx.render(NoticeTexts.button), f"{ACK[1]} {ref}")


@router.command(
    "notice",
    "通知",
    roles={Role.COUNSELOR, Role.COLLEGE_ADMIN, Role.SCHOOL_ADMIN},
    usage=NoticeCommandTexts.notice_usage.pair,
    help=NoticeCommandTexts.notice_help.pair,
)
def notice(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if len(args) < 2:
        raise _problem(ctx, NoticeTexts.no_body)
    audience = _audience(ctx, actor, args.tokens[0])
    start = 1
    deadline = ctx.now + ctx.config.notices.deadline
    if normalize(args.tokens[1]).lower() in _DEADLINE_WORDS:
        deadline, start = _deadline(ctx, args, 2)
    body = args.rest(start) if start < len(args) else ""
    if not body:
        raise _problem(ctx, NoticeTexts.no_body)
    if len(body) > MAX_BODY:
        raise _problem(ctx, NoticeTexts.body_too_long, limit=MAX_BODY)
    classes = campaigns.audience_classes(ctx.session, audience)
    if classes is not None and not classes:
        raise _problem(ctx, NoticeTexts.no_classes)
    title = body.splitlines()[0][:40]
    c = campaigns.create(
        ctx.session,
        NOTICE,
        title=title,
        audience=audience,
        deadline=deadline,
        now=ctx.now,
        created_by=actor.person_id,
        remind_before=ctx.config.notices.remind_before,
        body=body,
    )
    text = ctx.render(
        NoticeTexts.posted, ref=c.ref, sender=actor.name, body=body, deadline=_when(ctx, deadline)
    )
    message = OutgoingMessage(text, buttons=(_ack_button(ctx, c.ref),))
    groups = campaigns.groups_in(ctx.session, classes, ctx.dispatcher.outbox.platforms())
    for g in groups:
        ctx.send(ChatAddress(g.platform, g.chat_id, True), message)
    students = campaigns.students_of(ctx.session, c)
    if ctx.config.notices.private:
        ctx.notify(students, message)
    before = ctx.config.notices.remind_before
    hours, minutes = divmod(int(before.total_seconds() // 60), 60)
    # The first reminder only when it falls after the notice is sent.
    text_of = NoticeTexts.sent if deadline - before > ctx.now else NoticeTexts.sent_due_only
    ctx.reply(
        ctx.render(
            text_of,
            ref=c.ref,
            groups=len(groups),
            students=len(students),
            deadline=_when(ctx, deadline),
            before=f"{hours}h{minutes:02d}m" if minutes else f"{hours}h",
        )
    )


@router.command(
    *ACK,
    roles=ALL_ROLES,
    # 收到 is everyday chat (收到了谢谢老师): in a group only the whole word, or 收到 N3.
    also_chat=r"(?:[Nn]\d{1,9})?",
    usage=NoticeCommandTexts.ack_usage.pair,
    help=NoticeCommandTexts.ack_help.pair,
)
def ack(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if not actor.role.is_student:
        ctx.reply(ctx.render(NoticeTexts.staff_ack))
        return
    person = ctx.session.get(Person, actor.person_id)
    assert person is not None
    if args.tokens:
        found = _named(ctx, args.tokens[0], person)
        targets = [found]
    else:
        targets = campaigns.open_for_student(ctx.session, person, NOTICE)
        if not targets:
            ctx.reply(ctx.render(NoticeTexts.nothing_open))
            return
    new = [c for c in targets if campaigns.response(ctx.session, c, ONCE, person.id) is None]
    if not new:
        ctx.reply(ctx.render(NoticeTexts.already, refs="、".join(c.ref for c in targets)))
        return
    for c in new:
        campaigns.respond(
            ctx.session,
            c,
            person_id=person.id,
            class_id=person.class_id or 0,
            answers={},
            now=ctx.sent_at,
            key=ONCE,
        )
    group = ctx.group if ctx.message.is_group else None
    if group is not None and group.class_id == person.class_id and person.class_id is not None:
        for c in new:
            count = campaigns.progress(ctx.session, c, ONCE, [person.class_id]).total
            ctx.acknowledge(
                ctx.render(
                    NoticeTexts.confirmed_group, name=actor.name, done=count.done, of=count.of
                ),
                key=f"notice:{c.ref}",
                verb=ctx.render(NoticeTexts.ack_verb),
                name=actor.name,
                done=count.done,
                of=count.of,
            )
        return
    ctx.reply(
        ctx.render(NoticeTexts.confirmed, name=actor.name, refs="、".join(c.ref for c in new))
    )


def _named(ctx: Context, token: str, person: Person) -> Instance:
    """The open notice a student names; someone else's, or a closed one, is not found."""
    c = campaigns.by_ref(ctx.session, token)
    if c is None or c.kind is not NOTICE:
        raise _problem(ctx, NoticeTexts.name_it)
    if c.status != campaigns.OPEN or not campaigns.covers(ctx.session, c, person):
        raise NotFound(what=NoticeCommandTexts.for_you.bind(ref=c.ref))
    return c


def mine_lines(ctx: Context, person_id: int, today: date) -> list[str]:
    """/mine: the notices still waiting for the student's confirmation."""
    person = ctx.session.get(Person, person_id)
    if person is None or person.role not in campaigns.STUDENT_ROLES:
        return []
    waiting = [
        c
        for c in campaigns.open_for_student(ctx.session, person, NOTICE)
        if campaigns.response(ctx.session, c, ONCE, person.id) is None
    ]
    if not waiting:
        return []
    return [ctx.render(NoticeTexts.mine, refs="、".join(f"{c.ref} {c.title}" for c in waiting))]


FEATURE = Feature(
    router,
    mine=mine_lines,
    jobs=(schedules.campaigns.REMINDERS,),
    campaigns=(NOTICE,),
    retention=schedules.campaigns.purge,
)
