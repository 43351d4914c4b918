"""The daily jobs: 07:00 prompt, 11:00 deadline reminder, 12:00 roll-up (SPEC §5)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import at_local
from bot.config import Config, times_for
from bot.dates import day_label
from bot.messages import (
    Attachment,
    ChatAddress,
    Envelope,
    Mention,
    OutgoingMessage,
    PersonAddress,
)
from bot.texts import Catalogue, Text
from handlers.reports import ReportsTexts, chart_message, student_line, summary_text
from schedules import campaigns as campaign_rollup
from schedules.housekeeping import LEAVE_EXPIRY
from schedules.runner import Fixed, Job, Planned, Run, Slot, college_times
from storage import (
    campaigns,
    charts,
    deliveries,
    identity,
    ledger,
    matters,
    outbox,
    reports,
    retention,
)
from storage.db import with_retry
from storage.models import (
    College,
    GroupChat,
    Person,
    Role,
    SchoolClass,
    StaffAssignment,
)
from storage.outbox import Kind

CLASS_STAFF = (Role.COUNSELOR.value, Role.HEAD_TEACHER.value)


class DailyTexts(Catalogue):
    """The daily health check-in's jobs: the 07:00 prompt, the 11:00 deadline lists and the
    12:00 roll-up's own lines."""

    prompt = Text(
        "🌅 {day} 健康打卡开始了，请在 {deadline} 前完成。\n"
        "回复：打卡 体温（有症状请写上，如：打卡 体温 咳嗽；在外地请加 @城市）\n"
        "也可以用 /checkin。想私下提交的同学可以私聊我，效果一样。",
        "🌅 The health check-in for {day} is open: please check in before {deadline}.\n"
        "Reply: /checkin <temperature> (add any symptoms, e.g. /checkin 37.6 cough; away from "
        "campus, add @city)\nYou may also check in privately with me; it counts the same.",
    )
    closed = Text("{day} 打卡已截止", "The check-in for {day} is closed")
    group_missing = Text(
        "⏰ {head}，还有 {count} 位同学未打卡，请尽快补打卡（打卡 体温）：",
        "⏰ {head}: {count} have not checked in yet, please do it now (/checkin <temperature>):",
    )
    group_done = Text(
        "✓ {head}，全班都已打卡，谢谢大家！",
        "✓ {head}: everyone in the class checked in, thank you!",
    )
    unbound = Text("未绑定的同学：{names}", "Not bound yet: {names}")
    missing_head = Text("⏰ {day} 未打卡名单", "⏰ Not checked in on {day}")
    missing_class = Text("{code}：未打卡 {count} 人", "{code}: {count} not checked in")
    on_leave = Text("  请假中 {count} 人：{names}", "  On leave, {count}: {names}")
    open_head = Text("🌅 今天进行中的事项，请按时完成：", "🌅 Open today, please complete on time:")
    rollup_title = Text("📊 {day} 打卡汇总（{name}）", "📊 Check-ins, {day} ({name})")
    college_title = Text("📊 {college} {day} 汇总", "📊 {college}, {day}")
    school_title = Text("📊 全校 {day} 汇总", "📊 Whole school, {day}")
    school = Text("全校", "Whole school")
    new_bindings = Text("今日新绑定：{names}", "Bound today: {names}")
    bound_student = Text("{name}（{number}，{code}）", "{name} ({number}, {code})")
    unreachable = Text("{name}（{number}）：{job} — {why}", "{name} ({number}): {job} — {why}")
    job_deadline = Text("11:00 未打卡名单", "11:00 missing list")
    job_rollup = Text("12:00 汇总", "12:00 roll-up")
    job_weekly_attendance = Text("考勤周报", "weekly attendance report")
    job_alert = Text("提醒或审批通知", "an alert or a request to decide")
    health = Text(
        "📮 今日消息投递：已送达 {sent}，重试过 {retried}，过期未送出 {expired}，无法送达 {unreachable}",
        "📮 Messages today: delivered {sent}, retried {retried}, expired unsent {expired}, "
        "unreachable {unreachable}",
    )
    expired = Text(
        "平台故障，截止前未能送出（{reason}）",
        "platform outage, not sent before the deadline ({reason})",
    )
    refused = Text("无法私信（{reason}）", "cannot be messaged privately ({reason})")


def checkin_day(config: Config, day: date) -> bool:
    return config.checkin.enabled and day not in config.checkin.skip_dates


