"""汇总, 未打卡, 导出: the day's summary, the missing list and the ledger, in the asker's scope.

Each takes a date and a class filter (`未打卡 护理172`, `汇总 医学院 11-23`), read in one order
(SPEC §9): a date, then an item id, then a class code or college name within the asker's
scope. A command about one class is refused in the group of another. The same text and chart
builders serve the scheduled 11:00 and 12:00 deliveries.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from bot.dates import day_label, try_parse_date
from bot.messages import Attachment, Mention, OutgoingMessage, PersonAddress
from bot.router import STAFF, Args, CommandRouter, Context, Where, normalize
from bot.texts import Catalogue, Text, in_language
from handlers import collect
from storage import audit, charts, ledger, reports
from storage.errors import BadArguments, ForeignGroup, OutOfScope
from storage.identity import Actor
from storage.models import College, Role, SchoolClass
from storage.workflows import WORKFLOWS

router = CommandRouter("reports")


class ReportsTexts(Catalogue):
    counts = Text(
        "应打卡 {roster}，已打卡 {checked_in}（迟交 {late}），未打卡 {missing}，异常 {abnormal}，请假 {on_leave}",
        "expected {roster}, checked in {checked_in} ({late} late), missing {missing}, "
        "abnormal {abnormal}, on leave {on_leave}",
    )
    pending = Text("，待审批{kind} {count}", ", pending {kind} {count}")
    class_line = Text("{code}：{counts}", "{code}: {counts}")
    no_classes = Text("（没有负责的班级）", "(no classes in your charge)")
    college_line = Text(
        "{college}（{classes} 个班）：{counts}", "{college} ({classes} classes): {counts}"
    )
    total = Text("合计：{classes} 个班，{counts}", "Total: {classes} classes, {counts}")
    overdue = Text("超过一天未处理的申请：", "Requests waiting for more than a day:")
    overdue_line = Text(
        "• {ref}（{class_code} {student}，{day} 提交）",
        "• {ref} ({class_code} {student}, sent {day})",
    )
    unreachable = Text("未能送达：", "Could not be delivered:")
    bullet = Text("• {item}", "• {item}")
    student = Text("{name}({number})", "{name} ({number})")
    student_phone = Text("{name}({number}，{phone})", "{name} ({number}, {phone})")
    separator = Text("、", ", ")
    missing_title = Text("⏰ {day} 未打卡名单", "⏰ Not checked in, {day}")
    missing_class = Text("{code}：未打卡 {count} 人", "{code}: {count} not checked in")
    missing_names = Text("  {names}", "  {names}")
    on_leave = Text("  请假中 {count} 人：{names}", "  On leave, {count}: {names}")
    all_done = Text("✓ {head}，{done}", "✓ {head}: {done}")
    reminder = Text(
        "⏰ {head}，还有 {count} 位同学未打卡，请尽快补打卡（打卡 体温）：",
        "⏰ {head}: {count} students have not checked in; please check in now (/checkin temperature):",
    )
    unbound = Text("\n未绑定的同学：{names}", "\nNot bound yet: {names}")
    chart_file = Text("统计图-{label}-{day}.png", "chart-{label}-{day}.png")
    chart_title = Text("{label} {day} 打卡统计", "{label} check-ins, {day}")
    chart_caption = Text(
        "📈 {label} 近 {days} 天打卡趋势", "📈 {label}: check-ins over {days} days"
    )
    one_date = Text("只能写一个日期。", "Give one date only.")
    no_item_ids = Text(
        "「{command}」不接编号（{token}）；要写日期或班级。",
        "{command} takes a date or a class, not an id ({token}).",
    )
    not_a_date_or_class = Text(
        "「{token}」不是日期，也不是班级或学院（日期例：{example}、今天、昨天）。",
        "{token!r} is neither a date nor a class or college (a date: {example}, today, yesterday).",
    )
    a_college = Text("学院 {label}", "{label}")
    a_class = Text("班级 {label}", "{label}")
    your_class = Text("你的班级", "your class")
    group_of = Text("本群是 {code} 的班级群", "This is the group of {code}")
    group_unbound = Text("本群没有绑定班级", "This group has no class")
    ask_privately = Text("请私聊我发送：{command}", "Message me privately: {command}")
    sent_privately = Text("已私信发给你。", "Sent to you privately.")
    report_title = Text("📊 {label}{day} 打卡汇总", "📊 {label}Check-ins, {day}")
    group_head = Text("{day} 打卡", "Check-ins {day}")
    class_all_done = Text("全班都已打卡，谢谢大家！", "everyone has checked in, thank you!")
    ledger = Text("📎 {day} 台账（{label}）", "📎 Ledger {day} ({label})")
    report_usage = Text(
        "汇总 [日期] [班级|学院] [图]，例：汇总　或　汇总 {day} {class_code}　或　汇总 图",
        "/report [date] [class|college] [chart], e.g. /report {day} {class_code}",
    )
    report_help = Text(
        "某天的打卡汇总（默认今天，私聊发送）；加「图」附近 14 天趋势图",
        "the day's summary for your classes (sent privately); add chart for the 14-day trend",
    )
    missing_usage = Text(
        "未打卡 [日期] [班级]，例：未打卡　或　未打卡 {class_code}",
        "/missing [date] [class], e.g. /missing {class_code}",
    )
    missing_help = Text(
        "还没打卡的同学（群里只显示人数并@提醒，名单私聊发送）",
        "who has not checked in (the group sees the count and mentions; the list goes privately)",
    )
    export_usage = Text(
        "导出 [日期] [班级|学院]，例：导出　或　导出 {day} {class_code}；信息收集：导出 C3",
        "/export [date] [class|college], e.g. /export {day} {class_code}; a collection: /export C3",
    )
    export_help = Text("某天的台账 .xlsx（私聊发送）", "the day's ledger .xlsx (sent privately)")


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
    c: reports.ClassSummary | reports.Totals,
    *,
    restricted: bool,
    ordinary_pending: bool = True,
    lang: str = "zh",
) -> str:
    """The counts of one class, one college or a total, in the order every summary uses.

    Pending requests of each registered kind follow; a restricted kind's (补助) only where
    `restricted`, the others only where `ordinary_pending`.
    """
    text = ReportsTexts.counts(
        lang,
        roster=c.roster,
        checked_in=c.checked_in,
        late=c.late,
        missing=c.missing,
        abnormal=c.abnormal,
        on_leave=c.on_leave,
    )
    for kind in WORKFLOWS:
        if restricted if kind.restricted else ordinary_pending:
            text += ReportsTexts.pending(
                lang, kind=in_language(kind.counted, lang), count=c.pending.get(kind.name, 0)
            )
    return text


def class_line(s: reports.ClassSummary, *, restricted: bool, lang: str = "zh") -> str:
    counts = counts_text(s, restricted=restricted, lang=lang)
    return ReportsTexts.class_line(lang, code=s.code, counts=counts)


def summary_text(
    title: str,
    summaries: Collection[reports.ClassSummary],
    *,
    restricted: bool,
    by_college: bool = False,
    pending: Collection[reports.PendingRequest] = (),
    unreachable: Collection[str] = (),
    lang: str = "zh",
) -> str:
    """The roll-up text: one line per class (or per college), then the totals."""
    T = ReportsTexts
    lines = [title]
    if not summaries:
        lines.append(T.no_classes(lang))
    if by_college:
        grouped: dict[str, list[reports.ClassSummary]] = defaultdict(list)
        for s in summaries:
            grouped[s.college].append(s)
        for college, items in grouped.items():
            t = reports.Totals.of(items)
            counts = counts_text(t, restricted=restricted, ordinary_pending=False, lang=lang)
            lines.append(T.college_line(lang, college=college, classes=t.classes, counts=counts))
    else:
        lines += [class_line(s, restricted=restricted, lang=lang) for s in summaries]
    if len(summaries) > 1:
        t = reports.Totals.of(summaries)
        counts = counts_text(t, restricted=restricted, lang=lang)
        lines.append(T.total(lang, classes=t.classes, counts=counts))
    if pending:
        lines.append(T.overdue(lang))
        lines += [
            T.overdue_line(
                lang,
                ref=p.ref,
                class_code=p.class_code,
                student=p.student,
                day=day_label(p.created_at.date(), lang),
            )
            for p in pending
        ]
    if unreachable:
        lines.append(T.unreachable(lang))
        lines += [T.bullet(lang, item=u) for u in unreachable]
    return "\n".join(lines)


def student_line(s: reports.Student, *, phones: bool, lang: str = "zh") -> str:
    """`张三(2020003)`, with the phone for staff: a counselor calls the last few at 11:00."""
    if phones and s.phone:
        return ReportsTexts.student_phone(lang, name=s.name, number=s.number, phone=s.phone)
    return ReportsTexts.student(lang, name=s.name, number=s.number)


def missing_text(
    day: date, items: Collection[reports.ClassMissing], *, phones: bool = False, lang: str = "zh"
) -> str:
    """The private missing list: names and 学号 (and phones, for staff only)."""
    T = ReportsTexts
    comma = T.separator(lang)
    lines = [T.missing_title(lang, day=day_label(day, lang))]
    for cm in items:
        lines.append(T.missing_class(lang, code=cm.code, count=len(cm.missing)))
        if cm.missing:
            names = comma.join(student_line(s, phones=phones, lang=lang) for s in cm.missing)
            lines.append(T.missing_names(lang, names=names))
        if cm.on_leave:
            names = comma.join(
                T.student(lang, name=s.name, number=s.number) for s, _ in cm.on_leave
            )
            lines.append(T.on_leave(lang, count=len(cm.on_leave), names=names))
    return "\n".join(lines)


def group_reminder(
    head: str,
    cm: reports.ClassMissing,
    accounts: Mapping[int, str],
    *,
    done: str,
    lang: str = "zh",
) -> OutgoingMessage:
    """What a class group sees of its missing list: the count and @-mentions, never a 学号.

    Students with no account on the group's platform are named instead.
    """
    if not cm.missing:
        return OutgoingMessage(ReportsTexts.all_done(lang, head=head, done=done))
    mentions = tuple(Mention(accounts[s.id], s.name) for s in cm.missing if s.id in accounts)
    unbound = [s.name for s in cm.missing if s.id not in accounts]
    text = ReportsTexts.reminder(lang, head=head, count=len(cm.missing))
    if unbound:
        text += ReportsTexts.unbound(lang, names=ReportsTexts.separator(lang).join(unbound))
    return OutgoingMessage(text, mentions=mentions)


# -- charts ------------------------------------------------------------------------------------


def chart_attachment(day: date, label: str, png: bytes, lang: str = "zh") -> Attachment:
    name = ReportsTexts.chart_file(lang, label=label, day=f"{day:%Y-%m-%d}")
    return Attachment(name, png, "image/png")


def chart_message(
    day: date,
    label: str,
    summaries: Sequence[reports.ClassSummary],
    counts: Mapping[tuple[int, date], reports.DayCounts],
    *,
    bars: bool,
    by_college: bool = False,
    lang: str = "zh",
) -> OutgoingMessage:
    """The chart of a roll-up: with completion bars (admins), or the trend alone."""
    trend = charts.trend_points(counts, summaries, day)
    title = ReportsTexts.chart_title(lang, label=label, day=day_label(day, lang))
    if bars:
        png = charts.rollup_png(
            title,
            charts.completion_bars(summaries, by_college=by_college),
            trend,
            by_college=by_college,
            lang=lang,
        )
    else:
        png = charts.trend_png(title, trend, lang)
    return OutgoingMessage(
        ReportsTexts.chart_caption(lang, label=label, days=len(trend)),
        attachment=chart_attachment(day, label, png, lang),
    )


# -- arguments ---------------------------------------------------------------------------------

# An item id (C3, N12, L5): read before class names, refused by these commands.
_ITEM_ID = re.compile(r"^[A-Za-z]\d+$")
CHART_WORDS = frozenset({"图", "图表", "chart"})


@dataclass(frozen=True)
class Query:
    """What a staff command asked about: a day, maybe some classes, maybe a chart."""

    day: date
    named: tuple[reports.Named, ...] = ()
    chart: bool = False

    def class_ids(self, actor: Actor) -> frozenset[int] | None:
        """The classes asked about; without a filter, the asker's whole scope."""
        if not self.named:
            return scope_of(actor)
        return frozenset().union(*(n.class_ids for n in self.named))

    @property
    def label(self) -> str | None:
        return "、".join(n.label for n in self.named) if self.named else None


