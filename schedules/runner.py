"""Runs scheduled jobs exactly once per (job, recipient scope, local day), in time order.

`run_due()` is the whole engine: it looks at every job instance due today or yesterday, runs
those within `schedule.grace`, and logs those past it as skipped (unless they fell before the
deployment had a roster). APScheduler only decides *when* to call it; the console's `:time`
(once per due time it passes, via `due_times`), the tests and the start-up catch-up call it too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.clock import at_local
from bot.config import Config, times_for
from bot.messages import Envelope
from storage import deliveries, roster
from storage.db import refresh_statistics, with_retry
from storage.deliveries import Status
from storage.models import Base
from storage.outbox import Kind

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

# The bot's own tables (not the migration tool's).
_TABLES = frozenset(Base.metadata.tables)


@dataclass(frozen=True)
class Slot:
    """Which colleges a job instance serves: those named, or (None) all but the excluded."""

    colleges: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    # The school-wide deliveries (school admins) ride on exactly one slot.
    school: bool = False

    def serves(self, college: str) -> bool:
        if self.colleges is not None:
            return college in self.colleges
        return college not in self.exclude


@dataclass(frozen=True)
class Planned:
    """One delivery: its recipient scope, and how to build its messages when it is claimed."""

    scope: str
    build: Callable[[Session], list[Envelope]]


@dataclass(frozen=True)
class Built:
    """A claimed delivery and its messages, to be queued with the next claim."""

    claim: deliveries.Claim
    envelopes: list[Envelope]


@dataclass(frozen=True)
class Fixed:
    """A build whose messages are known when planned: sent without opening a session."""

    envelopes: list[Envelope]

    def __call__(self, _session: Session) -> list[Envelope]:
        return self.envelopes


@dataclass(frozen=True)
class Run:
    app: App
    day: date
    slot: Slot

    @property
    def config(self) -> Config:
        return self.app.config


@dataclass(frozen=True)
class Job:
    name: str
    # Local times the job runs at on a day, each serving a slot of colleges.
    times: Callable[[Config], dict[time, Slot]]
    plan: Callable[[Run], list[Planned]]
    # What its messages are in the outbox: their priority, and a deadline of due + grace.
    kind: Kind = Kind.REMINDER
    runs_on: Callable[[Config, date], bool] = field(default=lambda config, day: True)
    # A missed instance is covered by the next one (an hourly timer): not logged as skipped,
    # and the console's :time makes no stop for it.
    catches_up: bool = False
    # Times that come from the data rather than the config (a campaign's reminders): the
    # local times on a day, each serving the whole school. The scheduler then looks every
    # minute.
    at: Callable[[App, date], Iterable[time]] | None = None

    def slots(self, app: App, day: date) -> dict[time, Slot]:
        """The job's times on a day: the config's, and those its data names."""
        slots = self.times(app.config)
        if self.at is not None:
            slots = {**slots, **{t: Slot(school=True) for t in self.at(app, day)}}
        return slots


def college_times(attr: str) -> Callable[[Config], dict[time, Slot]]:
    """Slots for a daily job whose time a college may override ([schedule.colleges])."""

    def times(config: Config) -> dict[time, Slot]:
        default: time = getattr(config.schedule, attr)
        overridden: dict[time, set[str]] = {}
        for college in config.schedule.colleges:
            t = getattr(times_for(config.schedule, college), attr)
            if t != default:
                overridden.setdefault(t, set()).add(college)
        slots = {t: Slot(frozenset(names)) for t, names in overridden.items()}
        # The default slot serves every college that is not overridden, and the school.
        excluded = frozenset(n for names in overridden.values() for n in names)
        slots[default] = Slot(exclude=excluded, school=True)
        return slots

    return times


@dataclass(frozen=True, order=True)
class _Due:
    at: datetime
    order: int
    job: Job = field(compare=False)
    day: date = field(compare=False)
    slot: Slot = field(compare=False)


class JobRunner:
    def __init__(self, app: App, jobs: Sequence[Job]) -> None:
        self.app = app
        self.jobs = list(jobs)
        self._lock = asyncio.Lock()

    def due(self, now: datetime) -> tuple[list[_Due], list[_Due]]:
        """(instances to run now, instances past grace), in time order."""
        config = self.app.config
        tz = config.tz
        today = now.astimezone(tz).date()
        grace = config.schedule.grace
        run: list[_Due] = []
        late: list[_Due] = []
        for day in (today - timedelta(days=1), today):
            for order, job in enumerate(self.jobs):
                if not job.runs_on(config, day):
                    continue
                for t, slot in job.slots(self.app, day).items():
                    at = at_local(day, t, tz)
                    if at > now:
                        continue
                    (run if now - at <= grace else late).append(_Due(at, order, job, day, slot))
        return sorted(run), sorted(late)

    def due_times(self, after: datetime, until: datetime) -> list[datetime]:
        """Every distinct time in (after, until] at which a job instance falls due, in order.
        A job that catches up needs no stop of its own: it runs at the next one."""
        config = self.app.config
        tz = config.tz
        found: set[datetime] = set()
        day = after.astimezone(tz).date()
        while day <= until.astimezone(tz).date():
            for job in self.jobs:
                if job.runs_on(config, day) and not job.catches_up:
                    found.update(
                        at
                        for t in job.slots(self.app, day)
                        if after < (at := at_local(day, t, tz)) <= until
                    )
            day += timedelta(days=1)
        return sorted(found)

    async def run_due(self) -> None:
        async with self._lock:
            now = self.app.clock.now()
            run, late = self.due(now)
            if late:
                with self.app.uow(readonly=True) as session:
                    since = roster.first_imported_at(session)
                # Instances from before the roster existed were due to no one: not "missed".
                for d in late:
                    if d.job.catches_up:
                        continue
                    if since is not None and d.at >= since:
                        self._note_skipped(d, now)
            if run:
                self._refresh_statistics()
            for d in run:
                try:
                    await self._run(d)
                except Exception:
                    log.exception("job %s for %s failed", d.job.name, d.day)

    def _refresh_statistics(self) -> None:
        """The jobs read what the day wrote: the planner's statistics of it first."""
        try:
            refreshed = refresh_statistics(self.app.engine, _TABLES)
        except Exception:
            # A job runs on stale statistics rather than not at all.
            log.exception("could not refresh the database's statistics before the jobs")
            return
        if refreshed:
            log.info("refreshed the planner statistics of %s", ", ".join(refreshed))

    def _note_skipped(self, d: _Due, now: datetime) -> None:
        def work() -> bool:
            with self.app.uow() as session:
                if deliveries.any_for(session, d.job.name, d.day):
                    return False
                why = f"due {d.at:%Y-%m-%d %H:%M}, now {now.astimezone(d.at.tzinfo):%H:%M}: past the grace of {self.app.config.schedule.grace}"
                return deliveries.record_skip(session, d.job.name, d.day, now, why)

        if with_retry(work):
            log.warning(
                "skipped job %s for %s: the bot was down at %s and the grace of %s has passed",
                d.job.name,
                d.day,
                f"{d.at:%H:%M}",
                self.app.config.schedule.grace,
            )

    async def _run(self, d: _Due) -> None:
        """Claim, build and queue each delivery; the senders send them. A job's time is
        building and queueing, never waiting on a platform."""
        app = self.app
        job, day = d.job.name, d.day
        with app.uow(readonly=True) as session:
            settled = deliveries.settled_scopes(session, job, day, app.clock.now())
        planned = [p for p in d.job.plan(Run(app, day, d.slot)) if p.scope not in settled]
        # Claimed one at a time, each in the transaction that queues the one before: a
        # process killed and restarted within the lease then leaves at most one delivery
        # claimed and unqueued until the lease runs out.
        built: Built | None = None
        for p in planned:
            claim = with_retry(functools.partial(self._queue_and_claim, built, d, p.scope))
            if built is not None:
                built = None
                await app.sent()
            if claim is not None:
                built = self._build(claim, p)
        if built is not None:
            with_retry(functools.partial(self._queue_and_claim, built, d, None))
            await app.sent()

    def _build(self, claim: deliveries.Claim, planned: Planned) -> Built:
        if isinstance(planned.build, Fixed):
            return Built(claim, planned.build.envelopes)
        with self.app.uow(readonly=True) as session:
            return Built(claim, planned.build(session))

    def _queue_and_claim(
        self, built: Built | None, d: _Due, scope: str | None
    ) -> deliveries.Claim | None:
        """One transaction: the last delivery's messages into the outbox, and the next claim."""
        app = self.app
        now = app.clock.now()
        with app.uow() as session:
            if built is not None:
                self._queue(session, built, d, now)
            if scope is None:
                return None
            return deliveries.claim_one(session.connection(), d.job.name, scope, d.day, now)

    def _queue(self, session: Session, built: Built, d: _Due, now: datetime) -> None:
        conn = session.connection()
        if not deliveries.start_queueing(conn, built.claim):
            log.warning("delivery %s was taken over by another run; not queued", built.claim.scope)
            return
        envelopes = [replace(e, delivery_id=built.claim.id) for e in built.envelopes]
        queued = self.app.outbox.queue(
            session,
            envelopes,
            cause=f"delivery:{built.claim.id}",
            now=now,
            default_kind=d.job.kind,
            due=d.at,
        )
        if not envelopes:
            deliveries.mark(conn, built.claim.id, Status.SENT, now)
        elif queued.rows == 0:
            reasons = "; ".join(sorted({r for _, r in queued.unreached}))
            deliveries.mark(conn, built.claim.id, Status.UNREACHABLE, now, reasons[:500])
