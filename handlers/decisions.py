"""批准 / 驳回 / 撤销: the commands that take a typed id (L37, S12…) and act on the request of
whichever registered kind it names. Each kind's feature says what the decision means
(`router.WorkflowHandlers`), wired in bot/app.py.

`驳回 L37` without a reason asks for it (`ctx.ask`), on every platform: the decider's next
message in that chat is the reason."""

from __future__ import annotations

from typing import Any

from bot.router import DECIDERS, STUDENTS, Args, CommandRouter, Context, WorkflowHandlers
from bot.texts import Catalogue, PerLanguage, Text, in_language
from storage import requests
from storage.errors import BadArguments, DomainError, NotYourStep
from storage.requests import REJECT, Ref, Step, Workflows, parse_ref
from storage.workflows import WORKFLOWS


class DecisionTexts(Catalogue):
    reason = Text(
        "驳回 {ref} 的理由？请直接发送（发送「取消」放弃）。",
        "The reason for rejecting {ref}? Send it as your next message (or /cancel).",
    )
    no_reason = Text("理由不能为空。", "The reason cannot be empty.")
    give_the_id = Text("请写上编号：{example}。", "Give the id: {example}.")
    approve_usage = Text(
        "批准 <编号> [金额]，例：批准 L37　或　批准 S12 500（补助可调低金额，仅私聊）",
        "/approve <id> [amount], e.g. /approve L37 or /approve S12 500 (may lower a subsidy)",
    )
    approve_help = Text("批准请假或补助申请", "approve a leave request or a subsidy step")
    reject_usage = Text(
        "驳回 <编号> [理由]，例：驳回 L37 请补充医院证明（不写理由会再问）",
        "/reject <id> [reason], e.g. /reject L37 please add a doctor's note (asked if left out)",
    )
    reject_help = Text(
        "驳回请假或补助申请（需写理由）",
        "reject a leave request or a subsidy step (with a reason)",
    )
    cancel_usage = Text("撤销 <编号>，例：撤销 L37", "/cancel <id>, e.g. /cancel L37")
    cancel_help = Text(
        "撤回自己还在审批中的请假或补助申请", "withdraw your own request while it is pending"
    )


router = CommandRouter("decisions")


def require_ref(ctx: Context, args: Args) -> tuple[Ref, WorkflowHandlers]:
    ref = parse_ref(args.tokens[0]) if len(args) else None
    handlers = ctx.dispatcher.workflows.get(ref.kind_name) if ref is not None else None
    if ref is None or handlers is None:
        # The kinds that are decided by 批准 / 驳回 / 撤销.
        zh, en = Workflows(*(k for k in WORKFLOWS if k.name in ctx.dispatcher.workflows)).example()
        example = PerLanguage(lambda lang: in_language((zh, en), lang))
        raise BadArguments(DecisionTexts.give_the_id.bind(example=example))
    return ref, handlers


@router.command(
    "approve",
    "批准",
    roles=DECIDERS,
    usage=DecisionTexts.approve_usage.pair,
    help=DecisionTexts.approve_help.pair,
)
def approve(ctx: Context, args: Args) -> None:
    ref, handlers = require_ref(ctx, args)
    handlers.approve(ctx, ref.number, args)


@router.command(
    "reject",
    "驳回",
    roles=DECIDERS,
    usage=DecisionTexts.reject_usage.pair,
    help=DecisionTexts.reject_help.pair,
)
def reject(ctx: Context, args: Args) -> None:
    ref, handlers = require_ref(ctx, args)
    reason = args.rest(1)
    if not reason and rejectable_step(ctx, handlers, ref).note_to_reject:
        ctx.ask(
            ctx.render(DecisionTexts.reason, ref=ref),
            expect="decisions.reason",
            state={"ref": str(ref)},
        )
        return
    handlers.reject(ctx, ref.number, args, reason)


@router.answer("decisions.reason")
def on_reason(ctx: Context, text: str, state: dict[str, Any]) -> None:
    """The reason for 驳回, as the decider's next message."""
    ref = parse_ref(str(state.get("ref", "")))
    handlers = ctx.dispatcher.workflows.get(ref.kind_name) if ref is not None else None
    if ref is None or handlers is None:
        return
    try:
        # Decided by someone else meanwhile, say: there is nothing left to give a reason for.
        rejectable_step(ctx, handlers, ref)
    except DomainError as e:
        ctx.reply(e.render(ctx.lang))
        return
    if not text:
        raise BadArguments(DecisionTexts.no_reason)
    handlers.reject(ctx, ref.number, Args.parse(f"{ref} {text}"), text)


def rejectable_step(ctx: Context, handlers: WorkflowHandlers, ref: Ref) -> Step:
    """The step the request waits at, if this decider may reject it now (reads only)."""
    kind, actor = handlers.kind, ctx.require_actor()
    request = requests.get(ctx.session, kind, ref.number)
    noun = PerLanguage(lambda lang: f"{in_language(kind.noun, lang)} {ref}")
    actor.require_class(request.class_id, noun("zh"), noun("en"))
    step = kind.step_at(request.status)
    if step is None:
        raise requests.not_pending(kind, str(ref), request.status, REJECT)
    if not requests.may_decide(ctx.session, step, actor, request.class_id):
        raise NotYourStep(
            ref=str(ref),
            who=step.who[0],
            who_en=step.who[1],
            **requests.state_params(kind, request.status),
        )
    return step


@router.command(
    "cancel",
    "撤销",
    roles=STUDENTS,
    aliases=("撤销申请",),
    usage=DecisionTexts.cancel_usage.pair,
    help=DecisionTexts.cancel_help.pair,
)
def cancel(ctx: Context, args: Args) -> None:
    ref, handlers = require_ref(ctx, args)
    handlers.cancel(ctx, ref.number)