@dataclass(frozen=True)
class ClassInfo:
    id: int
    code: str
    college: str


def served_classes(session: Session, run: Run) -> dict[int, ClassInfo]:
    rows = session.execute(
        select(SchoolClass.id, SchoolClass.code, College.name).join(
            College, College.id == SchoolClass.college_id
        )
    )
    return {
        cid: ClassInfo(cid, code, college)
        for cid, code, college in rows
        if run.slot.serves(college)
    }


def bound_groups(session: Session, run: Run, classes: dict[int, ClassInfo]) -> list[GroupChat]:
    platforms = list(run.app.adapters)
    groups = session.scalars(
        select(GroupChat)
        .where(GroupChat.platform.in_(platforms))
        .order_by(GroupChat.platform, GroupChat.chat_id)
    )
    return [g for g in groups if g.class_id in classes]


def fixed(envelope: Envelope) -> Fixed:
    """A delivery whose message is already known when it is planned."""
    return Fixed([envelope])


def group_scope(g: GroupChat) -> str:
    return f"group:{g.platform}:{g.chat_id}"


def person_scope(person_id: int) -> str:
    return f"person:{person_id}"


def staff_of(
    session: Session, classes: dict[int, ClassInfo], roles: Iterable[str]
) -> dict[int, tuple[Person, list[int]]]:
    """Counselors / head teachers with their served classes, by person id."""
    out: dict[int, tuple[Person, list[int]]] = {}
    rows = session.execute(
        select(Person, StaffAssignment.class_id)
        .join(StaffAssignment, StaffAssignment.person_id == Person.id)
        .where(Person.role.in_(list(roles)), Person.active.is_(True))
        .order_by(Person.number, StaffAssignment.class_id)
    )
    for person, cid in rows:
        if cid in classes:
            out.setdefault(person.id, (person, []))[1].append(cid)
    return out


# -- 07:00 prompt ----------------------------------------------------------------------------


def prompt_text(config: Config, day: date, college: str) -> str:
    deadline = times_for(config.schedule, college).deadline
    assert deadline is not None
    lang = config.bot.language
    return DailyTexts.prompt(lang, day=day_label(day, lang), deadline=f"{deadline:%H:%M}")


def prompt_day(config: Config, day: date) -> bool:
    """The 07:00 job runs on check-in days, and every day when the check-in is off (it then
    posts the campaigns open that day)."""
    return checkin_day(config, day) or not config.checkin.enabled


def plan_prompt(run: Run) -> list[Planned]:
    if not run.config.checkin.enabled:
        return plan_open_campaigns(run)
    with run.app.uow(readonly=True) as session:
        classes = served_classes(session, run)
        groups = bound_groups(session, run, classes)
    planned = []
    for g in groups:
        text = prompt_text(run.config, run.day, classes[g.class_id].college)
        envelope = Envelope(ChatAddress(g.platform, g.chat_id, True), OutgoingMessage(text))
        planned.append(Planned(group_scope(g), fixed(envelope)))
    return planned


def plan_open_campaigns(run: Run) -> list[Planned]:
    """With the check-in off, 07:00 posts in each class group the campaigns open for it."""
    lang = run.config.bot.language
    planned = []
    with run.app.uow(readonly=True) as session:
        classes = served_classes(session, run)
        groups = bound_groups(session, run, classes)
        lines = campaign_rollup.open_lines(
            session, lang, run.config, run.app.dispatcher.campaign_kinds
        )
    for g in groups:
        mine = [text for cids, text in lines if cids is None or g.class_id in cids]
        if mine:
            message = OutgoingMessage(DailyTexts.open_head(lang) + "\n" + "\n".join(mine))
            envelope = Envelope(ChatAddress(g.platform, g.chat_id, True), message)
            planned.append(Planned(group_scope(g), fixed(envelope)))
    return planned


# -- 11:00 deadline reminder -----------------------------------------------------------------


