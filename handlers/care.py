"""心理预警, 心理委员 reports and the care consents.

`心理预警 <学号|姓名> <情况>`: anyone, in private chat; it goes at once and privately to
the student's counselors and the college's mental-health contacts, and to nobody else:
never a group, never the ordinary ledgers, never the student concerned. The reporter gets
a confirmation without the content. `预警记录` lets the designated readers read them, each
read audited; a school admin sees counts only. `心理周报` is a 心理委员's weekly (or
monthly) report, 无异常 allowed: a response to the period's psych campaign (storage/care.py),
reminded privately by the campaign engine.
"""

from __future__ import annotations

from datetime import time

from bot.config import Config
from bot.router import (
    ALL_ROLES,
    STAFF,
    STUDENTS,
    Args,
    CommandRouter,
    Context,
    Feature,
    Where,
    normalize,
)
from bot.texts import Catalogue, Text
from schedules.runner import Job, Planned, Run, Slot
from storage import care, care_access, identity, requests
from storage.db import with_retry
from storage.errors import BadArguments
from storage.identity import Actor
from storage.models import Person, Role, SchoolClass


class CareTexts(Catalogue):
    """心理预警, 心理委员 reports and the separate consents: private only, content to the
    designated readers alone."""

    alert_usage = Text(
        "心理预警 <学号|姓名> <情况>，例：心理预警 2020005 最近几天情绪很低落",
        "/alert <student id|name> <what you saw>",
    )
    alert_help = Text(
        "私下报告同学的心理危机，只有辅导员和心理健康联络人能看到",
        "report an urgent mental-health concern, read only by the designated staff",
    )
    alerts_usage = Text("预警记录", "/alerts")
    alerts_help = Text(
        "查看你可以看到的心理预警（每次查看都有记录）",
        "read the mental-health alerts you may read (audited)",
    )
    refer_usage = Text("转介 #<预警编号> <工号>，例：转介 #1 T005", "/refer #<alert> <staff id>")
    refer_help = Text(
        "把心理预警转介给另一位老师跟进", "refer a mental-health alert to another staff member"
    )
    psych_usage = Text(
        "心理周报 无异常　或　心理周报 <情况>", "/psych none or /psych <what you saw>"
    )
    psych_help = Text(
        "心理委员提交本周（本月）心理情况报告",
        "a class mental-health rep's report for the week (month)",
    )
    what_seen = Text("情况", "The description")
    the_report = Text("情况", "The report")
    # The word a consent is given with (同意 家长), as the student types it.
    word_parents = Text("家长", "parents")
    word_care = Text("关怀", "care")

    alert = Text(
        "🆘 心理预警 #{id}：{student}\n情况：{body}\n报告人：{reporter}\n请尽快私下跟进。本消息仅发给该生的辅导员和学院心理健康联络人，请勿转发。",
        "🆘 Mental-health alert #{id}: {student}\nWhat was seen: {body}\nReported by: {reporter}\nPlease follow up privately. Sent only to the student's counselors and the college's mental-health contacts; do not forward.",
    )
    alert_received = Text(
        "✓ 已收到，已私下转给该同学的辅导员和学院心理健康联络人（{count} 位）。谢谢你的关心，内容不会出现在任何群里，也不会告诉这位同学。",
        "✓ Received and passed privately to the student's counselors and the college's mental-health contacts ({count}). Thank you; it never appears in a group and the student is not told.",
    )
    alert_unrouted = Text(
        "⚠️ 一条心理预警（#{id}）找不到可以接收的辅导员或心理健康联络人。内容不在此转发，请尽快为{cls}登记辅导员或在配置中登记学院心理健康联络人。",
        "⚠️ A mental-health alert (#{id}) found no counselor or mental-health contact to receive it. Its content is not forwarded here; please assign a counselor to {cls} or configure the college's mental-health contact.",
    )
    alert_not_kept = Text(
        "（本校按同意处理关怀记录，这位同学未同意，预警已送达但不保存。）",
        "(This school keeps care records by consent and this student has not agreed: the alert was delivered but is not kept.)",
    )
    need_alert = Text(
        "请写上同学的学号或姓名，以及情况。", "Give the student's id or name and what you saw."
    )
    alerts_header = Text(
        "心理预警（最近 {count} 条，每次查看都有记录）：",
        "Mental-health alerts (latest {count}; every read is logged):",
    )
    alerts_line = Text(
        "#{id} {when} {student}：{body}（报告人 {reporter}）",
        "#{id} {when} {student}: {body} (reported by {reporter})",
    )
    alerts_empty = Text("没有你可以查看的心理预警。", "No mental-health alerts for you to read.")
    alerts_counts = Text(
        "心理预警数量（学工部只看数量）：{counts}",
        "Mental-health alerts (counts only for the school office): {counts}",
    )
    alerts_none = Text("无", "none")
    report_saved = Text(
        "✓ 已收到{period}心理周报：{what}。",
        "✓ Mental-health report for {period} received: {what}.",
    )
    report_replaced = Text(
        "✓ 已更新{period}心理周报：{what}。",
        "✓ Mental-health report for {period} updated: {what}.",
    )
    report_none = Text("本周无异常", "nothing unusual")
    report_abnormal = Text(
        "有异常，已私下转给辅导员和心理健康联络人",
        "something to report, passed privately to the counselors and mental-health contacts",
    )
    report_to_readers = Text(
        "📝 {cls} 心理委员 {reporter} 的{period}报告：有异常\n情况：{body}",
        "📝 {cls} mental-health rep {reporter}, report for {period}: something to report\n{body}",
    )
    need_report = Text(
        "请写「无异常」，或写上情况。",
        "Send /psych none (nothing unusual), or describe what you saw.",
    )
    consent_given = Text(
        "✓ 已记录你的单独同意：{purpose}。随时可发送「撤回同意 {word}」。",
        "✓ Your separate consent is recorded: {purpose}. Send /withdraw {word} at any time.",
    )
    consent_already = Text("你已经同意过：{purpose}。", "You have already agreed: {purpose}.")
    consent_withdrawn = Text("✓ 已撤回：{purpose}。", "✓ Withdrawn: {purpose}.")
    consent_missing = Text("你没有这项同意，无需撤回。", "You have no such consent on record.")
    purpose_care = Text(
        "学校记录你的关怀信息（谈心、预警、帮扶）",
        "the school keeps care records about you (talks, alerts, support)",
    )
    purpose_parents = Text(
        "学校可以和你的家长沟通你的情况", "the school may share your situation with your parents"
    )
    period_week = Text("本周", "this week")
    period_month = Text("本月", "this month")
    referred = Text(
        "✓ 心理预警 #{id} 已转介给 {name}（{number}），对方现在可以查看。",
        "✓ Alert #{id} referred to {name} ({number}), who may now read it.",
    )
    referred_to_you = Text(
        "🆘 {by} 把心理预警 #{id} 转介给你跟进：{student}\n情况：{body}\n请勿转发。",
        "🆘 {by} referred mental-health alert #{id} to you: {student}\n{body}\nDo not forward.",
    )
    need_referral = Text(
        "请写上预警编号和老师工号，例如 #1 T005。",
        "Give the alert number and a staff id, e.g. #1 T005.",
    )


