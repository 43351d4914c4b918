"""汇总, 未打卡, 导出: the day's summary, the missing list and the ledger, in the asker's scope.

The same text builders serve the scheduled 11:00 and 12:00 deliveries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date

from sqlalchemy.orm import Session

from bot.dates import parse_day
from bot.messages import Attachment, OutgoingMessage, PersonAddress
from bot.router import STAFF, Args, CommandRouter, Context, Where
from storage import audit, ledger, reports
from storage.errors import BadArguments
from storage.identity import Actor
from storage.models import College, Role
from storage.workflows import WORKFLOWS

router = CommandRouter("reports")

MONITOR_AND_STAFF = STAFF | {Role.MONITOR}


def scope_of(actor: Actor) -> frozenset[int] | None:
    """The classes an actor reports on; None is the whole school."""
    return None if actor.all_classes else actor.class_ids


def ledger_scope(session: Session, actor: Actor) -> ledger.LedgerScope:
    if actor.all_classes:
        return ledger.SCHOOL
    if actor.role is Role.COLLEGE_ADMIN and actor.college_id is not None:
        college = session.get(College, actor.college_id)
        return ledger.LedgerScope(
            college.name if college else actor.name, actor.class_ids, include_restricted=True
        )
    if len(actor.class_ids) == 1:
        [cid] = actor.class_ids
        [(_, code, _)] = reports.classes_in_scope(session, [cid])
        return ledger.LedgerScope(code, actor.class_ids)
    return ledger.LedgerScope(actor.name, actor.class_ids)


def counts_text(
    c: reports.ClassSummary | reports.Totals, *, restricted: bool, ordinary_pending: bool = True
) -> str:
    """The counts of one class, one college or a total, in the order every summary uses.

    Pending requests of each registered kind follow; a restricted kind's (补助) only where
    `restricted`, the others only where `ordinary_pending`.
    """
    text = (
        f"应打卡 {c.roster}，已打卡 {c.checked_in}（迟交 {c.late}），未打卡 {c.missing}，"
        f"异常 {c.abnormal}，请假 {c.on_leave}"
    )
    for kind in WORKFLOWS:
        if restricted if kind.restricted else ordinary_pending:
            text += f"，待审批{kind.counted[0]} {c.pending.get(kind.name, 0)}"
    return text


def class_line(s: reports.ClassSummary, *, restricted: bool) -> str:
    return f"{s.code}：{counts_text(s, restricted=restricted)}"


def summary_text(
    title: str,
    summaries: Collection[reports.ClassSummary],
    *,
    restricted: bool,
    by_college: bool = False,
    pending: Collection[reports.PendingRequest] = (),
    unreachable: Collection[str] = (),
) -> str:
    """The roll-up text: one line per class (or per college), then the totals."""
    lines = [title]
    if not summaries:
        lines.append("（没有负责的班级）")
    if by_college:
        grouped: dict[str, list[reports.ClassSummary]] = defaultdict(list)
        for s in summaries:
            grouped[s.college].append(s)
        for college, items in grouped.items():
            t = reports.Totals.of(items)
            counts = counts_text(t, restricted=restricted, ordinary_pending=False)
            lines.append(f"{college}（{t.classes} 个班）：{counts}")
    else:
        lines += [class_line(s, restricted=restricted) for s in summaries]
    if len(summaries) > 1:
        t = reports.Totals.of(summaries)
        lines.append(f"合计：{t.classes} 个班，{counts_text(t, restricted=restricted)}")
    if pending:
        lines.append("超过一天未处理的申请：")
        lines += [
            f"• {p.ref}（{p.class_code} {p.student}，{p.created_at:%m-%d} 提交）" for p in pending
        ]
    if unreachable:
        lines.append("未能送达：")
        lines += [f"• {u}" for u in unreachable]
    return "\n".join(lines)


def missing_text(day: date, items: Collection[reports.ClassMissing]) -> str:
    lines = [f"⏰ {day:%m-%d} 未打卡名单"]
    for cm in items:
        lines.append(f"{cm.code}：未打卡 {len(cm.missing)} 人")
        if cm.missing:
            lines.append("  " + "、".join(f"{s.name}({s.number})" for s in cm.missing))
        if cm.on_leave:
            lines.append(
                f"  请假中 {len(cm.on_leave)} 人："
                + "、".join(f"{s.name}({s.number})" for s, _ in cm.on_leave)
            )
    return "\n".join(lines)


def _day(ctx: Context, args: Args) -> date:
    today = ctx.now.astimezone(ctx.config.tz).date()
    if len(args) == 0:
        return today
    day = parse_day(args.tokens[0], today) if len(args) == 1 else None
    if day is None:
        raise BadArguments(
            "日期看不懂，可以写 2026-11-23、11-23、11月23日、今天 或 昨天。",
            "Cannot read the date.",
        )
    return day


def _privately(ctx: Context, actor: Actor, message: OutgoingMessage) -> None:
    if ctx.message.is_group:
        ctx.send(PersonAddress(actor.person_id), message)
        ctx.reply(ctx.t("已私信发给你。", "Sent to you privately."))
    else:
        ctx.reply(message)


@router.command(
    "report",
    "汇总",
    roles=STAFF,
    usage=("汇总 [日期]，例：汇总　或　汇总 11-23", "/report [date], e.g. /report 11-23"),
    help=(
        "某天的打卡汇总（默认今天，私聊发送）",
        "the day's summary for your classes (sent privately)",
    ),
)
def report(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    day = _day(ctx, args)
    scope = scope_of(actor)
    items = reports.summaries(ctx.session, day, scope)
    restricted = actor.role in (Role.COLLEGE_ADMIN, Role.SCHOOL_ADMIN)
    text = summary_text(
        f"📊 {day:%Y-%m-%d} 打卡汇总", items, restricted=restricted, by_college=actor.all_classes
    )
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=actor,
        action="report",
        target="school" if scope is None else f"classes:{len(scope)}",
        detail={"date": day.isoformat(), "rows": len(items)},
    )
    _privately(ctx, actor, OutgoingMessage(text))


@router.command(
    "missing",
    "未打卡",
    roles=MONITOR_AND_STAFF,
    usage=("未打卡", "/missing"),
    help=("今天还没打卡的同学", "who has not checked in today"),
)
def missing(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if len(args) > 0:
        raise BadArguments("「未打卡」不带参数。", "/missing takes no arguments.")
    day = ctx.now.astimezone(ctx.config.tz).date()
    items = reports.missing(ctx.session, day, scope_of(actor))
    text = missing_text(day, items)
    if actor.role is Role.MONITOR:
        # A monitor chases their own class: the list (names only) may go to the group.
        ctx.reply(text)
    else:
        _privately(ctx, actor, OutgoingMessage(text))


@router.command(
    "export",
    "导出",
    roles=STAFF,
    where=Where.ANY,
    usage=("导出 [日期]，例：导出　或　导出 11-23", "/export [date], e.g. /export 11-23"),
    help=("某天的台账 .xlsx（私聊发送）", "the day's ledger .xlsx (sent privately)"),
)
def export(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    day = _day(ctx, args)
    scope = ledger_scope(ctx.session, actor)
    book = ledger.build(ctx.session, day, scope, ctx.config.tz)
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=actor,
        action="export",
        target=f"ledger:{scope.label}",
        detail={"date": day.isoformat(), "rows": book.rows, "sha256": book.sha256},
    )
    message = OutgoingMessage(
        ctx.t(
            "📎 {day} 台账（{label}）",
            "📎 Ledger {day} ({label})",
            day=f"{day:%Y-%m-%d}",
            label=scope.label,
        ),
        attachment=Attachment(book.filename, book.content),
    )
    _privately(ctx, actor, message)