def read_query(ctx: Context, args: Args, *, chart: bool = False) -> Query:
    """The arguments of 汇总, 未打卡 and 导出, in SPEC §9 order, checked against the asker's
    scope and against the group the command was sent in."""
    actor = ctx.require_actor()
    today = ctx.now.astimezone(ctx.config.tz).date()
    day: date | None = None
    named: list[reports.Named] = []
    wants_chart = False
    for token in args.tokens:
        found = try_parse_date(token, today)
        if found is not None:
            if day is not None:
                raise BadArguments(ReportsTexts.one_date)
            day = found
            continue
        plain = normalize(token)
        if _ITEM_ID.match(plain):
            raise BadArguments(
                ReportsTexts.no_item_ids, command=ctx.command.label(ctx.lang), token=plain
            )
        if chart and plain.lower() in CHART_WORDS:
            wants_chart = True
            continue
        hit = reports.find_classes(ctx.session, plain)
        if hit is None:
            raise BadArguments(
                ReportsTexts.not_a_date_or_class, token=token, example=bad_date_example(today)
            )
        if not actor.all_classes and not hit.class_ids <= actor.class_ids:
            what = ReportsTexts.a_college if hit.college else ReportsTexts.a_class
            raise OutOfScope(what=what.bind(label=hit.label))
        named.append(hit)
    query = Query(day or today, tuple(named), wants_chart)
    refuse_in_foreign_group(ctx, actor, query)
    return query


