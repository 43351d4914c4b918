"""Care records: 心理预警 (urgent mental-health concerns), 心理委员 reports, the separate
consents (care records under a consent basis, sharing with parents), and their purge.

Who reads them is decided in storage/care_access.py; every read is audited there. Nothing
here is ever shown in a group, in the ordinary ledgers or to the student concerned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.texts import Catalogue, Text
from storage import audit, campaigns, care_access
from storage.campaigns import CampaignKind, Instance, Period, Reminders
from storage.care_access import Contacts
from storage.db import rows_affected
from storage.errors import DomainError, NotFound
from storage.forms import Field, FieldType, Form
from storage.identity import Actor
from storage.models import (
    Campaign,
    CampaignResponse,
    CampaignResponseRevision,
    CareAlert,
    CareConsent,
    College,
    Person,
    Role,
    SchoolClass,
)

STUDENT_ROLES = (Role.STUDENT.value, Role.MONITOR.value)
# Separate consents a student may give (同意 关怀, 同意 家长).
CARE = "care"
PARENTS = "parents"
PURPOSES = (CARE, PARENTS)


class CareStorageTexts(Catalogue):
    ambiguous = Text(
        "有 {count} 位同学叫{name}，请改用学号：\n{candidates}",
        "{count} students are named {name}; please use the student id:\n{candidates}",
    )
    no_consent = Text(
        "这位同学还没有同意学校记录关怀信息（本校按同意处理），这条没有保存。请直接联系辅导员或心理中心。",
        "This student has not agreed to care records (this school records them by consent);"
        " nothing was stored. Please contact the counselor or the counselling centre directly.",
    )
    noun = Text("心理委员周报", "Psych-rep report")
    student = Text("同学 {who}", "Student {who}")
    alert = Text("心理预警 #{id}", "Alert #{id}")
    staff = Text("老师 {number}", "Staff member {number}")
    title = Text("心理委员报告（{start} 起）", "Psych-rep report (from {start})")
    verb = Text("提交", "sent")
    abnormal_label = Text("有无异常", "Anything abnormal")
    text_label = Text("情况", "What was seen")
    reminder = Text(
        "📝 请提交心理委员报告（截止 {deadline}）：无异常请发送「心理周报 无异常」，有情况请发送「心理周报 <情况>」（只有辅导员和心理健康联络人能看到）。",
        "📝 Please send the mental-health report (due {deadline}): /psych none, or /psych <what you saw> (read only by the counselors and mental-health contacts).",
    )
    not_psych_rep = Text(
        "只有心理委员可以提交心理周报。",
        "Only a class's mental-health rep may send the mental-health report.",
    )


class AmbiguousName(DomainError):
    text = CareStorageTexts.ambiguous


class NoCareConsent(DomainError):
    text = CareStorageTexts.no_consent


class NotPsychRep(DomainError):
    text = CareStorageTexts.not_psych_rep
    refusal = True


def mask_number(number: str) -> str:
    """2020001 → 20***01: enough to tell two people apart, not to look one up."""
    if len(number) <= 4:
        return number[:1] + "*" * (len(number) - 1)
    return number[:2] + "*" * (len(number) - 4) + number[-2:]


def find_student(session: Session, who: str) -> Person:
    """A student by 学号 or by name; an ambiguous name is refused with the candidates (class
    and masked 学号, nothing more)."""
    by_number = session.scalar(
        select(Person).where(Person.number == who.upper(), Person.role.in_(STUDENT_ROLES))
    )
    if by_number is not None and by_number.active:
        return by_number
    rows = session.execute(
        select(Person, SchoolClass.code)
        .join(SchoolClass, SchoolClass.id == Person.class_id)
        .where(Person.name == who, Person.role.in_(STUDENT_ROLES), Person.active.is_(True))
        .order_by(SchoolClass.code, Person.number)
    ).all()
    if not rows:
        raise NotFound(
            what=CareStorageTexts.student.bind(who=who),
        )
    if len(rows) > 1:
        candidates = "\n".join(f"  {code} {mask_number(p.number)}" for p, code in rows)
        raise AmbiguousName(count=len(rows), name=who, candidates=candidates)
    person: Person = rows[0][0]
    return person


# -- consents ----------------------------------------------------------------------------


def has_consent(session: Session, person_id: int, purpose: str) -> bool:
    return (
        session.scalar(
            select(CareConsent.id).where(
                CareConsent.person_id == person_id,
                CareConsent.purpose == purpose,
                CareConsent.withdrawn_at.is_(None),
            )
        )
        is not None
    )


def may_record(session: Session, student_id: int, basis: str) -> bool:
    """Under a public-duty basis care records need no consent; under consent they need the
    student's separate consent (同意 关怀) first."""
    return basis == "duty" or has_consent(session, student_id, CARE)


