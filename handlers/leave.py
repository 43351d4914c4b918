"""请假: asking for leave, 销假, the counselor's follow-up notes, and the leave lines of /mine.

In a group the bot never repeats a leave's reason or type: the acknowledgement names the id
only, and the details go to the student privately.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.dates import bad_date, parse_days, parse_range, short_day, try_parse_date
from bot.messages import Button, OutgoingMessage, PersonAddress
from bot.router import (
    DECIDERS,
    STUDENTS,
    Args,
    CommandRouter,
    Context,
    Feature,
    Where,
    WorkflowHandlers,
    normalize,
)
from bot.texts import Catalogue, Text
from storage import leave as leaves
from storage import requests
from storage.errors import BadArguments
from storage.leave import LEAVE
from storage.models import Person, Request, SchoolClass

router = CommandRouter("leave")


class LeaveTexts(Catalogue):
    back_usage = Text("销假 <编号>，例：销假 L37", "/back <id>, e.g. /back L37")
    followup_usage = Text(
        "跟进 <编号> <记录>，例：跟进 L37 已就医，诊断为感冒", "/followup <id> <note>"
    )
    leave_usage = Text(
        "请假 <开始> [结束|天数] <病假|事假> <理由>，例：请假 {tomorrow} 3天 病假 发烧就医\u3000或\u3000请假 明天到后天 事假 回家",
        "/leave <from> [to|days] <sick|personal> <reason>, e.g. /leave {tomorrow} 3days sick fever",
    )
    leave_help = Text(
        "申请请假，由辅导员审批（也可以写：请病假 明天 发烧）",
        "ask for leave; your counselor decides",
    )
    back_help = Text("提前结束已批准的请假", "end an approved leave early")
    followup_help = Text("记录病假的病因追查", "add a follow-up note to a sick leave")
    start_to_end = Text("{start} 至 {end}", "{start} to {end}")
    name_number_cls = Text("{name}（{number}，{cls}）", "{name} ({number}, {cls})")
    leave_ref_submitted_kind = Text(
        "请假 {ref} 已提交：{kind} {span}（{days} 天）\n理由：{reason}\n审批结果会私信通知你。要撤销请发送：撤销 {ref}",
        "Leave {ref} submitted: {kind} {span} ({days} days)\nReason: {reason}\nYou will be told the decision privately. To withdraw it: /cancel {ref}",
    )
    leave_request_ref_who = Text(
        "📝 请假申请 {ref}\n{who}\n{kind} {span}，共 {days} 天\n理由：{reason}\n批准请发送：批准 {ref}\n驳回请发送：驳回 {ref} <理由>",
        "📝 Leave request {ref}\n{who}\n{kind} {span}, {days} days\nReason: {reason}\nTo approve: /approve {ref}\nTo reject: /reject {ref} <reason>",
    )
    sick_leave = Text("病假", "sick leave")
    personal_leave = Text("事假", "personal leave")
    name_number_withdrew_leave = Text(
        "ℹ️ {name}（{number}）撤销了已批准、尚未开始的请假 {ref}。",
        "ℹ️ {name} ({number}) withdrew leave {ref} before it began.",
    )
    name_number_ended_leave = Text(
        "ℹ️ {name}（{number}）已销假 {ref}，今天返回。",
        "ℹ️ {name} ({number}) ended leave {ref} early and is back today.",
    )
    leave_ref_withdrawn = Text("✓ 已撤销请假 {ref}。", "✓ Leave {ref} withdrawn.")
    name_number_withdrew_leave_2 = Text(
        "ℹ️ {name}（{number}）撤销了请假 {ref}，无需再审批。",
        "ℹ️ {name} ({number}) withdrew leave {ref}; nothing to decide.",
    )
    your_leave_ref_kind = Text(
        "✅ 你的请假 {ref}（{kind} {span}）已批准，审批人：{by}。提前返回请发送：销假 {ref}",
        "✅ Your leave {ref} ({kind} {span}) is approved by {by}. Back early? Send /back {ref}",
    )
    your_leave_ref_kind_2 = Text(
        "❌ 你的请假 {ref}（{kind} {span}）被驳回，审批人：{by}。\n理由：{note}",
        "❌ Your leave {ref} ({kind} {span}) was rejected by {by}.\nReason: {note}",
    )
    follow_up_on_ref = Text(
        "✓ 已记录 {ref} 的跟进（共 {count} 条）。",
        "✓ Follow-up on {ref} recorded ({count} so far).",
    )
    leave = Text("请假：", "Leave:")
    approve = Text("批准", "Approve")
    reject = Text("驳回", "Reject")
    name_leave_ref_submitted = Text(
        "✓ {name} 已提交请假 {ref}，等待辅导员审批；详情已私信发给你。",
        "✓ {name}: leave {ref} submitted, waiting for the counselor; details sent privately.",
    )
    leave_ref_had_not = Text(
        "✓ 请假 {ref} 还没开始，已撤销。", "✓ Leave {ref} had not begun; it is withdrawn."
    )
    leave_ref_ended_welcome = Text(
        "✓ 已销假 {ref}，欢迎回来。", "✓ Leave {ref} ended. Welcome back."
    )
    leave_ref_approved_name = Text(
        "✓ 已批准请假 {ref}（{name}，{span}），已通知学生。",
        "✓ Leave {ref} approved ({name}, {span}); the student is told.",
    )
    leave_ref_rejected_name = Text(
        "✓ 已驳回请假 {ref}（{name}），已通知学生。",
        "✓ Leave {ref} rejected ({name}); the student is told.",
    )
    leave_none = Text("请假：没有记录。", "Leave: none.")
    submitted_leave_details_sent = Text(
        "已提交请假，详情已私信", "submitted leave, details sent privately"
    )
    give_leave_id_e = Text("请写上请假编号，例如 {EXAMPLE}。", "Give the leave id, e.g. {EXAMPLE}.")
    give_dates_type_and = Text(
        "请写上请假日期、类型和理由。", "Give the dates, the type and a reason."
    )
    please_give_reason = Text("请写上请假理由。", "Please give a reason.")
    approving_leave_takes_only = Text(
        "批准请假只需写编号。", "Approving a leave takes only its id."
    )
    please_write_note = Text("请写上跟进记录。", "Please write the note.")
    say_whether_it_is = Text("请写明是病假还是事假。", "Say whether it is sick or personal leave.")
    leave_lasts_at_least = Text("请假天数至少 1 天。", "A leave lasts at least one day.")


# The id the usage lines show.
EXAMPLE = LEAVE.ref(37)

KIND_WORDS = {
    "病假": leaves.SICK,
    "病": leaves.SICK,
    "sick": leaves.SICK,
    "事假": leaves.PERSONAL,
    "事": leaves.PERSONAL,
    "personal": leaves.PERSONAL,
}


def kind_label(ctx: Context, kind: str) -> str:
    return (
        ctx.render(LeaveTexts.sick_leave)
        if kind == leaves.SICK
        else ctx.render(LeaveTexts.personal_leave)
    )


def span(ctx: Context, leave: Request, today: date) -> str:
    assert leave.starts_on is not None and leave.ends_on is not None
    start = short_day(leave.starts_on, today, ctx.lang)
    end = short_day(leave.ends_on, today, ctx.lang)
    if leave.starts_on == leave.ends_on:
        return start
    return ctx.render(LeaveTexts.start_to_end, start=start, end=end)


def today_of(ctx: Context) -> date:
    return ctx.sent_at.astimezone(ctx.config.tz).date()


def limits(ctx: Context) -> leaves.LeaveLimits:
    cfg = ctx.config.leave
    return leaves.LeaveLimits(cfg.max_days_ahead, cfg.max_days, cfg.max_days_back)


def leave_deciders(ctx: Context, class_id: int) -> list[Person]:
    """The class's counselors; the college office when the class has none."""
    return requests.deciders_at(ctx.session, LEAVE, class_id, leaves.PENDING)


