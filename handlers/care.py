"""心理预警, 心理委员 reports and the care consents.

`心理预警 <学号|姓名> <情况>`: anyone, in private chat; it goes at once and privately to
the student's counselors and the college's mental-health contacts, and to nobody else:
never a group, never the ordinary ledgers, never the student concerned. The reporter gets
a confirmation without the content. `预警记录` lets the designated readers read them, each
read audited; a school admin sees counts only. `心理周报` is a 心理委员's weekly (or
monthly) report, 无异常 allowed.
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
from bot.texts import CareTexts as T
from schedules.runner import Job, Planned, Run, Slot
from storage import care, care_access, identity, requests
from storage.db import with_retry
from storage.errors import BadArguments
from storage.identity import Actor
from storage.models import Person, Role, SchoolClass

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
    usage=(
        "心理预警 <学号|姓名> <情况>，例：心理预警 2020005 最近几天情绪很低落",
        "/alert <student id|name> <what you saw>",
    ),
    help=(
        "私下报告同学的心理危机，只有辅导员和心理健康联络人能看到",
        "report an urgent mental-health concern, read only by the designated staff",
    ),
)
def alert(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    body = args.rest(1)
    if len(args) < 2 or not body:
        raise BadArguments(T.need_alert("zh"), T.need_alert("en"))
    body = requests.check_text(body, "情况", "The description")
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
    usage=("预警记录", "/alerts"),
    help=(
        "查看你可以看到的心理预警（每次查看都有记录）",
        "read the mental-health alerts you may read (audited)",
    ),
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
    usage=("转介 #<预警编号> <工号>，例：转介 #1 T005", "/refer #<alert> <staff id>"),
    help=("把心理预警转介给另一位老师跟进", "refer a mental-health alert to another staff member"),
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
    usage=("心理周报 无异常　或　心理周报 <情况>", "/psych none or /psych <what you saw>"),
    help=(
        "心理委员提交本周（本月）心理情况报告",
        "a class mental-health rep's report for the week (month)",
    ),
)
def psych(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if not args.text:
        raise BadArguments(T.need_report("zh"), T.need_report("en"))
    abnormal = args.text.strip().lower() not in NONE_WORDS
    body = requests.check_text(args.text, "情况", "The report") if abnormal else None
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
    word = "家长" if purpose == care.PARENTS else "关怀"
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
    return {OPEN_AT: Slot(school=True)}


# Early in the day, so the engine's reminder job finds the period's campaign open.
OPEN_AT = time(0, 5)


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