def plan_deadline(run: Run) -> list[Planned]:
    app = run.app
    with app.uow(readonly=True) as session:
        classes = served_classes(session, run)
        groups = bound_groups(session, run, classes)
        missing = {cm.class_id: cm for cm in health_missing(session, run, list(classes))}
        student_ids = [s.id for cm in missing.values() for s in cm.missing]
        accounts = {
            platform: reports.accounts_on(session, platform, student_ids)
            for platform in {g.platform for g in groups}
        }
        staff = staff_of(session, classes, CLASS_STAFF)
    lang = run.config.bot.language
    head = DailyTexts.closed(lang, day=day_label(run.day, lang))
    planned = []
    for g in groups:
        message = health_group_reminder(lang, head, missing[g.class_id], accounts[g.platform])
        envelope = Envelope(ChatAddress(g.platform, g.chat_id, True), message)
        planned.append(Planned(group_scope(g), fixed(envelope)))
    for pid, (_person, cids) in staff.items():
        text = health_missing_text(lang, run.day, [missing[c] for c in cids])
        envelope = Envelope(PersonAddress(pid), OutgoingMessage(text))
        planned.append(Planned(person_scope(pid), fixed(envelope)))
    return planned


def health_missing(session: Session, run: Run, class_ids: list[int]) -> list[reports.ClassMissing]:
    """Who has not checked in, per class: the campaign engine's non-responders of the
    built-in health campaign, with students on approved leave set apart."""
    tz = run.config.tz
    deadline = at_local(run.day, run.config.schedule.deadline, tz)
    health = campaigns.health_instance(run.day, deadline, tz)
    leave = reports.on_leave(session, run.day, class_ids)
    out = []
    for cm in campaigns.non_responders(session, health, run.day.isoformat(), class_ids):
        found = reports.ClassMissing(cm.class_id, cm.code)
        for m in cm.missing:
            student = reports.Student(m.id, m.number, m.name, m.class_id, m.phone)
            if m.id in leave:
                found.on_leave.append((student, leave[m.id]))
            else:
                found.missing.append(student)
        out.append(found)
    return out


def health_group_reminder(
    lang: str, head: str, cm: reports.ClassMissing, accounts: Mapping[int, str]
) -> OutgoingMessage:
    """What a class group sees of its missing list: the count and @-mentions, never a 学号.
    Students with no account on the group's platform are named instead."""
    if not cm.missing:
        return OutgoingMessage(DailyTexts.group_done(lang, head=head))
    mentions = tuple(Mention(accounts[s.id], s.name) for s in cm.missing if s.id in accounts)
    unbound = [s.name for s in cm.missing if s.id not in accounts]
    text = DailyTexts.group_missing(lang, head=head, count=len(cm.missing))
    if unbound:
        text += "\n" + DailyTexts.unbound(lang, names=ReportsTexts.separator(lang).join(unbound))
    return OutgoingMessage(text, mentions=mentions)


def health_missing_text(lang: str, day: date, items: Collection[reports.ClassMissing]) -> str:
    """The class staff's private list: names, 学号 and phones."""
    lines = [DailyTexts.missing_head(lang, day=day_label(day, lang))]
    comma = ReportsTexts.separator(lang)
    for cm in items:
        lines.append(DailyTexts.missing_class(lang, code=cm.code, count=len(cm.missing)))
        if cm.missing:
            lines.append(
                "  " + comma.join(student_line(s, phones=True, lang=lang) for s in cm.missing)
            )
        if cm.on_leave:
            names = comma.join(
                ReportsTexts.student(lang, name=s.name, number=s.number) for s, _ in cm.on_leave
            )
            lines.append(DailyTexts.on_leave(lang, count=len(cm.on_leave), names=names))
    return "\n".join(lines)


# -- 12:00 roll-up ---------------------------------------------------------------------------