def decision_buttons(ctx: Context, ref: str) -> tuple[Button, Button]:
    return (
        Button(ctx.render(LeaveTexts.approve), f"/approve {ref}"),
        Button(ctx.render(LeaveTexts.reject), f"/reject {ref}"),
    )


def student_line(ctx: Context, student: Person, class_id: int) -> str:
    cls = ctx.session.get(SchoolClass, class_id)
    return ctx.render(
        LeaveTexts.name_number_cls,
        name=student.name,
        number=student.number,
        cls=cls.code if cls else "?",
    )


def said_word(ctx: Context, word: str) -> bool:
    """Whether the message began with this command word (an alias that carries meaning)."""
    return normalize(ctx.message.text).startswith(word)


def require_leave_ref(args: Args, index: int = 0) -> int:
    ref = requests.parse_ref(args.tokens[index]) if len(args) > index else None
    if ref is None or ref.kind_name != LEAVE.name:
        raise BadArguments(LeaveTexts.give_leave_id_e, EXAMPLE=EXAMPLE)
    return ref.number


# Leave verbs that say the kind themselves: 请病假 明天 发烧.
KIND_ALIASES = {"请病假": leaves.SICK, "请事假": leaves.PERSONAL}
RANGE_WORDS = ("到", "至", "-", "~")


