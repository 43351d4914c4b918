"""The sender: drains the outbox of one platform, apart from intake, one queue per chat.

Each cycle claims the due rows of chats no other sender holds, and each chat's rows go out
in order from their own task, so one busy group never delays another chat. Every send waits
for the chat's own limit and for a turn under the platform's overall limit, granted best
priority first and in turn among equals. What a failure means is decided here, from the
adapter's `Unreachable` or `Transient` (docs/delivery.md has the table).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.adapters.base import Adapter, Rate, SendFailed, Transient, Unreachable
from bot.messages import ChatAddress, OutgoingMessage
from bot.outbox import merged_ack, message_of
from storage import identity
from storage import outbox as store
from storage.db import transaction, with_retry
from storage.outbox import Kind, Row, Status

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

# Looks for dead senders' rows once per this many cycles (a cycle is about `outbox.poll`).
_RECOVER_EVERY = 10


class Window:
    """At most `rate.count` sends in any `rate.per` seconds (a sliding window)."""

    def __init__(self, rate: Rate, now: Callable[[], float]) -> None:
        self.rate = rate
        self._now = now
        self._times: deque[float] = deque()
        self.blocked_until = 0.0

    def wait(self) -> float:
        """Seconds until the next send is allowed."""
        now = self._now()
        while self._times and self._times[0] <= now - self.rate.per:
            self._times.popleft()
        wait = max(0.0, self.blocked_until - now)
        if len(self._times) >= self.rate.count:
            wait = max(wait, self._times[0] + self.rate.per - now)
        return wait

    def take(self) -> None:
        self._times.append(self._now())

    def refund(self) -> None:
        """The last send never reached the platform (it answered 5xx, or no connection):
        it does not count against the limit."""
        if self._times:
            self._times.pop()

    def block(self, seconds: float) -> None:
        """The platform asked for a pause (429 retry_after)."""
        self.blocked_until = max(self.blocked_until, self._now() + seconds)


class Gate:
    """Turns under the platform's overall limit: best priority first, in turn among equals."""

    def __init__(self, rate: Rate) -> None:
        loop = asyncio.get_running_loop()
        self.window = Window(rate, loop.time)
        self._loop = loop
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    async def turn(self, priority: int) -> None:
        future: asyncio.Future[None] = self._loop.create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), future))
        self._pump()
        await future

    def _pump(self) -> None:
        self._timer = None
        while self._waiters:
            if self._waiters[0][2].done():  # cancelled while waiting
                heapq.heappop(self._waiters)
                continue
            wait = self.window.wait()
            if wait > 0:
                self._timer = self._loop.call_later(wait, self._pump)
                return
            _, _, future = heapq.heappop(self._waiters)
            self.window.take()
            future.set_result(None)