class RollupReads:
    """The day's numbers for one roll-up run, read once at its first delivery.

    Every summary and ledger of the run then shows the same moment, and the per-class work
    (counts, pending requests, the 打卡 rows) is done once instead of once per counselor,
    college and school (400 + 30 + 1 deliveries at 67,000 students).
    """

    def __init__(
        self,
        day: date,
        tz: ZoneInfo,
        class_ids: frozenset[int] | None,
        older_than: datetime,
        *,
        lang: str = "zh",
    ) -> None:
        self.day = day
        self.lang = lang
        self.tz = tz
        self.class_ids = class_ids
        self.older_than = older_than
        self._summaries: list[reports.ClassSummary] | None = None
        self._pending: list[reports.PendingRequest] | None = None
        self._rows: dict[int, list[ledger.Row]] | None = None
        self._counts: dict[tuple[int, date], reports.DayCounts] | None = None

    def summaries(
        self, session: Session, ids: Collection[int] | None
    ) -> list[reports.ClassSummary]:
        if self._summaries is None:
            self._summaries = reports.summaries(session, self.day, self.class_ids)
        return [s for s in self._summaries if ids is None or s.class_id in ids]

    def pending(
        self, session: Session, ids: Collection[int], *, include_restricted: bool = True
    ) -> list[reports.PendingRequest]:
        if self._pending is None:
            self._pending = reports.pending_requests(
                session, self.class_ids, self.older_than, tz=self.tz
            )
        codes = {s.code for s in self.summaries(session, ids)}
        return [
            p
            for p in self._pending
            if p.class_code in codes and (include_restricted or not p.restricted)
        ]

    def counts(self, session: Session) -> dict[tuple[int, date], reports.DayCounts]:
        """Check-ins per class and day over the trend's days, for every chart of the run."""
        if self._counts is None:
            first = self.day - timedelta(days=reports.TREND_DAYS - 1)
            self._counts = reports.daily_counts(session, first, self.day, self.class_ids)
        return self._counts

    def chart(self, session: Session, ids: Collection[int] | None) -> charts.ChartData:
        return charts.chart_data(
            self.summaries(session, ids), self.counts(session), self.day, by_college=ids is None
        )

    def ledger(self, session: Session, scope: ledger.LedgerScope) -> ledger.Ledger:
        if self._rows is None:
            self._rows = ledger.class_rows(session, self.day, self.tz, self.class_ids, self.lang)
        return ledger.build(
            session,
            self.day,
            scope,
            self.tz,
            rows_by_class=self._rows,
            chart=self.chart(session, scope.class_ids),
            lang=self.lang,
        )

    def chart_envelope(
        self, session: Session, pid: int, label: str, ids: Collection[int] | None
    ) -> Envelope:
        """The admins' PNG: completion by class (by college for the school) and the trend."""
        message = chart_message(
            self.day,
            label,
            self.summaries(session, ids),
            self.counts(session),
            bars=True,
            by_college=ids is None,
            lang=self.lang,
        )
        return Envelope(PersonAddress(pid), message)


def plan_campaigns_only(run: Run) -> list[Planned]:
    """The 12:00 roll-up with the health check-in off: each class's staff, college admin and
    school admin get the progress of the campaigns open that day, if there are any."""
    app = run.app
    now = app.clock.now()
    lang = run.config.bot.language
    with app.uow(readonly=True) as session:
        classes = served_classes(session, run)
        readers: dict[int, frozenset[int] | None] = {
            pid: frozenset(cids)
            for pid, (_p, cids) in staff_of(session, classes, CLASS_STAFF).items()
        }
        for cid, college in {(c.id, c.college) for c in classes.values()}:
            row = session.scalar(select(College).where(College.name == college))
            for admin in identity.college_admins(session, row.id) if row is not None else []:
                held = readers.get(admin.id) or frozenset()
                readers[admin.id] = frozenset({*held, cid})
        if run.slot.school:
            for admin in session.scalars(
                select(Person).where(
                    Person.role == Role.SCHOOL_ADMIN.value, Person.active.is_(True)
                )
            ):
                readers[admin.id] = None
        planned = []
        for pid, ids in readers.items():
            text = campaign_rollup.rollup_section(
                session, lang, ids, now, run.config, run.app.dispatcher.campaign_kinds
            ).strip()
            if text:
                envelope = Envelope(PersonAddress(pid), OutgoingMessage(text))
                planned.append(Planned(person_scope(pid), fixed(envelope)))
    return planned


