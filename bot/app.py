"""The composition root: config, database, dispatcher, adapters and scheduler, wired once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import redact
from bot.adapters.base import Adapter
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.messages import Envelope, IncomingMessage, OutgoingMessage
from bot.outbox import Outbox
from bot.router import Dispatcher, Feature, RetentionRule, Routed
from bot.sender import Sender
from handlers import (
    attendance,
    care,
    checkin,
    collect,
    decisions,
    help,
    identity,
    keystudents,
    leave,
    matters,
    notices,
    privacy,
    reports,
    subsidy,
)
from storage import charts
from storage import outbox as outbox_store
from storage.db import make_engine, make_sessionmaker, unit_of_work, with_retry
from storage.outbox import Kind

if TYPE_CHECKING:
    from schedules.runner import Job
    from storage.campaigns import CampaignKind

log = logging.getLogger(__name__)


class Scheduler(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def run_due(self) -> None: ...
    def due_times(self, after: datetime, until: datetime) -> list[datetime]: ...


@dataclass
class DeliveryReport:
    """What happened to a batch of envelopes."""

    sent: list[Envelope] = field(default_factory=list)
    # Envelopes (and the reason) that reached nobody.
    unreachable: list[tuple[Envelope, str]] = field(default_factory=list)
    # Envelopes still in the outbox when the wait ended (retrying).
    pending: list[Envelope] = field(default_factory=list)


class App:
    """One running bot: routes incoming messages, and its senders deliver what the bot says."""

    def __init__(
        self, config: Config, clock: Clock, engine: Engine, sessions: sessionmaker[Session]
    ) -> None:
        self.config = config
        self.clock = clock
        self.engine = engine
        self.sessions = sessions
        self.adapters: dict[str, Adapter] = {}
        self.senders: dict[str, Sender] = {}
        self.outbox = Outbox(config, lambda: tuple(self.adapters), self._nudge_text)
        self.dispatcher = Dispatcher(config, clock, sessions, self.outbox)
        # Every feature, explicitly: its commands, its /mine section (in this order) and the
        # decisions on its request kind (one per kind in storage.workflows.WORKFLOWS).
        self.dispatcher.install(
            Feature(help.router),
            Feature(identity.router),
            checkin.FEATURE,
            leave.FEATURE,
            subsidy.FEATURE,
            Feature(decisions.router),
            Feature(reports.router),
            attendance.FEATURE,
            matters.FEATURE,
            care.FEATURE,
            notices.FEATURE,
            collect.FEATURE,
            Feature(privacy.router),
            keystudents.FEATURE,
        )
        self.scheduler: Scheduler | None = None

    @property
    def feature_jobs(self) -> tuple[Job, ...]:
        return tuple(job for f in self.dispatcher.features for job in f.jobs)

    @property
    def campaign_kinds(self) -> tuple[CampaignKind, ...]:
        """The campaign kinds the features run, each with its ledger sheet."""
        return tuple(kind for f in self.dispatcher.features for kind in f.campaigns)

    @property
    def retention_rules(self) -> list[RetentionRule]:
        return [f.retention for f in self.dispatcher.features if f.retention is not None]

    def uow(self, *, readonly: bool = False) -> AbstractContextManager[Session]:
        """One unit of work: commits on a clean exit, rolls back on error."""
        return unit_of_work(self.sessions, readonly=readonly)

    def _nudge_text(self, platform: str) -> str | None:
        adapter = self.adapters.get(platform)
        return adapter.nudge_text(self.config.bot.language) if adapter is not None else None

    def add_adapter(self, adapter: Adapter) -> None:
        self.adapters[adapter.platform] = adapter

    async def start(self) -> None:
        warning = charts.font_warning()
        if warning:
            log.warning(warning)
        for adapter in self.adapters.values():
            await self._start_platform(adapter)
        # What the last run left queued goes out first, before any job adds to it.
        await self.sent()
        if self.scheduler is not None:
            await self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        # Senders first: a send in flight still needs its adapter.
        for sender in self.senders.values():
            await sender.stop()
        self.senders.clear()
        for adapter in self.adapters.values():
            await adapter.stop()

    async def _start_platform(self, adapter: Adapter) -> None:
        await adapter.start(self)
        sender = Sender(self, adapter)
        self.senders[adapter.platform] = sender
        await sender.start()

    async def attach(self, adapter: Adapter) -> None:
        """Add a platform to a running app: its adapter and its sender."""
        self.add_adapter(adapter)
        await self._start_platform(adapter)

    async def detach(self, platform: str) -> None:
        """Stop one platform's sender and adapter, and remove it."""
        sender = self.senders.pop(platform, None)
        if sender is not None:
            await sender.stop()
        adapter = self.adapters.pop(platform, None)
        if adapter is not None:
            await adapter.stop()

    async def handle(self, msg: IncomingMessage) -> list[OutgoingMessage]:
        """Route one incoming message; what the bot says is queued before this returns.

        Returns the replies to the message's own chat (already queued), for an adapter that
        answers a button press with a short notice.
        """
        routed = self.dispatcher.process(msg)
        await self.sent()
        return [e.message for e in routed.envelopes if e.to == msg.chat]

    async def handle_batch(self, messages: Sequence[IncomingMessage]) -> list[Routed]:
        """Route messages that queued up with one commit (`Dispatcher.process_batch`); what
        the bot says is queued before this returns."""
        routed = self.dispatcher.process_batch(messages)
        await self.sent()
        return routed

    async def sent(self) -> None:
        """Something was committed to the outbox: the console and the test adapter send what
        is due now, before the next input; every other sender is woken."""
        for sender in list(self.senders.values()):
            if sender.adapter.drains_inline:
                await sender.drain()
            else:
                sender.wake()

    def wake_all(self) -> None:
        """Wake every sender (a message was queued from inside one of them)."""
        for sender in self.senders.values():
            sender.wake()

    async def deliver(
        self, envelopes: Iterable[Envelope], *, kind: Kind = Kind.ALERT, wait: float = 30.0
    ) -> DeliveryReport:
        """Queue envelopes outside any command (the CLI, tools), then wait up to `wait`
        seconds for how each went."""
        envelopes = list(envelopes)
        batch = uuid.uuid4().hex
        report = DeliveryReport()

        def work() -> list[tuple[Envelope, str]]:
            with self.uow() as session:
                unreached = []
                for i, env in enumerate(envelopes):
                    queued = self.outbox.queue(
                        session,
                        [env],
                        cause=f"app:{batch}:{i}",
                        now=self.clock.now(),
                        default_kind=kind,
                    )
                    unreached += queued.unreached
                return unreached

        unreached = with_retry(work)
        report.unreachable += unreached
        await self.sent()
        skip = {id(e) for e, _ in unreached}
        loop = asyncio.get_running_loop()
        until = loop.time() + wait
        while True:
            with self.uow(readonly=True) as session:
                outcomes = [
                    outbox_store.outcome(session, f"app:{batch}:{i}") for i in range(len(envelopes))
                ]
            if (
                all(
                    o is not None
                    for o, e in zip(outcomes, envelopes, strict=True)
                    if id(e) not in skip
                )
                or loop.time() > until
            ):
                break
            await asyncio.sleep(0.02)
        for env, outcome in zip(envelopes, outcomes, strict=True):
            if id(env) in skip:
                continue
            if outcome is None:
                report.pending.append(env)
            elif outcome[0] == "sent":
                report.sent.append(env)
            else:
                report.unreachable.append((env, outcome[1]))
        return report


def build_app(
    config: Config,
    clock: Clock | None = None,
    engine: Engine | None = None,
    *,
    scheduler: bool = True,
) -> App:
    """Build the bot from its config. The database must already be migrated."""
    from schedules.daily import DAILY_JOBS
    from schedules.scheduler import Scheduler
    from schedules.weekly import WEEKLY_JOBS

    redact.install(config.secrets())
    engine = engine or make_engine(config.database.url, echo=config.database.echo)
    app = App(config, clock or SystemClock(), engine, make_sessionmaker(engine))
    if scheduler:
        # The daily and weekly jobs, then each feature's own (a notice's reminders).
        app.scheduler = Scheduler(app, (*DAILY_JOBS, *WEEKLY_JOBS, *app.feature_jobs))
    return app