def bad_date_example(today: date) -> str:
    return f"{today.month}-{today.day}"


def refuse_in_foreign_group(ctx: Context, actor: Actor, query: Query) -> None:
    """A command about one class, in a group bound to another, is refused with a hint.

    A monitor speaks only about their own class, so only in their own class's group.
    """
    if not ctx.message.is_group:
        return
    group = ctx.group
    asked = query.class_ids(actor) if (query.named or actor.role is Role.MONITOR) else None
    if asked is None:
        return
    if group is not None and asked == {group.class_id}:
        return
    if group is None and actor.role.is_staff:
        # A group bound to no class: staff answers go privately, nothing is said there.
        return
    group_class = ctx.session.get(SchoolClass, group.class_id) if group else None
    what = query.label or ctx.render(ReportsTexts.your_class)
    command = f"{ctx.command.label(ctx.lang)} {query.label or ''}".rstrip()
    raise ForeignGroup(
        where=ReportsTexts.group_of.bind(code=group_class.code)
        if group_class
        else ReportsTexts.group_unbound.bind(),
        what=what,
        hint=ReportsTexts.ask_privately.bind(command=command),
    )


def _privately(ctx: Context, actor: Actor, *messages: OutgoingMessage) -> None:
    if ctx.message.is_group:
        for message in messages:
            ctx.send(PersonAddress(actor.person_id), message)
        ctx.reply(ctx.render(ReportsTexts.sent_privately))
    else:
        for message in messages:
            ctx.reply(message)