def give_consent(session: Session, actor: Actor, purpose: str, now: datetime) -> bool:
    """Record a separate consent; False when it was already on record."""
    row = session.scalar(
        select(CareConsent).where(
            CareConsent.person_id == actor.person_id, CareConsent.purpose == purpose
        )
    )
    if row is not None and row.withdrawn_at is None:
        return False
    if row is None:
        session.add(
            CareConsent(person_id=actor.person_id, purpose=purpose, given_at=now, withdrawn_at=None)
        )
    else:
        row.given_at, row.withdrawn_at = now, None
    audit.record(
        session, at=now, actor=actor, action=f"consent.{purpose}", target=f"person:{actor.number}"
    )
    return True


def withdraw_consent(session: Session, actor: Actor, purpose: str, now: datetime) -> bool:
    row = session.scalar(
        select(CareConsent).where(
            CareConsent.person_id == actor.person_id,
            CareConsent.purpose == purpose,
            CareConsent.withdrawn_at.is_(None),
        )
    )
    if row is None:
        return False
    row.withdrawn_at = now
    audit.record(
        session,
        at=now,
        actor=actor,
        action=f"consent.{purpose}.withdrawn",
        target=f"person:{actor.number}",
    )
    return True


# -- 心理预警 ------------------------------------------------------------------------------


def raise_alert(
    session: Session, actor: Actor, student: Person, text: str, now: datetime
) -> CareAlert:
    """Store a 心理预警; the audit log names the student, never the text."""
    assert student.class_id is not None
    alert = CareAlert(
        student_id=student.id,
        class_id=student.class_id,
        reporter_id=actor.person_id,
        text=text,
        created_at=now,
    )
    session.add(alert)
    session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="care.alert",
        target=f"person:{student.number}",
        detail={"alert": alert.id},
    )
    return alert


def audit_unkept_alert(session: Session, actor: Actor, student: Person, now: datetime) -> None:
    """An alert delivered but not kept (a consent basis, no consent): only that it happened."""
    audit.record(
        session,
        at=now,
        actor=actor,
        action="care.alert_unkept",
        target=f"person:{student.number}",
    )


@dataclass(frozen=True)
class AlertView:
    id: int
    student: str
    number: str
    class_code: str
    reporter: str
    text: str
    created_at: datetime


def readable_alerts(
    session: Session, actor: Actor, contacts: Contacts | None, now: datetime, limit: int = 20
) -> list[AlertView]:
    """The alerts this actor may read, newest first; each one shown is an audited read."""
    rows = session.execute(
        select(CareAlert, Person, SchoolClass.code)
        .join(Person, Person.id == CareAlert.student_id)
        .join(SchoolClass, SchoolClass.id == CareAlert.class_id)
        .order_by(CareAlert.created_at.desc(), CareAlert.id.desc())
    ).all()
    out: list[AlertView] = []
    for alert, student, code in rows:
        assigned = {alert.assignee_id} if alert.assignee_id is not None else set()
        if not care_access.may_read_care(
            session, actor, student.id, assigned_to=assigned, contacts=contacts
        ):
            continue
        reporter = session.get(Person, alert.reporter_id) if alert.reporter_id else None
        out.append(
            AlertView(
                alert.id,
                student.name,
                student.number,
                code,
                f"{reporter.name}（{reporter.number}）" if reporter else "?",
                alert.text,
                alert.created_at,
            )
        )
        care_access.audit_read(session, actor, student.id, f"alert:{alert.id}", now=now)
        if len(out) >= limit:
            break
    return out


def refer_alert(
    session: Session,
    actor: Actor,
    alert_id: int,
    to: Person,
    contacts: Contacts | None,
    now: datetime,
) -> CareAlert:
    """A counselor of the student hands the alert to another staff member, who becomes one
    of its readers. Only a counselor or mental-health contact who may read it may refer it."""
    alert = session.get(CareAlert, alert_id)
    if alert is None or not care_access.may_read_care(
        session, actor, alert.student_id, contacts=contacts
    ):
        raise NotFound(
            what=CareStorageTexts.alert.bind(id=alert_id),
        )
    if Role(to.role).is_student or not to.active:
        raise NotFound(
            what=CareStorageTexts.staff.bind(number=to.number),
        )
    alert.assignee_id = to.id
    audit.record(
        session,
        at=now,
        actor=actor,
        action="care.alert_referred",
        target=f"alert:{alert.id}",
        detail={"to": to.number},
    )
    return alert


def alert_counts(session: Session) -> list[tuple[str, int]]:
    """Alerts per college: all a school admin sees."""
    rows = session.execute(
        select(College.name, func.count(CareAlert.id))
        .join(SchoolClass, SchoolClass.college_id == College.id)
        .join(CareAlert, CareAlert.class_id == SchoolClass.id)
        .group_by(College.name)
        .order_by(College.name)
    ).all()
    return [(name, int(n)) for name, n in rows]


# -- 心理委员 reports: a campaign kind ---------------------------------------------------

ABNORMAL = "abnormal"
TEXT = "text"

