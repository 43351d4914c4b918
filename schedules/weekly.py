"""The weekly attendance summary (SPEC §5): each counselor, last week's 云考勤 of their classes."""

from __future__ import annotations

from datetime import date, time, timedelta

from sqlalchemy.orm import Session

from bot.config import Config
from bot.messages import Envelope, OutgoingMessage, PersonAddress
from handlers.attendance import format_week
from schedules.daily import person_scope, served_classes, staff_of
from schedules.runner import Job, Planned, Run, Slot
from storage import attendance
from storage.models import Role
from storage.outbox import Kind

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekly_times(config: Config) -> dict[time, Slot]:
    # One time for every college: the week's summary has no per-college deadline.
    return {config.schedule.weekly_attendance: Slot(school=True)}


def weekly_day(config: Config, day: date) -> bool:
    """The configured weekday, unless it is a holiday: skip_dates skip the attendance jobs."""
    return (
        WEEKDAYS[day.weekday()] == config.schedule.weekly_attendance_day
        and day not in config.schedule.skip_dates
    )


def summarised_week(day: date) -> date:
    """The first of the seven days before `day`: on the default Monday, last Monday–Sunday."""
    return day - timedelta(days=7)


def plan_weekly_attendance(run: Run) -> list[Planned]:
    config = run.config
    start = summarised_week(run.day)
    with run.app.uow(readonly=True) as session:
        classes = served_classes(session, run)
        counselors = staff_of(session, classes, (Role.COUNSELOR.value,))
    planned = []
    for pid, (_person, cids) in counselors.items():

        def build(session: Session, pid: int = pid, cids: list[int] = cids) -> list[Envelope]:
            summary = attendance.weekly_summary(
                session,
                cids,
                start,
                config.schedule.skip_dates,
                alert_absences=config.attendance.alert_absences,
            )
            text = format_week(summary, config.bot.language)
            return [Envelope(PersonAddress(pid), OutgoingMessage(text))]

        planned.append(Planned(person_scope(pid), build))
    return planned


WEEKLY_ATTENDANCE = Job(
    "weekly_attendance", weekly_times, plan_weekly_attendance, kind=Kind.ROLLUP, runs_on=weekly_day
)

WEEKLY_JOBS = (WEEKLY_ATTENDANCE,)
