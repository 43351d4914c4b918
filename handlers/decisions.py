"""批准 / 驳回 / 撤销: the commands that take a typed id (L37 or S12) and act on either workflow."""

from __future__ import annotations

from bot.router import DECIDERS, STUDENTS, Args, CommandRouter, Context
from handlers.leave import cancel_leave, decide_leave
from handlers.subsidy import cancel_subsidy, decide_subsidy
from storage.errors import BadArguments
from storage.workflows import Ref, parse_ref

router = CommandRouter("decisions")


def require_ref(args: Args) -> Ref:
    ref = parse_ref(args.tokens[0]) if len(args) else None
    if ref is None:
        raise BadArguments(
            "请写上编号：请假如 L37，补助如 S12。",
            "Give the id: L37 for a leave, S12 for a subsidy application.",
        )
    return ref


@router.command(
    "approve",
    "批准",
    roles=DECIDERS,
    usage=(
        "批准 <编号> [金额]，例：批准 L37　或　批准 S12 500（补助可调低金额，仅私聊）",
        "/approve <id> [amount], e.g. /approve L37 or /approve S12 500 (may lower a subsidy)",
    ),
    help=("批准请假或补助申请", "approve a leave request or a subsidy step"),
)
def approve(ctx: Context, args: Args) -> None:
    ref = require_ref(args)
    if ref.kind == "S":
        decide_subsidy(ctx, ref.id, approve=True, args=args, reason=None)
        return
    if len(args) > 1:
        raise BadArguments("批准请假只需写编号。", "Approving a leave takes only its id.")
    decide_leave(ctx, ref.id, approve=True, note=None)


@router.command(
    "reject",
    "驳回",
    roles=DECIDERS,
    usage=(
        "驳回 <编号> <理由>，例：驳回 L37 请补充医院证明",
        "/reject <id> <reason>, e.g. /reject L37 please add a doctor's note",
    ),
    help=(
        "驳回请假或补助申请（需写理由）",
        "reject a leave request or a subsidy step (with a reason)",
    ),
)
def reject(ctx: Context, args: Args) -> None:
    ref = require_ref(args)
    reason = args.rest(1)
    if not reason:
        raise BadArguments(
            f"请写上驳回理由：驳回 {ref} <理由>",
            f"Please give a reason: /reject {ref} <reason>",
        )
    if ref.kind == "S":
        decide_subsidy(ctx, ref.id, approve=False, args=args, reason=reason)
    else:
        decide_leave(ctx, ref.id, approve=False, note=reason)


@router.command(
    "cancel",
    "撤销",
    roles=STUDENTS,
    aliases=("撤销申请",),
    usage=("撤销 <编号>，例：撤销 L37", "/cancel <id>, e.g. /cancel L37"),
    help=("撤回自己还在审批中的请假或补助申请", "withdraw your own request while it is pending"),
)
def cancel(ctx: Context, args: Args) -> None:
    ref = require_ref(args)
    if ref.kind == "S":
        cancel_subsidy(ctx, ref.id)
    else:
        cancel_leave(ctx, ref.id)
