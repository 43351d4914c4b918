"""诉求 jobs: the daily digest to counselors and college admins (new, open, overdue, a zero
digest too), and the hourly escalation of items open too long to the college office."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from bot.config import Config
from bot.dates import day_label
from bot.messages import Envelope, OutgoingMessage, PersonAddress
from schedules.runner import Job, Planned, Run, Slot
from storage import matters, requests
from storage.db import with_retry
from storage.matters import MATTER
from storage.matters import MatterTexts as T
from storage.models import Person, Role
from storage.outbox import Kind


def digest_times(config: Config) -> dict[time, Slot]:
    return {config.matters.digest_time: Slot(school=True)}


def digest_text(config: Config, digest: matters.Digest, day_text: str) -> str:
    lang = config.bot.language
    refs = T.overdue_refs(lang, refs="、".join(digest.overdue_refs)) if digest.overdue_refs else ""
    text = T.digest if digest.new else T.digest_zero
    return text(
        lang, day=day_text, new=digest.new, open=digest.open, overdue=digest.overdue, refs=refs
    )


def plan_digest(run: Run) -> list[Planned]:
    config = run.config
    tz = config.tz
    day_start = datetime.combine(run.day, time(0), tzinfo=tz)
    now = run.app.clock.now()
    overdue_after = timedelta(hours=config.matters.escalate_after_hours)
    with run.app.uow(readonly=True) as session:
        people = matters.digest_recipients(session)

    planned = []
    for person_id, class_ids in people:

        def build(
            session: Session, pid: int = person_id, ids: frozenset[int] = class_ids
        ) -> list[Envelope]:
            digest = matters.digest(
                session, ids, day_start=day_start, now=now, overdue_after=overdue_after
            )
            text = digest_text(config, digest, day_label(run.day, config.bot.language))
            return [Envelope(PersonAddress(pid), OutgoingMessage(text))]

        planned.append(Planned(f"person:{person_id}", build))
    return planned


def escalate_times(config: Config) -> dict[time, Slot]:
    return {time(h, 0): Slot(school=True) for h in range(24)}


def plan_escalate(run: Run) -> list[Planned]:
    """Move the items open too long (an idempotent timer), then tell the college office of
    each one escalated today, once (one delivery per item and day)."""
    app = run.app
    config = run.config
    hours = config.matters.escalate_after_hours
    now = app.clock.now()

    def work() -> int:
        with app.uow() as session:
            return matters.escalate(session, timedelta(hours=hours), run.day, now)

    with_retry(work)
    since = datetime.combine(run.day, time(0), tzinfo=config.tz)
    with app.uow(readonly=True) as session:
        escalated = [(r.id, r.number) for r in matters.escalated_since(session, since)]

    planned = []
    for request_id, number in escalated:

        def build(session: Session, number: int = number) -> list[Envelope]:
            request = requests.get(session, MATTER, number)
            student = session.get(Person, request.student_id)
            text = T.escalated(
                config.bot.language,
                ref=MATTER.ref(number),
                hours=hours,
                student=T.student(
                    config.bot.language,
                    name=student.name if student else "?",
                    number=student.number if student else "?",
                    cls=matters.class_code(session, request),
                ),
                body=MATTER.read(request).text,
            )
            admins = requests.people_in_role(session, Role.COLLEGE_ADMIN, request.class_id)
            return [Envelope(PersonAddress(a.id), OutgoingMessage(text)) for a in admins]

        planned.append(Planned(f"matter:{request_id}", build))
    return planned


DIGEST = Job("matters_digest", digest_times, plan_digest)
ESCALATE = Job("matters_escalate", escalate_times, plan_escalate, kind=Kind.ALERT, catches_up=True)
MATTER_JOBS = (ESCALATE, DIGEST)
