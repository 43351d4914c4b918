"""The composition root: config, database, dispatcher, adapters and scheduler, wired once."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import redact
from bot.adapters.base import Adapter, Unreachable
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.messages import ChatAddress, Envelope, IncomingMessage, OutgoingMessage, PersonAddress
from bot.router import Dispatcher
from handlers import (
    attendance,
    checkin,
    decisions,
    help,
    identity,
    leave,
    privacy,
    reports,
    subsidy,
)
from storage import charts
from storage import identity as identity_store
from storage.db import make_engine, make_sessionmaker, unit_of_work, with_retry

log = logging.getLogger(__name__)


class Scheduler(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def run_due(self) -> None: ...


@dataclass
class DeliveryReport:
    """What happened to a batch of envelopes."""

    sent: list[Envelope] = field(default_factory=list)
    # Envelopes (and the reason) that reached nobody.
    unreachable: list[tuple[Envelope, str]] = field(default_factory=list)


class App:
    """One running bot: routes incoming messages and delivers what the bot says."""

    def __init__(
        self, config: Config, clock: Clock, engine: Engine, sessions: sessionmaker[Session]
    ) -> None:
        self.config = config
        self.clock = clock
        self.engine = engine
        self.sessions = sessions
        self.dispatcher = Dispatcher(config, clock, sessions)
        self.dispatcher.include(
            help.router,
            identity.router,
            checkin.router,
            leave.router,
            subsidy.router,
            decisions.router,
            reports.router,
            attendance.router,
            privacy.router,
        )
        self.adapters: dict[str, Adapter] = {}
        self.scheduler: Scheduler | None = None

    def uow(self, *, readonly: bool = False) -> AbstractContextManager[Session]:
        """One unit of work: commits on a clean exit, rolls back on error."""
        return unit_of_work(self.sessions, readonly=readonly)

    def add_adapter(self, adapter: Adapter) -> None:
        self.adapters[adapter.platform] = adapter

    async def start(self) -> None:
        warning = charts.font_warning()
        if warning:
            log.warning(warning)
        for adapter in self.adapters.values():
            await adapter.start(self)
        if self.scheduler is not None:
            await self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        for adapter in self.adapters.values():
            await adapter.stop()

    async def handle(self, msg: IncomingMessage) -> list[OutgoingMessage]:
        """Route one incoming message and deliver the outcome.

        Replies to the message's own chat are sent, except for a button press, whose
        replies are returned unsent so the adapter can show them on the pressed message.
        """
        routed = self.dispatcher.process(msg)
        replies = [e.message for e in routed.envelopes if e.to == msg.chat]
        if msg.callback_id is not None:
            others = [e for e in routed.envelopes if e.to != msg.chat]
            await self.deliver(others)
            return replies
        await self.deliver(routed.envelopes)
        return replies

    async def deliver(self, envelopes: Iterable[Envelope]) -> DeliveryReport:
        """Send each envelope; a person is reached on each of their accounts the bot runs on."""
        envelopes = list(envelopes)
        report = DeliveryReport()
        person_ids = [e.to.person_id for e in envelopes if isinstance(e.to, PersonAddress)]
        accounts: dict[int, list[ChatAddress]] = {}
        if person_ids:
            with self.uow(readonly=True) as session:
                found = identity_store.accounts_for(session, person_ids, self.adapters)
                accounts = {
                    pid: [ChatAddress(a.platform, a.platform_user_id, False) for a in accs]
                    for pid, accs in found.items()
                }
        for env in envelopes:
            targets = (
                [env.to] if isinstance(env.to, ChatAddress) else accounts.get(env.to.person_id, [])
            )
            if not targets:
                report.unreachable.append((env, "no account on a running platform"))
                continue
            reached = False
            reasons = []
            for target in targets:
                adapter = self.adapters.get(target.platform)
                if adapter is None:
                    reasons.append(f"{target.platform} is not running")
                    continue
                try:
                    await adapter.send(target, env.message)
                    reached = True
                except Unreachable as e:
                    reasons.append(e.reason)
                    if not target.is_group:
                        self._mark_unreachable(target, e.reason)
                except Exception:
                    log.exception("sending to %s failed", target.platform)
                    reasons.append("send failed")
            if reached:
                report.sent.append(env)
            else:
                report.unreachable.append((env, "; ".join(reasons)))
        return report

    def _mark_unreachable(self, target: ChatAddress, reason: str) -> None:
        def work() -> None:
            with self.uow() as session:
                identity_store.mark_unreachable(
                    session, target.platform, target.chat_id, reason, self.clock.now()
                )

        try:
            with_retry(work)
        except Exception:
            log.exception("could not record an unreachable account")


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
        app.scheduler = Scheduler(app, (*DAILY_JOBS, *WEEKLY_JOBS))
    return app