def _audit_target(query: Query, scope: frozenset[int] | None) -> str:
    if query.label:
        return f"filter:{query.label}"
    return "school" if scope is None else f"classes:{len(scope)}"


@router.command(
    "report",
    "汇总",
    roles=STAFF,
    aliases=("打卡汇总",),
    usage=ReportsTexts.report_usage.pair,
    help=ReportsTexts.report_help.pair,
)
def report(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    query = read_query(ctx, args, chart=True)
    day = query.day
    scope = query.class_ids(actor)
    items = reports.summaries(ctx.session, day, scope)
    restricted = actor.role in (Role.COLLEGE_ADMIN, Role.SCHOOL_ADMIN)
    by_college = scope is None
    title = ctx.render(
        ReportsTexts.report_title,
        label=query.label + " " if query.label else "",
        day=day_label(day, ctx.lang),
    )
    text = summary_text(title, items, restricted=restricted, by_college=by_college, lang=ctx.lang)
    messages = [OutgoingMessage(text)]
    if query.chart:
        counts = reports.daily_counts(
            ctx.session, day - timedelta(days=reports.TREND_DAYS - 1), day, scope
        )
        label = query.label or ledger_scope(ctx.session, actor).label
        messages.append(
            chart_message(
                day, label, items, counts, bars=restricted, by_college=by_college, lang=ctx.lang
            )
        )
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=actor,
        action="report",
        target=_audit_target(query, scope),
        detail={"date": day.isoformat(), "rows": len(items), "chart": query.chart},
    )
    _privately(ctx, actor, *messages)


