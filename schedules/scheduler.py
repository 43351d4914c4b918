"""APScheduler decides when to look for due jobs; the runner decides what to send."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import ManualClock
from schedules.runner import Job, JobRunner

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, app: App, jobs: Sequence[Job]) -> None:
        self.app = app
        self.jobs = list(jobs)
        self.runner = JobRunner(app, jobs)
        self._aps: AsyncIOScheduler | None = None

    async def start(self) -> None:
        """Catch up on what was missed within grace, then wake at every job time."""
        config = self.app.config
        if not isinstance(self.app.clock, ManualClock):
            aps = AsyncIOScheduler(timezone=config.tz)
            for job in self.jobs:
                for at in job.times(config):
                    aps.add_job(
                        self.runner.run_due,
                        CronTrigger(hour=at.hour, minute=at.minute, timezone=config.tz),
                        id=f"{job.name}@{at:%H:%M}",
                        replace_existing=True,
                        # APScheduler's default of one second would drop a wake-up after a
                        # slow start; the runner's own grace decides what is still sent.
                        misfire_grace_time=int(config.schedule.grace.total_seconds()),
                        coalesce=True,
                        max_instances=1,
                    )
            if any(job.at is not None for job in self.jobs):
                # Times that come from the data (a campaign's reminders): look every minute.
                aps.add_job(
                    self.runner.run_due,
                    IntervalTrigger(minutes=1),
                    id="data-times",
                    replace_existing=True,
                    coalesce=True,
                    max_instances=1,
                )
            aps.start()
            self._aps = aps
        await self.runner.run_due()

    async def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None

    async def run_due(self) -> None:
        await self.runner.run_due()

    def due_times(self, after: datetime, until: datetime) -> list[datetime]:
        return self.runner.due_times(after, until)