def leave_dates(args: Args, today: date) -> tuple[date, date, int]:
    """The leave's dates and the index of the first token after them.

    Accepted: one day (`明天`, `周五`, `下周一`, `12-5`); two days (`明天 后天`, `明天 到
    后天`); a range in one token (`明天到后天`, `明天-后天`); a start and a length (`明天 3天`).
    """
    if len(args) == 0:
        raise BadArguments(LeaveTexts.give_dates_type_and)
    first = args.tokens[0]
    start = try_parse_date(first, today, future=True)
    if start is None:
        found = parse_range(first, today, future=True)
        if found is None:
            raise bad_date(first, today)
        return found[0], found[1], 1
    i = 1
    if len(args) > i + 1 and normalize(args.tokens[i]) in RANGE_WORDS:
        i += 1
    if len(args) > i:
        token = args.tokens[i]
        days = parse_days(token)
        if days is not None:
            if days < 1:
                raise BadArguments(LeaveTexts.leave_lasts_at_least)
            return start, start + timedelta(days=days - 1), i + 1
        end = try_parse_date(token, today, future=True)
        if end is not None:
            return start, end, i + 1
    return start, start, 1


@router.command(
    "leave",
    "请假",
    roles=STUDENTS,
    aliases=("申请请假", *KIND_ALIASES),
    usage=LeaveTexts.leave_usage.pair,
    help=LeaveTexts.leave_help.pair,
)
def leave(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    today = today_of(ctx)
    start, end, i = leave_dates(args, today)
    kind = next((k for w, k in KIND_ALIASES.items() if said_word(ctx, w)), None)
    if kind is None:
        kind = KIND_WORDS.get(normalize(args.tokens[i]).lower()) if len(args) > i else None
        if kind is None:
            raise BadArguments(LeaveTexts.say_whether_it_is)
        i += 1
    reason = args.rest(i)
    if not reason:
        raise BadArguments(LeaveTexts.please_give_reason)
    request = leaves.submit(
        ctx.session,
        actor,
        kind=kind,
        start=start,
        end=end,
        reason=reason,
        today=today,
        now=ctx.now,
        limits=limits(ctx),
    )
    ref = LEAVE.ref(request.number)
    details = ctx.render(
        LeaveTexts.leave_ref_submitted_kind,
        ref=ref,
        kind=kind_label(ctx, kind),
        span=span(ctx, request, today),
        days=leaves.days(request),
        reason=reason,
    )
    if ctx.message.is_group:
        ctx.acknowledge(
            ctx.render(LeaveTexts.name_leave_ref_submitted, name=actor.name, ref=ref),
            key=f"leave:{today}",
            verb=ctx.render(LeaveTexts.submitted_leave_details_sent),
            name=actor.name,
        )
        ctx.send(PersonAddress(actor.person_id), details)
    else:
        ctx.reply(details)

    student = ctx.session.get(Person, actor.person_id)
    assert student is not None
    notice = ctx.render(
        LeaveTexts.leave_request_ref_who,
        ref=ref,
        who=student_line(ctx, student, request.class_id),
        kind=kind_label(ctx, kind),
        span=span(ctx, request, today),
        days=leaves.days(request),
        reason=reason,
    )
    ctx.notify(
        (p.id for p in leave_deciders(ctx, request.class_id)),
        OutgoingMessage(notice, buttons=decision_buttons(ctx, ref)),
    )


@router.command(
    "back",
    "销假",
    roles=STUDENTS,
    usage=LeaveTexts.back_usage.pair,
    help=LeaveTexts.back_help.pair,
)
def back(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    leave_id = require_leave_ref(args)
    today = today_of(ctx)
    request = leaves.come_back(ctx.session, actor, leave_id, today, ctx.now)
    ref = LEAVE.ref(request.number)
    if request.status == leaves.CANCELLED:
        ctx.reply(ctx.render(LeaveTexts.leave_ref_had_not, ref=ref))
        staff_text = ctx.render(
            LeaveTexts.name_number_withdrew_leave, name=actor.name, number=actor.number, ref=ref
        )
    else:
        ctx.reply(ctx.render(LeaveTexts.leave_ref_ended_welcome, ref=ref))
        staff_text = ctx.render(
            LeaveTexts.name_number_ended_leave, name=actor.name, number=actor.number, ref=ref
        )
    ctx.notify((p.id for p in leave_deciders(ctx, request.class_id)), staff_text)


def cancel_leave(ctx: Context, leave_id: int) -> None:
    """撤销 for a leave request (the /cancel command lives with the decisions)."""
    actor = ctx.require_actor()
    request = leaves.cancel(ctx.session, actor, leave_id, today_of(ctx), ctx.now)
    ref = LEAVE.ref(request.number)
    ctx.reply(ctx.render(LeaveTexts.leave_ref_withdrawn, ref=ref))
    ctx.notify(
        (p.id for p in leave_deciders(ctx, request.class_id)),
        ctx.render(
            LeaveTexts.name_number_withdrew_leave_2, name=actor.name, number=actor.number, ref=ref
        ),
    )


def approve_leave(ctx: Context, leave_id: int, args: Args) -> None:
    if len(args) > 1:
        raise BadArguments(LeaveTexts.approving_leave_takes_only)
    decide_leave(ctx, leave_id, approve=True, note=None)


def reject_leave(ctx: Context, leave_id: int, args: Args, reason: str) -> None:
    decide_leave(ctx, leave_id, approve=False, note=reason)


def decide_leave(ctx: Context, leave_id: int, *, approve: bool, note: str | None) -> None:
    actor = ctx.require_actor()
    request = leaves.decide(ctx.session, actor, leave_id, approve=approve, note=note, now=ctx.now)
    ref = LEAVE.ref(request.number)
    today = today_of(ctx)
    student = ctx.session.get(Person, request.student_id)
    assert student is not None
    when = span(ctx, request, today)
    if approve:
        ctx.reply(
            ctx.render(LeaveTexts.leave_ref_approved_name, ref=ref, name=student.name, span=when)
        )
        told = ctx.render(
            LeaveTexts.your_leave_ref_kind,
            ref=ref,
            kind=kind_label(ctx, LEAVE.read(request).type),
            span=when,
            by=actor.name,
        )
    else:
        ctx.reply(ctx.render(LeaveTexts.leave_ref_rejected_name, ref=ref, name=student.name))
        told = ctx.render(
            LeaveTexts.your_leave_ref_kind_2,
            ref=ref,
            kind=kind_label(ctx, LEAVE.read(request).type),
            span=when,
            by=actor.name,
            note=note,
        )
    ctx.notify([request.student_id], told)


@router.command(
    "followup",
    "跟进",
    roles=DECIDERS,
    where=Where.PRIVATE,
    usage=LeaveTexts.followup_usage.pair,
    help=LeaveTexts.followup_help.pair,
)
def followup(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    leave_id = require_leave_ref(args)
    note = args.rest(1)
    if not note:
        raise BadArguments(LeaveTexts.please_write_note)
    count = leaves.follow_up(ctx.session, actor, leave_id, note, ctx.now)
    ctx.reply(ctx.render(LeaveTexts.follow_up_on_ref, ref=LEAVE.ref(leave_id), count=count))


def mine_lines(ctx: Context, person_id: int, today: date) -> list[str]:
    """The leave section of /mine (always sent privately)."""
    rows = leaves.for_student(ctx.session, person_id)
    if not rows:
        return [ctx.render(LeaveTexts.leave_none)]
    lines = [ctx.render(LeaveTexts.leave)]
    for r in rows:
        lines.append(
            f"  {LEAVE.ref(r.number)} {kind_label(ctx, LEAVE.read(r).type)} {span(ctx, r, today)} "
            f"{LEAVE.label(r.status, ctx.lang)}"
        )
    return lines


FEATURE = Feature(
    router,
    mine=mine_lines,
    workflow=WorkflowHandlers(LEAVE, approve_leave, reject_leave, cancel_leave),
)