@router.command(
    "missing",
    "未打卡",
    roles=MONITOR_AND_STAFF,
    aliases=("未打卡名单", "谁没打卡"),
    usage=ReportsTexts.missing_usage.pair,
    help=ReportsTexts.missing_help.pair,
)
def missing(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    query = read_query(ctx, args)
    scope = query.class_ids(actor)
    items = reports.missing(ctx.session, query.day, scope)
    staff = actor.role.is_staff
    text = missing_text(query.day, items, phones=staff, lang=ctx.lang)
    if staff or not ctx.message.is_group:
        _privately(ctx, actor, OutgoingMessage(text))
        return
    # A monitor in their own class group (refuse_in_foreign_group saw to that): the group
    # gets the count and the mentions, like the 11:00 reminder; the list goes privately.
    [cm] = items
    accounts = reports.accounts_on(ctx.session, ctx.message.platform, [s.id for s in cm.missing])
    ctx.reply(
        group_reminder(
            ctx.render(ReportsTexts.group_head, day=day_label(query.day, ctx.lang)),
            cm,
            accounts,
            done=ctx.render(ReportsTexts.class_all_done),
            lang=ctx.lang,
        )
    )
    ctx.send(PersonAddress(actor.person_id), text)


@router.command(
    "export",
    "导出",
    roles=STAFF,
    aliases=("导出台账",),
    where=Where.ANY,
    usage=ReportsTexts.export_usage.pair,
    help=ReportsTexts.export_help.pair,
)
def export(ctx: Context, args: Args) -> None:
    if collect.is_item(args):
        # 导出 C3: a collection's (or a notice's) answers instead of the day's ledger.
        collect.export_campaign(ctx, args)
        return
    actor = ctx.require_actor()
    query = read_query(ctx, args)
    day = query.day
    scope = ledger_scope(ctx.session, actor)
    if query.label:
        scope = ledger.LedgerScope(
            query.label, query.class_ids(actor), include_restricted=scope.include_restricted
        )
    book = ledger.build(ctx.session, day, scope, ctx.config.tz, lang=ctx.lang)
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=actor,
        action="export",
        target=f"ledger:{scope.label}",
        detail={"date": day.isoformat(), "rows": book.rows, "sha256": book.sha256},
    )
    message = OutgoingMessage(
        ctx.render(ReportsTexts.ledger, day=day_label(day, ctx.lang), label=scope.label),
        attachment=Attachment(book.filename, book.content),
    )
    _privately(ctx, actor, message)