# One campaign per report period, for the whole school; only the 心理委员 answer, a zero
# report (无异常) is a full answer, nothing is ever said in a group, and the reports go with
# the care retention (`purge` below), not the engine's.
PSYCH = CampaignKind(
    name="psych",
    noun=(CareStorageTexts.noun("zh"), CareStorageTexts.noun("en")),
    period=Period.WEEKLY,
    reminders=Reminders.PRIVATE,
    zero_report=True,
    retention_days=None,
    sheet=None,
    in_daily_rollup=False,
    # One reminder, at the deadline ([care] psych_reminder_time on the reminder day).
    remind_before=timedelta(0),
    respondent_flag="psych_rep",
    typed=False,
    care=True,
    reminder=CareStorageTexts.reminder,
    verb=CareStorageTexts.verb,
)

PSYCH_FORM = Form(
    (
        Field(
            ABNORMAL,
            CareStorageTexts.abnormal_label("zh"),
            CareStorageTexts.abnormal_label("en"),
            FieldType.YESNO,
            sensitive=True,
        ),
        Field(
            TEXT,
            CareStorageTexts.text_label("zh"),
            CareStorageTexts.text_label("en"),
            FieldType.LONGTEXT,
            required=False,
            sensitive=True,
        ),
    )
)


def period_start(day: date, period: str) -> date:
    """The first day of the report period holding `day`: its Monday, or the 1st."""
    if period == Period.MONTHLY:
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def reminder_day(start: date, period: str) -> date:
    """The period's reminder day: its Friday, or the 25th."""
    if period == Period.MONTHLY:
        return start.replace(day=25)
    return start + timedelta(days=4)


def period_campaign(
    session: Session, *, day: date, period: str, at: time, tz: ZoneInfo, now: datetime
) -> Instance:
    """The report campaign of the period holding `day`, opened on first need. Its number is
    the period's first day (P20261123), so two reps reporting at once find or make one: the
    second insert fails on the unique kind and number and reads the first."""
    start = period_start(day, period)
    number = int(start.strftime("%Y%m%d"))
    kinds = campaigns.Campaigns(PSYCH)
    row = session.scalar(
        select(Campaign).where(Campaign.kind == PSYCH.name, Campaign.number == number)
    )
    if row is not None:
        return campaigns.as_instance(row, kinds)
    try:
        with session.begin_nested():
            return campaigns.create(
                session,
                PSYCH,
                title=CareStorageTexts.title("zh", start=start.isoformat()),
                audience=campaigns.Audience(school=True),
                deadline=datetime.combine(reminder_day(start, period), at, tzinfo=tz),
                opens_at=datetime.combine(start, time(), tzinfo=tz),
                now=now,
                created_by=None,
                form=PSYCH_FORM,
                number=number,
                period=Period(period),
            )
    except IntegrityError:
        return campaigns.find(session, PSYCH, number, kinds)


def submit_report(
    session: Session,
    actor: Actor,
    *,
    day: date,
    period: str,
    at: time,
    tz: ZoneInfo,
    abnormal: bool,
    text: str | None,
    now: datetime,
) -> tuple[int, bool]:
    """The 心理委员's one current report of the period holding `day` (a second one replaces
    it, every version kept). Returns (class id, replaced)."""
    person = session.get(Person, actor.person_id)
    if person is None or person.class_id is None or not person.psych_rep:
        raise NotPsychRep()
    campaign = period_campaign(session, day=day, period=period, at=at, tz=tz, now=now)
    if not campaigns.covers(session, campaign, person):
        raise NotPsychRep()
    answered = campaigns.respond(
        session,
        campaign,
        person_id=person.id,
        class_id=person.class_id,
        answers={ABNORMAL: abnormal, TEXT: text},
        now=now,
        key=campaigns.current_key(campaign, campaign.opens_at, tz),
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="care.psych_report",
        target=f"class:{person.class_id}",
        to_state="abnormal" if abnormal else "none",
    )
    return person.class_id, answered.replaced


# -- retention ---------------------------------------------------------------------------


def purge(session: Session, before: datetime, *, now: datetime) -> int:
    """Care records made before `before`: deleted, and the purge audited."""
    alerts = rows_affected(session.execute(delete(CareAlert).where(CareAlert.created_at < before)))
    # 心理委员 reports: the psych campaigns' responses first made before `before`, with
    # every version of them.
    psych = select(Campaign.id).where(Campaign.kind == PSYCH.name)
    old = (
        select(CampaignResponse.id)
        .where(
            CampaignResponse.campaign_id.in_(psych),
            CampaignResponse.first_at < before,
            CampaignResponse.campaign_id == CampaignResponseRevision.campaign_id,
            CampaignResponse.period_key == CampaignResponseRevision.period_key,
            CampaignResponse.person_id == CampaignResponseRevision.person_id,
        )
        .exists()
    )
    session.execute(delete(CampaignResponseRevision).where(old))
    reports = rows_affected(
        session.execute(
            delete(CampaignResponse).where(
                CampaignResponse.campaign_id.in_(psych), CampaignResponse.first_at < before
            )
        )
    )
    total = alerts + reports
    audit.record(
        session,
        at=now,
        actor=None,
        actor_label="schedule:purge",
        action="purge.care",
        target=f"before:{before.date().isoformat()}",
        detail={"alerts": alerts, "psych_reports": reports},
    )
    return total
