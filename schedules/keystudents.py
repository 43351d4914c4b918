"""重点学生 jobs: staff hear of contacts and follow-ups due or overdue; students under 云跟踪
are asked how they feel each day; old care records pass their own retention. All private."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config, care_times
from bot.dates import short_day
from bot.messages import Envelope, OutgoingMessage, PersonAddress
from bot.texts import Catalogue, Text
from schedules.daily import person_scope
from schedules.runner import Fixed, Job, Planned, Run, Slot
from storage import keystudents
from storage.care_access import care_readers
from storage.db import with_retry
from storage.models import SchoolClass
from storage.outbox import Kind


class KeyStudentJobTexts(Catalogue):
    reminder_head = Text("📋 {day} 重点学生待办", "📋 Key students to see to, {day}")
    contacts_head = Text("应联系（家访/谈话）：", "Contacts due:")
    contact_due = Text(
        "• {name}（{number}，{cls}）{categories}：{when}，上次联系 {last}",
        "• {name} ({number}, {cls}) {categories}: {when}, last contact {last}",
    )
    followups_head = Text("跟进事项：", "Follow-ups due:")
    followup_due = Text(
        "• #{number} {name}（{number_student}）{what}：{when}",
        "• #{number} {name} ({number_student}) {what}: {when}",
    )
    due_today = Text("今天到期", "due today")
    overdue = Text("已逾期 {days} 天", "{days} days overdue")
    never = Text("从未", "never")
    how_to = Text(
        "记录联系：家访 <学号> <方式> 情况:…；跟进完成后发送：完成 <编号>",
        "Log a contact: /visit <id> <mode> found: …; a follow-up done: /done <number>",
    )
    track_prompt = Text(
        "🩺 {name}，今天身体怎么样？请回复：身体 <体温> [症状]，例：身体 36.8　或　身体 37.5 咳嗽",
        "🩺 {name}, how do you feel today? Answer: /feel <temperature> [symptoms], e.g. /feel 36.8",
    )


def _contacts(config: Config) -> Mapping[str, Collection[str]] | None:
    care = getattr(config, "care", None)
    return getattr(care, "mental_health_contacts", None)


def _when(due: date, today: date, lang: str) -> str:
    late = (today - due).days
    T = KeyStudentJobTexts
    return T.overdue(lang, days=late) if late > 0 else T.due_today(lang)


def reminder_times(config: Config) -> dict[time, Slot]:
    return {care_times(config)[0]: Slot(school=True)}


def plan_reminders(run: Run) -> list[Planned]:
    """One private list per responsible staff member (the student's care readers) of the
    tagged students whose contact is due by cadence, and of follow-ups due; none when
    nothing is due."""
    config = run.config
    lang = config.bot.language
    today = run.day
    T = KeyStudentJobTexts
    with run.app.uow(readonly=True) as session:
        contacts = keystudents.due_contacts(
            session, today, config.keystudents.categories, config.tz
        )
        followups = keystudents.due_followups(session, today)
        per_person: dict[int, tuple[list[str], list[str]]] = {}
        codes = _class_codes(session)

        def readers(student_id: int) -> list[int]:
            return [p.id for p in care_readers(session, student_id, contacts=_contacts(config))]

        for c in contacts:
            line = T.contact_due(
                lang,
                name=c.student.name,
                number=c.student.number,
                cls=codes.get(c.student.class_id or 0, "?"),
                categories="、".join(c.categories),
                when=_when(c.due, today, lang),
                last=short_day(c.last, today, lang) if c.last else T.never(lang),
            )
            for pid in readers(c.student.id):
                per_person.setdefault(pid, ([], []))[0].append(line)
        for f in followups:
            line = T.followup_due(
                lang,
                number=f.followup.id,
                name=f.student.name,
                number_student=f.student.number,
                what=f.followup.what,
                when=_when(f.followup.due, today, lang),
            )
            for pid in readers(f.student.id):
                per_person.setdefault(pid, ([], []))[1].append(line)
    planned = []
    for pid, (due, items) in sorted(per_person.items()):
        lines = [T.reminder_head(lang, day=short_day(today, today, lang))]
        if due:
            lines += [T.contacts_head(lang), *due]
        if items:
            lines += [T.followups_head(lang), *items]
        lines.append(T.how_to(lang))
        envelope = Envelope(PersonAddress(pid), OutgoingMessage("\n".join(lines)))
        planned.append(Planned(person_scope(pid), Fixed([envelope])))
    return planned


def _class_codes(session: Session) -> dict[int, str]:
    return {cid: code for cid, code in session.execute(select(SchoolClass.id, SchoolClass.code))}


def track_times(config: Config) -> dict[time, Slot]:
    return {care_times(config)[1]: Slot(school=True)}


def plan_track_prompts(run: Run) -> list[Planned]:
    """Each student under 云跟踪 who has not answered today is asked privately."""
    lang = run.config.bot.language
    with run.app.uow(readonly=True) as session:
        tracks = keystudents.tracks_to_prompt(session, run.day)
    return [
        Planned(
            person_scope(student.id),
            Fixed(
                [
                    Envelope(
                        PersonAddress(student.id),
                        OutgoingMessage(KeyStudentJobTexts.track_prompt(lang, name=student.name)),
                    )
                ]
            ),
        )
        for _track, student in tracks
    ]


def plan_purge(run: Run) -> list[Planned]:
    """Care records past `[keystudents] retention_days`; idempotent, sends nothing."""
    app = run.app

    def work() -> int:
        with app.uow() as session:
            return keystudents.purge(
                session, app.clock.now(), app.config.keystudents.retention_days
            )

    with_retry(work)
    return []


def purge_times(config: Config) -> dict[time, Slot]:
    return {config.privacy.purge_time or config.schedule.prompt: Slot(school=True)}


CARE_REMINDERS = Job("care_reminders", reminder_times, plan_reminders)
TRACK_PROMPTS = Job("track_prompts", track_times, plan_track_prompts)
CARE_PURGE = Job("care_purge", purge_times, plan_purge, kind=Kind.REMINDER)

KEYSTUDENT_JOBS = (CARE_REMINDERS, TRACK_PROMPTS, CARE_PURGE)