def plan_rollup(run: Run) -> list[Planned]:
    if not run.config.checkin.enabled:
        return plan_campaigns_only(run)
    app = run.app
    tz = run.config.tz
    day = run.day
    older_than = (
        datetime.combine(day, datetime.min.time(), tzinfo=tz)
        + timedelta(hours=12)
        - timedelta(days=1)
    )
    with app.uow(readonly=True) as session:
        classes = served_classes(session, run)
        staff = staff_of(session, classes, CLASS_STAFF)
        colleges = sorted({c.college for c in classes.values()})
        college_rows = {
            c.name: c for c in session.scalars(select(College).where(College.name.in_(colleges)))
        }
        admins = {
            name: identity.college_admins(session, college_rows[name].id) for name in colleges
        }
        school_admins = (
            list(
                session.scalars(
                    select(Person)
                    .where(Person.role == Role.SCHOOL_ADMIN.value, Person.active.is_(True))
                    .order_by(Person.number)
                )
            )
            if run.slot.school
            else []
        )
    lang = run.config.bot.language
    reads = RollupReads(
        day, tz, None if run.slot.school else frozenset(classes), older_than, lang=lang
    )
    planned: list[Planned] = []

    def envelope(pid: int, text: str, book: ledger.Ledger) -> list[Envelope]:
        return [
            Envelope(
                PersonAddress(pid),
                OutgoingMessage(text, attachment=Attachment(book.filename, book.content)),
            )
        ]

    # Class staff first: who could not be reached is then known to the college's roll-up.
    for pid, (person, cids) in staff.items():

        def build(
            session: Session, pid: int = pid, person: Person = person, cids: list[int] = cids
        ) -> list[Envelope]:
            items = reads.summaries(session, cids)
            is_counselor = person.role == Role.COUNSELOR.value
            pending = reads.pending(session, cids, include_restricted=is_counselor)
            text = summary_text(
                DailyTexts.rollup_title(lang, day=day_label(day, lang), name=person.name),
                items,
                restricted=False,
                pending=pending,
                lang=lang,
            )
            if is_counselor:
                text += "\n" + matters.week_line(session, cids, day, tz, lang)
                text += new_bindings_text(
                    identity.new_student_bindings(
                        session, cids, older_than, older_than + timedelta(days=1)
                    ),
                    lang,
                )
            text += campaign_rollup.rollup_section(
                session,
                lang,
                cids,
                app.clock.now(),
                run.config,
                app.dispatcher.campaign_kinds,
            )
            label = classes[cids[0]].code if len(cids) == 1 else person.name
            book = reads.ledger(session, ledger.LedgerScope(label, frozenset(cids)))
            return envelope(pid, text, book)

        planned.append(Planned(person_scope(pid), build))

    for name in colleges:
        college_ids = frozenset(cid for cid, c in classes.items() if c.college == name)
        for admin in admins[name]:

            def build_college(
                session: Session,
                admin: Person = admin,
                name: str = name,
                ids: frozenset[int] = college_ids,
            ) -> list[Envelope]:
                items = reads.summaries(session, ids)
                pending = reads.pending(session, ids)
                text = summary_text(
                    DailyTexts.college_title(lang, college=name, day=day_label(day, lang)),
                    items,
                    restricted=True,
                    pending=pending,
                    unreachable=_unreachable(session, day, ids, tz, lang=lang),
                    lang=lang,
                )
                text += campaign_rollup.rollup_section(
                    session,
                    lang,
                    ids,
                    app.clock.now(),
                    run.config,
                    app.dispatcher.campaign_kinds,
                )
                text += "\n" + matters.week_line(session, ids, day, tz, lang)
                book = reads.ledger(session, ledger.LedgerScope(name, ids, include_restricted=True))
                return [
                    *envelope(admin.id, text, book),
                    reads.chart_envelope(session, admin.id, name, ids),
                ]

            planned.append(Planned(person_scope(admin.id), build_college))

    for admin in school_admins:

        def build_school(session: Session, admin: Person = admin) -> list[Envelope]:
            items = reads.summaries(session, None)
            text = summary_text(
                DailyTexts.school_title(lang, day=day_label(day, lang)),
                items,
                restricted=True,
                by_college=True,
                unreachable=_unreachable(
                    session, day, None, tz, roles=(Role.COLLEGE_ADMIN.value,), lang=lang
                ),
                lang=lang,
            )
            text += "\n" + matters.week_line(session, None, day, tz, lang)
            start = datetime.combine(day, time(0), tzinfo=tz)
            text += "\n" + health_line(
                outbox.health(session, start, start + timedelta(days=1)), lang
            )
            text += campaign_rollup.rollup_section(
                session,
                lang,
                None,
                app.clock.now(),
                run.config,
                app.dispatcher.campaign_kinds,
            )
            book = reads.ledger(session, ledger.SCHOOL)
            return [
                *envelope(admin.id, text, book),
                reads.chart_envelope(session, admin.id, DailyTexts.school(lang), None),
            ]

        planned.append(Planned(person_scope(admin.id), build_school))
    return planned


def new_bindings_text(bound: list[tuple[str, str, str]], lang: str = "zh") -> str:
    """今日新绑定: students who bound an account since the last roll-up, for their counselor
    to spot a binding that is not the student's own."""
    if not bound:
        return ""
    names = ReportsTexts.separator(lang).join(
        DailyTexts.bound_student(lang, name=name, number=number, code=code)
        for code, number, name in bound
    )
    return "\n" + DailyTexts.new_bindings(lang, names=names)


