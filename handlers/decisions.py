"""批准 / 驳回 / 撤销: the commands that take a typed id (L37, S12…) and act on the request of
whichever registered kind it names. Each kind's feature says what the decision means
(`router.WorkflowHandlers`), wired in bot/app.py."""

from __future__ import annotations

from bot.router import DECIDERS, STUDENTS, Args, CommandRouter, Context, WorkflowHandlers
from storage.errors import BadArguments
from storage.leave import LEAVE
from storage.requests import Ref, Workflows, parse_ref
from storage.subsidy import SUBSIDY
from storage.workflows import WORKFLOWS

router = CommandRouter("decisions")

_L, _S = LEAVE.ref(37), SUBSIDY.ref(12)


def require_ref(ctx: Context, args: Args) -> tuple[Ref, WorkflowHandlers]:
    ref = parse_ref(args.tokens[0]) if len(args) else None
    handlers = ctx.dispatcher.workflows.get(ref.kind_name) if ref is not None else None
    if ref is None or handlers is None:
        # The kinds that are decided by 批准 / 驳回 / 撤销.
        zh, en = Workflows(*(k for k in WORKFLOWS if k.name in ctx.dispatcher.workflows)).example()
        raise BadArguments(f"请写上编号：{zh}。", f"Give the id: {en}.")
    return ref, handlers


@router.command(
    "approve",
    "批准",
    roles=DECIDERS,
    usage=(
        f"批准 <编号> [金额]，例：批准 {_L}　或　批准 {_S} 500（补助可调低金额，仅私聊）",
        f"/approve <id> [amount], e.g. /approve {_L} or /approve {_S} 500 (may lower a subsidy)",
    ),
    help=("批准请假或补助申请", "approve a leave request or a subsidy step"),
)
def approve(ctx: Context, args: Args) -> None:
    ref, handlers = require_ref(ctx, args)
    handlers.approve(ctx, ref.number, args)


@router.command(
    "reject",
    "驳回",
    roles=DECIDERS,
    usage=(
        f"驳回 <编号> <理由>，例：驳回 {_L} 请补充医院证明",
        f"/reject <id> <reason>, e.g. /reject {_L} please add a doctor's note",
    ),
    help=(
        "驳回请假或补助申请（需写理由）",
        "reject a leave request or a subsidy step (with a reason)",
    ),
)
def reject(ctx: Context, args: Args) -> None:
    ref, handlers = require_ref(ctx, args)
    reason = args.rest(1)
    if not reason:
        raise BadArguments(
            f"请写上驳回理由：驳回 {ref} <理由>",
            f"Please give a reason: /reject {ref} <reason>",
        )
    handlers.reject(ctx, ref.number, args, reason)


@router.command(
    "cancel",
    "撤销",
    roles=STUDENTS,
    aliases=("撤销申请",),
    usage=(f"撤销 <编号>，例：撤销 {_L}", f"/cancel <id>, e.g. /cancel {_L}"),
    help=("撤回自己还在审批中的请假或补助申请", "withdraw your own request while it is pending"),
)
def cancel(ctx: Context, args: Args) -> None:
    ref, handlers = require_ref(ctx, args)
    handlers.cancel(ctx, ref.number)