T = CareTexts

router = CommandRouter("care")

# Sent with every care message: undeliverable, it goes one level up without its content.
CARE_TAGS = ("care",)


def contacts(config: Config) -> dict[str, list[str]]:
    return config.care.mental_health_contacts


def student_label(ctx: Context, student: Person) -> str:
    cls = ctx.session.get(SchoolClass, student.class_id) if student.class_id else None
    return f"{student.name}（{student.number}，{cls.code if cls else '?'}）"


@router.command(
    "alert",
    "心理预警",
    roles=ALL_ROLES,
    where=Where.PRIVATE,
    usage=T.alert_usage.pair,
    help=T.alert_help.pair,
)
def alert(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    body = args.rest(1)
    if len(args) < 2 or not body:
        raise BadArguments(T.need_alert("zh"), T.need_alert("en"))
    body = requests.check_text(body, *T.what_seen.pair)
    student = care.find_student(ctx.session, args.tokens[0])
    readers = care_access.care_readers(ctx.session, student.id, contacts=contacts(ctx.config))
    readers = [p for p in readers if p.id != student.id]
    kept = care.may_record(ctx.session, student.id, ctx.config.privacy.care_basis)
    if kept:
        record = care.raise_alert(ctx.session, actor, student, body, ctx.now)
        alert_id = record.id
    else:
        # Under a consent basis without the student's consent: delivered (an emergency for
        # life and health, PIPL Art. 13(4)) but not kept; the audit log says it happened.
        alert_id = 0
        care.audit_unkept_alert(ctx.session, actor, student, ctx.now)
    reply = ctx.render(T.alert_received, count=len(readers))
    if not kept:
        reply += "\n" + ctx.render(T.alert_not_kept)
    ctx.reply(reply)
    reporter = f"{actor.name}（{actor.number}）"
    text = ctx.render(
        T.alert, id=alert_id, student=student_label(ctx, student), body=body, reporter=reporter
    )
    ctx.notify((p.id for p in readers), text, tags=CARE_TAGS)
    if not readers:
        cls = ctx.session.get(SchoolClass, student.class_id) if student.class_id else None
        admins = requests.people_in_role(ctx.session, Role.COLLEGE_ADMIN, student.class_id or 0)
        ctx.notify(
            (a.id for a in admins),
            ctx.render(T.alert_unrouted, id=alert_id, cls=cls.code if cls else "?"),
        )


@router.command(
    "alerts",
    "预警记录",
    roles=STAFF,
    where=Where.PRIVATE,
    usage=T.alerts_usage.pair,
    help=T.alerts_help.pair,
)
def alerts(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if actor.role is Role.SCHOOL_ADMIN:
        counts = care.alert_counts(ctx.session)
        shown = "，".join(f"{name} {n}" for name, n in counts) or ctx.render(T.alerts_none)
        ctx.reply(ctx.render(T.alerts_counts, counts=shown))
        return
    rows = care.readable_alerts(ctx.session, actor, contacts(ctx.config), ctx.now)
    if not rows:
        ctx.reply(ctx.render(T.alerts_empty))
        return
    tz = ctx.config.tz
    lines = [ctx.render(T.alerts_header, count=len(rows))]
    for r in rows:
        lines.append(
            ctx.render(
                T.alerts_line,
                id=r.id,
                when=f"{r.created_at.astimezone(tz):%m-%d %H:%M}",
                student=f"{r.student}（{r.number}，{r.class_code}）",
                body=r.text,
                reporter=r.reporter,
            )
        )
    ctx.reply("\n".join(lines))


@router.command(
    "refer",
    "转介",
    roles=STAFF,
    where=Where.PRIVATE,
    usage=T.refer_usage.pair,
    help=T.refer_help.pair,
)
def refer(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    number = normalize(args.tokens[0]).lstrip("#") if args.tokens else ""
    if len(args) < 2 or not number.isdigit():
        raise BadArguments(T.need_referral("zh"), T.need_referral("en"))
    to = identity.find_person(ctx.session, args.tokens[1].upper())
    if to is None:
        raise BadArguments(T.need_referral("zh"), T.need_referral("en"))
    record = care.refer_alert(ctx.session, actor, int(number), to, contacts(ctx.config), ctx.now)
    student = ctx.session.get(Person, record.student_id)
    assert student is not None
    ctx.reply(ctx.render(T.referred, id=record.id, name=to.name, number=to.number))
    ctx.notify(
        [to.id],
        ctx.render(
            T.referred_to_you,
            by=actor.name,
            id=record.id,
            student=student_label(ctx, student),
            body=record.text,
        ),
        tags=CARE_TAGS,
    )


def period_text(config: Config) -> str:
    lang = config.bot.language
    return (T.period_month if config.care.psych_report == "monthly" else T.period_week)(lang)


NONE_WORDS = ("无异常", "无", "没有异常", "正常", "none")


@router.command(
    "psych",
    "心理周报",
    roles=STUDENTS,
    where=Where.PRIVATE,
    aliases=("心理月报",),
    usage=T.psych_usage.pair,
    help=T.psych_help.pair,
)
def psych(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if not args.text:
        raise BadArguments(T.need_report("zh"), T.need_report("en"))
    abnormal = args.text.strip().lower() not in NONE_WORDS
    body = requests.check_text(args.text, *T.the_report.pair) if abnormal else None
    today = ctx.sent_at.astimezone(ctx.config.tz).date()
    class_id, replaced = care.submit_report(
        ctx.session,
        actor,
        day=today,
        period=ctx.config.care.psych_report,
        at=ctx.config.care.psych_reminder_time,
        tz=ctx.config.tz,
        abnormal=abnormal,
        text=body,
        now=ctx.now,
    )
    period = period_text(ctx.config)
    what = ctx.render(T.report_abnormal if abnormal else T.report_none)
    ctx.reply(
        ctx.render(T.report_replaced if replaced else T.report_saved, period=period, what=what)
    )
    if abnormal:
        cls = ctx.session.get(SchoolClass, class_id)
        readers = care_access.class_care_readers(
            ctx.session, class_id, contacts=contacts(ctx.config)
        )
        ctx.notify(
            (p.id for p in readers),
            ctx.render(
                T.report_to_readers,
                cls=cls.code if cls else "?",
                reporter=f"{actor.name}（{actor.number}）",
                period=period,
                body=body,
            ),
            tags=CARE_TAGS,
        )


# -- separate consents: 同意 关怀, 同意 家长, 撤回同意 家长 --------------------------------------

PURPOSE_WORDS = {
    "关怀": care.CARE,
    "care": care.CARE,
    "家长": care.PARENTS,
    "parents": care.PARENTS,
}


def purpose_of(text: str) -> str | None:
    """The separate consent a 同意 / 撤回同意 names, if any."""
    return PURPOSE_WORDS.get(normalize(text).lower())


def purpose_text(ctx: Context, purpose: str) -> str:
    return ctx.render(T.purpose_parents if purpose == care.PARENTS else T.purpose_care)


def give(ctx: Context, actor: Actor, purpose: str) -> None:
    word = ctx.render(T.word_parents if purpose == care.PARENTS else T.word_care)
    if care.give_consent(ctx.session, actor, purpose, ctx.now):
        ctx.reply(ctx.render(T.consent_given, purpose=purpose_text(ctx, purpose), word=word))
    else:
        ctx.reply(ctx.render(T.consent_already, purpose=purpose_text(ctx, purpose)))


def withdraw(ctx: Context, actor: Actor, purpose: str) -> None:
    if care.withdraw_consent(ctx.session, actor, purpose, ctx.now):
        ctx.reply(ctx.render(T.consent_withdrawn, purpose=purpose_text(ctx, purpose)))
    else:
        ctx.reply(ctx.render(T.consent_missing))


# -- the report period: opened each day, reminded by the campaign engine --------------


def open_times(config: Config) -> dict[time, Slot]:
    """With the morning check-in prompt, so the engine's reminder job finds the period's
    campaign open later in the day."""
    return {config.schedule.prompt: Slot(school=True)}


def open_period(run: Run) -> list[Planned]:
    """Open the period's report campaign (once; a no-op when a report opened it already).
    Its reminder, at [care] psych_reminder_time on the reminder day, is the engine's."""
    config = run.config

    def work() -> None:
        with run.app.uow() as session:
            care.period_campaign(
                session,
                day=run.day,
                period=config.care.psych_report,
                at=config.care.psych_reminder_time,
                tz=config.tz,
                now=run.app.clock.now(),
            )

    with_retry(work)
    return []


PSYCH_PERIOD = Job("psych_period", open_times, open_period)


FEATURE = Feature(router, jobs=(PSYCH_PERIOD,), campaigns=(care.PSYCH,))