# The jobs an unreachable line names, by the delivery log's job name.
JOB_LABELS = {
    "deadline": DailyTexts.job_deadline,
    "rollup": DailyTexts.job_rollup,
    "weekly_attendance": DailyTexts.job_weekly_attendance,
    "alert": DailyTexts.job_alert,
}


def _unreachable(
    session: Session,
    day: date,
    class_ids: frozenset[int] | None,
    tz: ZoneInfo,
    roles: Iterable[str] = CLASS_STAFF,
    lang: str = "zh",
) -> list[str]:
    """Staff whose deliveries today reached nobody: the next level up is told."""
    found = deliveries.unreachable_people(session, day)
    start = datetime.combine(day, time(0), tzinfo=tz)
    # Alerts (an abnormal check-in, a request to decide) that reached none of a person's
    # accounts are named too: the next level up has to know.
    found += [
        ("alert", pid, status, reason)
        for pid, status, reason in outbox.failed_alerts(session, start, start + timedelta(days=1))
    ]
    if not found:
        return []
    ids = {pid for _, pid, _, _ in found}
    people = {
        p.id: p
        for p in session.scalars(
            select(Person).where(Person.id.in_(ids), Person.role.in_(list(roles)))
        )
    }
    if class_ids is not None:
        assigned = defaultdict(set)
        for pid, cid in session.execute(
            select(StaffAssignment.person_id, StaffAssignment.class_id).where(
                StaffAssignment.person_id.in_(list(people))
            )
        ):
            assigned[pid].add(cid)
        people = {pid: p for pid, p in people.items() if assigned[pid] & class_ids}
    out = []
    for job, pid, status, reason in sorted(found, key=lambda f: (f[1], f[0])):
        if pid in people:
            label = JOB_LABELS[job](lang) if job in JOB_LABELS else job
            out.append(
                DailyTexts.unreachable(
                    lang,
                    name=people[pid].name,
                    number=people[pid].number,
                    job=label,
                    why=failure_text(status, reason, lang),
                )
            )
    return out


def health_line(h: outbox.Health, lang: str = "zh") -> str:
    """The school admin's one line on how the bot's messages fared today."""
    return DailyTexts.health(
        lang, sent=h.sent, retried=h.retried, expired=h.expired, unreachable=h.unreachable
    )


def failure_text(status: str, reason: str, lang: str = "zh") -> str:
    """Why a message reached nobody, said truthfully: refused for good, or an outage."""
    if status == deliveries.Status.EXPIRED.value:
        return DailyTexts.expired(lang, reason=reason)
    return DailyTexts.refused(lang, reason=reason)


# -- 04:00 purge ----------------------------------------------------------------------------


def plan_purge(run: Run) -> list[Planned]:
    """One housekeeping run a day: it sends nothing, the delivery log keeps it to once."""
    app = run.app

    def build(_session: Session) -> list[Envelope]:
        def work() -> None:
            with app.uow() as session:
                retention.housekeeping(
                    session,
                    now=app.clock.now(),
                    tz=app.config.tz,
                    retention_days=app.config.privacy.retention_days,
                    subsidy_retention_days=app.config.privacy.subsidy_retention_days,
                    care_retention_days=app.config.care.retention_days,
                )
                # Each feature's own rule (a campaign kind's responses past its retention).
                for rule in app.retention_rules:
                    rule(session, app.clock.now())

        with_retry(work)
        return []

    return [Planned("school", build)]


def purge_times(config: Config) -> dict[time, Slot]:
    # By default with the morning prompt: a bot switched off at night would miss 04:00 (past
    # the grace) every day and never purge.
    return {config.privacy.purge_time or config.schedule.prompt: Slot(school=True)}


PROMPT = Job("prompt", college_times("prompt"), plan_prompt, runs_on=prompt_day)
DEADLINE = Job("deadline", college_times("deadline"), plan_deadline, runs_on=checkin_day)
ROLLUP = Job("rollup", college_times("rollup"), plan_rollup, kind=Kind.ROLLUP)

PURGE = Job("purge", purge_times, plan_purge)

DAILY_JOBS = (LEAVE_EXPIRY, PROMPT, DEADLINE, ROLLUP, PURGE)
