"""临时困难补助: applying (private chat only), the two review steps' messages, and /mine lines.

Subsidy data is seen only by the student, their counselor and their college office, and only
in private chat: every message here goes to a person, never to a group.
"""

from __future__ import annotations

import re
from datetime import date

from bot.messages import OutgoingMessage
from bot.router import (
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
from handlers.leave import decision_buttons, student_line
from storage import subsidy as subsidies
from storage.errors import BadArguments, OutOfRange, PrivateOnly
from storage.models import Person, Request
from storage.subsidy import (
    APPROVED,
    PENDING_COLLEGE,
    PENDING_COUNSELOR,
    REJECTED,
    SUBSIDY,
    format_amount,
)

router = CommandRouter("subsidy")


class SubsidyTexts(Catalogue):
    subsidy_usage = Text(
        "补助 <金额> <理由>（仅私聊），例：补助 800 家庭突发困难",
        "/subsidy <amount> <reason> (private chat only), e.g. /subsidy 800 family emergency",
    )
    subsidy_help = Text(
        "申请临时困难补助（仅私聊）", "apply for a temporary hardship subsidy (private chat)"
    )
    head_who_asks_for = Text(
        "{head}\n{who}申请 {amount}{lowered}\n理由：{reason}\n批准请发送：批准 {ref} [金额]（可调低金额）\n驳回请发送：驳回 {ref} <理由>",
        "{head}\n{who} asks for {amount}{lowered}\nReason: {reason}\nTo approve: /approve {ref} [amount] (you may lower it)\nTo reject: /reject {ref} <reason>",
    )
    asked_amount = Text("，申请 {amount}", ", asked {amount}")
    subsidy_application_ref_submitted = Text(
        "✓ 已提交补助申请 {ref}：{amount}\n理由：{reason}\n先由辅导员审核，再由学工办审批，每一步都会私信通知你。要撤销请发送：撤销 {ref}",
        "✓ Subsidy application {ref} submitted: {amount}\nReason: {reason}\nYour counselor reviews it first, then the college office; you are told at each step. To withdraw it: /cancel {ref}",
    )
    counselor_approved_amount = Text("，辅导员审核金额 {amount}", ", counselor approved {amount}")
    subsidy_application_ref_passed = Text(
        "💰 补助申请 {ref} 已通过辅导员审核，待学工办审批",
        "💰 Subsidy application {ref} passed the counselor; the college office decides",
    )
    subsidy_application_ref_for = Text(
        "💰 补助申请 {ref}，待辅导员审核", "💰 Subsidy application {ref}, for the counselor"
    )
    your_subsidy_application_ref = Text(
        "✅ 你的补助申请 {ref} 已通过辅导员审核（金额 {amount}{asked}），现在等待学工办审批。",
        "✅ Your subsidy application {ref} passed the counselor ({amount}{asked}); the college office decides next.",
    )
    your_subsidy_application_ref_2 = Text(
        "✅ 你的补助申请 {ref} 已由学工办批准，核定金额 {amount}{asked}。",
        "✅ Your subsidy application {ref} is approved by the college office: {amount}{asked}.",
    )
    counselor_s_review = Text("辅导员审核", "the counselor's review")
    college_office_s_review = Text("学工办审批", "the college office's review")
    subsidy_application_ref_name = Text(
        "✓ 已驳回补助申请 {ref}（{name}），已通知学生。",
        "✓ Subsidy application {ref} ({name}) rejected; the student is told.",
    )
    your_subsidy_application_ref_3 = Text(
        "❌ 你的补助申请 {ref} 未通过{step}。\n理由：{reason}",
        "❌ Your subsidy application {ref} did not pass {step}.\nReason: {reason}",
    )
    subsidy_application_ref_withdrawn = Text(
        "✓ 已撤销补助申请 {ref}。", "✓ Subsidy application {ref} withdrawn."
    )
    name_number_withdrew_subsidy = Text(
        "ℹ️ {name}（{number}）撤销了补助申请 {ref}，无需再审核。",
        "ℹ️ {name} ({number}) withdrew subsidy application {ref}; nothing to decide.",
    )
    subsidy = Text("补助：", "Subsidy:")
    ref_name_passed_your = Text(
        "✓ {ref}（{name}）已通过辅导员审核，金额 {amount}，已转学工办审批。",
        "✓ {ref} ({name}) passed your review at {amount}; sent to the college office.",
    )
    subsidy_application_ref_name_2 = Text(
        "✓ 已批准补助申请 {ref}（{name}），金额 {amount}，已通知学生和辅导员。",
        "✓ Subsidy application {ref} ({name}) approved at {amount}; student and counselor told.",
    )
    subsidy_application_ref_name_3 = Text(
        "ℹ️ 补助申请 {ref}（{name}）已由学工办批准，金额 {amount}。",
        "ℹ️ Subsidy application {ref} ({name}) approved by the college office: {amount}.",
    )
    subsidy_application_ref_name_4 = Text(
        "ℹ️ 补助申请 {ref}（{name}）被学工办驳回。",
        "ℹ️ Subsidy application {ref} ({name}) was rejected by the college office.",
    )
    subsidy_none = Text("补助：没有申请。", "Subsidy: none.")
    approved = Text("（核定 {a}）", " (approved {a})")
    why = Text("：{why}", ": {why}")
    cannot_read_amount_write = Text(
        "金额看不懂，请写成数字（单位元，最多两位小数），范围 1–{max_amount} 元。",
        "Cannot read the amount; write a number of yuan (up to 2 decimals), 1–{max_amount}.",
    )
    amount = Text("金额", "The amount")
    give_amount_and_reason = Text("请写上金额和理由。", "Give the amount and a reason.")
    please_give_reason = Text("请写上申请理由。", "Please give a reason.")
    give_only_id_and = Text("批准时只需写编号和金额。", "Give only the id and an amount.")


_AMOUNT = re.compile(r"^(\d{1,9})(?:\.(\d{1,2}))?$")
_PREFIXES = ("¥", "rmb", "cny")
_SUFFIXES = ("元", "块", "yuan", "rmb", "cny")


def parse_amount(token: str, max_amount: int) -> int:
    """Cents from '800', '800.5', '¥800', '800元', '￥８００' (1 to max_amount yuan)."""
    text = normalize(token).lower().replace(" ", "")
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    for suffix in _SUFFIXES:
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    negative = text[:1] in ("-", "−")
    m = _AMOUNT.match(text[1:] if negative else text)
    if m is None:
        raise BadArguments(
            SubsidyTexts.cannot_read_amount_write,
            max_amount=max_amount,
        )
    if negative:
        raise OutOfRange(
            what=SubsidyTexts.amount.bind(),
            low="1",
            high=subsidies.SubsidyStorageTexts.yuan.bind(amount=max_amount),
        )
    cents = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    return subsidies.check_amount(cents, max_amount)


def require_private(ctx: Context) -> None:
    """Subsidy data never goes to a group, not even a decision on it."""
    if ctx.message.is_group:
        raise PrivateOnly()


@router.command(
    "subsidy",
    "补助",
    roles=STUDENTS,
    aliases=("申请补助", "补助申请"),
    where=Where.PRIVATE,
    needs_consent=True,
    usage=SubsidyTexts.subsidy_usage.pair,
    help=SubsidyTexts.subsidy_help.pair,
)
def subsidy(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    max_amount = ctx.config.subsidy.max_amount
    if len(args) == 0:
        raise BadArguments(SubsidyTexts.give_amount_and_reason)
    cents = parse_amount(args.tokens[0], max_amount)
    reason = args.rest(1)
    if not reason:
        raise BadArguments(SubsidyTexts.please_give_reason)
    app = subsidies.submit(
        ctx.session,
        actor,
        amount_cents=cents,
        reason=reason,
        max_amount=max_amount,
        now=ctx.now,
    )
    ref = SUBSIDY.ref(app.number)
    ctx.reply(
        ctx.render(
            SubsidyTexts.subsidy_application_ref_submitted,
            ref=ref,
            amount=format_amount(cents),
            reason=reason,
        )
    )
    notify_deciders(ctx, app)


def notify_deciders(ctx: Context, app: Request) -> None:
    """Tell whoever decides the step the application now waits at."""
    student = ctx.session.get(Person, app.student_id)
    assert student is not None
    ref = SUBSIDY.ref(app.number)
    payload = SUBSIDY.read(app)
    lowered = (
        ctx.render(
            SubsidyTexts.counselor_approved_amount, amount=format_amount(payload.approved_cents)
        )
        if payload.approved_cents is not None and payload.approved_cents != payload.amount_cents
        else ""
    )
    if app.status == PENDING_COLLEGE:
        head = ctx.render(SubsidyTexts.subsidy_application_ref_passed, ref=ref)
    else:
        head = ctx.render(SubsidyTexts.subsidy_application_ref_for, ref=ref)
    text = ctx.render(
        SubsidyTexts.head_who_asks_for,
        head=head,
        who=student_line(ctx, student, app.class_id),
        amount=format_amount(payload.amount_cents),
        lowered=lowered,
        reason=payload.reason,
        ref=ref,
    )
    ctx.notify(
        (p.id for p in subsidies.deciders(ctx.session, app)),
        OutgoingMessage(text, buttons=decision_buttons(ctx, ref)),
    )


def decide_subsidy(
    ctx: Context, application_id: int, *, approve: bool, args: Args, reason: str | None
) -> None:
    require_private(ctx)
    actor = ctx.require_actor()
    amount = None
    if approve and len(args) > 1:
        if len(args) > 2:
            raise BadArguments(SubsidyTexts.give_only_id_and)
        amount = parse_amount(args.tokens[1], ctx.config.subsidy.max_amount)
    decision = subsidies.decide(
        ctx.session,
        actor,
        application_id,
        approve=approve,
        amount_cents=amount,
        reason=reason,
        now=ctx.now,
    )
    app = decision.request
    ref = SUBSIDY.ref(app.number)
    student = ctx.session.get(Person, app.student_id)
    assert student is not None
    approved = SUBSIDY.read(app).approved_cents
    granted = format_amount(approved) if approved is not None else ""
    if app.status == PENDING_COLLEGE:
        ctx.reply(
            ctx.render(
                SubsidyTexts.ref_name_passed_your, ref=ref, name=student.name, amount=granted
            )
        )
        told = ctx.render(
            SubsidyTexts.your_subsidy_application_ref,
            ref=ref,
            amount=granted,
            asked=_asked(ctx, app),
        )
        ctx.notify([app.student_id], told)
        notify_deciders(ctx, app)
        return
    if app.status == APPROVED:
        ctx.reply(
            ctx.render(
                SubsidyTexts.subsidy_application_ref_name_2,
                ref=ref,
                name=student.name,
                amount=granted,
            )
        )
        told = ctx.render(
            SubsidyTexts.your_subsidy_application_ref_2,
            ref=ref,
            amount=granted,
            asked=_asked(ctx, app),
        )
        ctx.notify([app.student_id], told)
        _tell_counselor(
            ctx,
            app,
            ctx.render(
                SubsidyTexts.subsidy_application_ref_name_3,
                ref=ref,
                name=student.name,
                amount=granted,
            ),
        )
        return
    assert app.status == REJECTED
    step = (
        ctx.render(SubsidyTexts.counselor_s_review)
        if decision.from_status == PENDING_COUNSELOR
        else ctx.render(SubsidyTexts.college_office_s_review)
    )
    ctx.reply(ctx.render(SubsidyTexts.subsidy_application_ref_name, ref=ref, name=student.name))
    ctx.notify(
        [app.student_id],
        ctx.render(
            SubsidyTexts.your_subsidy_application_ref_3,
            ref=ref,
            step=step,
            reason=subsidies.reject_reason(ctx.session, app),
        ),
    )
    if decision.from_status == PENDING_COLLEGE:
        _tell_counselor(
            ctx,
            app,
            ctx.render(SubsidyTexts.subsidy_application_ref_name_4, ref=ref, name=student.name),
        )


def approve_subsidy(ctx: Context, number: int, args: Args) -> None:
    decide_subsidy(ctx, number, approve=True, args=args, reason=None)


def reject_subsidy(ctx: Context, number: int, args: Args, reason: str) -> None:
    decide_subsidy(ctx, number, approve=False, args=args, reason=reason)


def _asked(ctx: Context, app: Request) -> str:
    payload = SUBSIDY.read(app)
    if payload.approved_cents is None or payload.approved_cents == payload.amount_cents:
        return ""
    return ctx.render(SubsidyTexts.asked_amount, amount=format_amount(payload.amount_cents))


def _tell_counselor(ctx: Context, app: Request, text: str) -> None:
    counselor = subsidies.counselor_of(ctx.session, app)
    if counselor is not None:
        ctx.notify([counselor], text)


def cancel_subsidy(ctx: Context, application_id: int) -> None:
    require_private(ctx)
    actor = ctx.require_actor()
    app, was_at = subsidies.cancel(ctx.session, actor, application_id, ctx.now)
    ref = SUBSIDY.ref(app.number)
    was_waiting_for = subsidies.deciders_for_state(ctx.session, app.class_id, was_at)
    ctx.reply(ctx.render(SubsidyTexts.subsidy_application_ref_withdrawn, ref=ref))
    ctx.notify(
        (p.id for p in was_waiting_for),
        ctx.render(
            SubsidyTexts.name_number_withdrew_subsidy, name=actor.name, number=actor.number, ref=ref
        ),
    )


def mine_lines(ctx: Context, person_id: int, today: date) -> list[str]:
    """The subsidy section of /mine (always sent privately)."""
    rows = subsidies.for_student(ctx.session, person_id)
    if not rows:
        return [ctx.render(SubsidyTexts.subsidy_none)]
    lines = [ctx.render(SubsidyTexts.subsidy)]
    for r in rows:
        payload = SUBSIDY.read(r)
        amount = format_amount(payload.amount_cents)
        if payload.approved_cents is not None and payload.approved_cents != payload.amount_cents:
            amount += ctx.render(SubsidyTexts.approved, a=format_amount(payload.approved_cents))
        line = f"  {SUBSIDY.ref(r.number)} {amount} {SUBSIDY.label(r.status, ctx.lang)}"
        why = subsidies.reject_reason(ctx.session, r) if r.status == REJECTED else None
        if why:
            line += ctx.render(SubsidyTexts.why, why=why)
        lines.append(line)
    return lines


FEATURE = Feature(
    router,
    mine=mine_lines,
    workflow=WorkflowHandlers(SUBSIDY, approve_subsidy, reject_subsidy, cancel_subsidy),
)