class Sender:
    """Sends one platform's outbox rows. `drain()` sends everything due now and returns."""

    def __init__(self, app: App, adapter: Adapter) -> None:
        self.app = app
        self.adapter = adapter
        self.platform = adapter.platform
        self.settings = app.config.outbox
        # This sender's claims; a restarted process gets a new one, so what the old one
        # left is recognisably not alive.
        self.token = uuid.uuid4().hex
        inline = adapter.drains_inline
        self.ack_wait = 0.0 if inline else self.settings.ack_wait
        self.ack_interval = 0.0 if inline else self.settings.ack_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._chats: dict[str, asyncio.Task[None]] = {}
        self._queues: dict[str, deque[Row]] = {}
        self._windows: dict[str, Window] = {}
        self._gate: Gate | None = None
        self._cycles = 0
        self._expired_at: datetime | None = None
        self._lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._gate = Gate(self.adapter.limits.overall)
        self._recover()
        if not self.adapter.drains_inline:
            self._task = asyncio.create_task(self._run(), name=f"outbox-{self.platform}")

    async def stop(self) -> None:
        """Stop claiming, let sends in flight finish within the stop grace, queue the rest."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        chats = list(self._chats.values())
        if chats:
            _, late = await asyncio.wait(chats, timeout=self.settings.stop_grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._chats.clear()

        def release() -> int:
            with transaction(self.app.engine) as conn:
                return store.release(conn, self.token)

        try:
            with_retry(release)
        except Exception:
            log.exception("could not return claimed messages to the outbox")

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def drain(self) -> None:
        """Send everything due now, chat by chat in the order it was queued, then return."""
        while not self._stopping:
            # Set again while sending when a send queued more (a nudge, an escalation).
            self._wake.clear()
            async with self._lock:
                rows = self._claim()
            if not rows:
                return
            waiting: set[str] = set()
            for batch in _batches(sorted(rows, key=lambda r: r.id)):
                if batch[0].chat_id in waiting:
                    # Its chat waits for a retry: these go back, to keep the chat's order.
                    self._release([r.id for r in batch])
                    continue
                if await self._send(batch) is Status.QUEUED:
                    waiting.add(batch[0].chat_id)
            if len({r.chat_id for r in rows}) < store.CLAIM_CHATS and not self._wake.is_set():
                # The claim took every chat that was due and the sends queued nothing new:
                # another claim would find nothing until the next commit.
                return

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._cycle()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the %s outbox sender failed a cycle; retrying", self.platform)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll)

    async def _cycle(self) -> None:
        self._cycles += 1
        if self._cycles % _RECOVER_EVERY == 0:
            self._recover()
        async with self._lock:
            rows = self._claim()
        by_chat: dict[str, list[Row]] = {}
        for row in rows:
            by_chat.setdefault(row.chat_id, []).append(row)
        for chat_id, chat_rows in by_chat.items():
            chat_rows.sort(key=lambda r: r.id)
            if chat_id in self._queues:
                # Its task is still finishing the last row: it takes these too, in order.
                self._queues[chat_id].extend(chat_rows)
                continue
            queue = deque(chat_rows)
            self._queues[chat_id] = queue
            task = asyncio.create_task(self._chat(chat_id, queue), name=f"outbox-chat-{chat_id}")
            self._chats[chat_id] = task

    def _claim(self) -> list[Row]:
        """Expire what is past its deadline, then claim what is due (nothing while not ready)."""
        now = self.app.clock.now()
        ready = self.adapter.ready
        reason = "platform not ready" if not ready else "not sent before the deadline"

        # Deadlines are minutes apart: looking once a second (on the bot's clock) is enough.
        expire = self._expired_at is None or now - self._expired_at >= timedelta(seconds=1)
        if expire:
            self._expired_at = now

        def work() -> tuple[list[Row], list[Row]]:
            with transaction(self.app.engine) as conn:
                expired = store.expire_overdue(conn, self.platform, now, reason) if expire else []
                if not ready or self._stopping:
                    return expired, []
                claimed = store.claim_due(
                    conn,
                    self.platform,
                    self.token,
                    now,
                    ack_wait=self.ack_wait,
                    ack_interval=self.ack_interval,
                    chats=store.CLAIM_CHATS,
                )
                return expired, claimed

        expired, claimed = with_retry(work)
        for row in expired:
            log.warning(
                "a %s message to %s %s expired: %s",
                row.kind,
                "group" if row.is_group else "account",
                row.chat_id,
                row.reason,
            )
        for row in expired:
            self._escalate([row], row.reason or reason)
        self._forget_files(expired)
        return claimed

    async def _chat(self, chat_id: str, queue: deque[Row]) -> None:
        """One chat's rows, in order; a retry later holds back the rest of the chat."""
        try:
            while queue and not self._stopping:
                batch = _take_batch(queue)
                outcome = await self._send(batch)
                if outcome is Status.QUEUED and queue:
                    # The chat waits for the retry: its other rows go back, to keep the order.
                    self._release([r.id for r in queue])
                    queue.clear()
        except Exception:
            # What was claimed and not recorded is taken over after the lease.
            log.exception("the %s sender failed in chat %s", self.platform, chat_id)
        finally:
            self._chats.pop(chat_id, None)
            self._queues.pop(chat_id, None)
            if queue:
                self._release([r.id for r in queue])
            self._wake.set()

    def _release(self, row_ids: Sequence[int]) -> None:
        def work() -> None:
            with transaction(self.app.engine) as conn:
                store.release_rows(conn, row_ids, self.token)

        with_retry(work)

    # -- one send ------------------------------------------------------------------------------

    def _window(self, row: Row) -> Window:
        window = self._windows.get(row.chat_id)
        if window is None:
            limits = self.adapter.limits
            rate = limits.group if row.is_group else limits.private
            window = Window(rate, asyncio.get_running_loop().time)
            self._windows[row.chat_id] = window
        return window

    async def _send(self, batch: list[Row]) -> Status:
        """Send one message (several merged acknowledgements are one); returns its new status."""
        head = batch[0]
        window = self._window(head)
        wait = window.wait()
        while wait > 0:
            await asyncio.sleep(wait)
            wait = window.wait()
        if self._gate is not None:
            await self._gate.turn(min(r.priority for r in batch))
        window.take()
        ids = [r.id for r in batch]
        if self.app.clock.now() > min(r.deadline for r in batch):
            # Its deadline passed while it waited for its turn.
            self._record(batch, Status.EXPIRED, head.reason or "not sent before the deadline")
            return Status.EXPIRED
        try:
            message = self._message(batch)
        except OSError as e:
            # The file behind a queued attachment is gone (purged, or the disk was cleaned).
            self._record(batch, Status.UNREACHABLE, f"file missing: {e.strerror}")
            return Status.UNREACHABLE
        now = self.app.clock.now()

        def start() -> bool:
            with transaction(self.app.engine) as conn:
                return store.start_sending(conn, ids, self.token, now)

        if not with_retry(start):
            log.info("outbox rows %s were taken over by another sender", ids)
            return Status.CLAIMED
        to = ChatAddress(self.platform, head.chat_id, head.is_group)
        try:
            await self.adapter.send(to, message)
        except Unreachable as e:
            self._record(batch, Status.UNREACHABLE, e.reason)
            return Status.UNREACHABLE
        except Transient as e:
            if e.retry_after:
                window.block(e.retry_after)
            elif not e.maybe_sent:
                window.refund()
                if self._gate is not None:
                    self._gate.window.refund()
            return self._transient(batch, e.reason, maybe_sent=e.maybe_sent, after=e.retry_after)
        except SendFailed as e:
            # The platform refused this message, not the account: no retry would help.
            self._record(batch, Status.EXPIRED, f"refused: {e.reason}")
            return Status.EXPIRED
        except asyncio.CancelledError:
            # Stopped past the grace while the platform held the send: it may have gone out.
            self._transient(batch, "stopped while sending", maybe_sent=True, after=None)
            raise
        except Exception as e:
            log.exception("sending to %s failed unexpectedly", self.platform)
            return self._transient(batch, _describe(e), maybe_sent=True, after=None)
        self._record(batch, Status.SENT, None)
        return Status.SENT

    def _message(self, batch: list[Row]) -> OutgoingMessage:
        if batch[0].kind == Kind.ACK.value:
            return merged_ack(batch, self.app.config.bot.language)
        return message_of(batch[0])

    def _transient(
        self, batch: list[Row], reason: str, *, maybe_sent: bool, after: float | None
    ) -> Status:
        head = batch[0]
        if head.is_group and maybe_sent:
            # A group message is never sent twice: it may have arrived.
            self._record(batch, Status.EXPIRED, f"maybe sent: {reason}")
            return Status.EXPIRED
        now = self.app.clock.now()
        delay = after or min(
            self.settings.first_retry * 2 ** min(head.attempts, 20), self.settings.max_retry
        )
        next_at = now + timedelta(seconds=delay)
        if next_at > min(r.deadline for r in batch):
            self._record(batch, Status.EXPIRED, reason)
            return Status.EXPIRED
        log.info("sending to %s failed (%s); retrying in %.1fs", self.platform, reason, delay)

        def work() -> None:
            with transaction(self.app.engine) as conn:
                store.retry(conn, [r.id for r in batch], self.token, next_at, reason)

        with_retry(work)
        return Status.QUEUED

    def _record(self, batch: list[Row], status: Status, reason: str | None) -> None:
        now = self.app.clock.now()
        head = batch[0]

        def work() -> bool:
            if status is Status.UNREACHABLE and not head.is_group:
                # The account is marked with the true reason, and asked once in a group.
                with self.app.uow() as session:
                    conn = session.connection()
                    store.finish(conn, [r.id for r in batch], self.token, status, now, reason)
                    identity.mark_unreachable(conn, self.platform, head.chat_id, reason or "", now)
                    return self.app.outbox.nudge(session, self.platform, head.chat_id, None, now)
            with transaction(self.app.engine) as conn:
                store.finish(conn, [r.id for r in batch], self.token, status, now, reason)
            return False

        if with_retry(work):
            self._wake.set()
        if status is not Status.SENT:
            self._escalate(batch, reason or status.value)
            log.warning(
                "a %s message to %s on %s is %s: %s",
                head.kind,
                "a group" if head.is_group else "an account",
                self.platform,
                status.value,
                reason,
            )
        self._forget_files(batch)

    def _escalate(self, batch: Sequence[Row], reason: str) -> None:
        head = batch[0]
        if (
            head.is_group
            or head.kind != Kind.ALERT.value
            or not ({"health", "care"} & set(head.body.get("tags", ())))
        ):
            return
        now = self.app.clock.now()

        def work() -> bool:
            with self.app.uow() as session:
                return self.app.outbox.escalate(session, head, reason, now)

        try:
            if with_retry(work):
                self.app.wake_all()
        except Exception:
            log.exception("could not take an undelivered alert one level up")

    def _forget_files(self, rows: Sequence[Row]) -> None:
        """Delete attachment files no row still needs (they hold health data)."""
        paths = {r.attachment[0] for r in rows if r.attachment is not None}
        if not paths:
            return

        def work() -> set[str]:
            with transaction(self.app.engine, readonly=True) as conn:
                return store.files_still_needed(conn, paths)

        for path in paths - with_retry(work):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)

    def _recover(self) -> None:
        now = self.app.clock.now()
        lease = timedelta(seconds=self.settings.claim_lease)

        def work() -> store.Recovered:
            with transaction(self.app.engine) as conn:
                return store.recover(conn, self.platform, self.token, now, lease)

        found = with_retry(work)
        if found.requeued or found.expired:
            log.warning(
                "outbox (%s): took over %d messages a stopped sender left; %d group messages "
                "that may have gone out are not sent again",
                self.platform,
                found.requeued,
                found.expired,
            )


def _take_batch(queue: deque[Row]) -> list[Row]:
    """The next message: one row, or every acknowledgement of the head's key to the head's
    chat in the queue (the inline drain holds several chats: another group's names and
    counts never join this group's message)."""
    head = queue.popleft()
    if head.kind != Kind.ACK.value:
        return [head]
    batch = [head]
    rest: deque[Row] = deque()
    while queue:
        row = queue.popleft()
        if (
            row.kind == Kind.ACK.value
            and row.coalesce_key == head.coalesce_key
            and (row.chat_id, row.is_group) == (head.chat_id, head.is_group)
        ):
            batch.append(row)
        else:
            rest.append(row)
    queue.extend(rest)
    return batch


def _batches(rows: Sequence[Row]) -> list[list[Row]]:
    queue = deque(rows)
    out = []
    while queue:
        out.append(_take_batch(queue))
    return out


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
