"""Daily state upkeep that sends nothing: the request kinds' timers (an approved leave past
its end date becomes ended)."""

from __future__ import annotations

from datetime import time

from bot.config import Config
from schedules.runner import Job, Planned, Run, Slot
from storage import requests
from storage.db import with_retry
from storage.workflows import WORKFLOWS


def expiry_times(config: Config) -> dict[time, Slot]:
    # At the start of the bot's day rather than at midnight: a bot that is switched off at
    # night would otherwise miss it (past the grace) every day. Readers go by dates, so a
    # leave that ended yesterday counts correctly in the hours before this runs.
    return {config.schedule.prompt: Slot(school=True)}


def plan_leave_expiry(run: Run) -> list[Planned]:
    """Run every registered kind's timers (a leave whose last day is past ends). Idempotent,
    so it needs no delivery claim: a second run (another process, a restart) finds nothing
    left to do."""
    app = run.app

    def work() -> int:
        with app.uow() as session:
            return requests.run_timers(session, WORKFLOWS, run.day, app.clock.now())

    with_retry(work)
    return []


LEAVE_EXPIRY = Job("leave_expiry", expiry_times, plan_leave_expiry)
