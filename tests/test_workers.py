"""Several processes sharing one PostgreSQL database: three handle the same messages (as
workers reading one inbox would, redeliveries included) and three senders share the outbox.
Every message is handled once, every reply is sent once, and each chat keeps its order.

PostgreSQL only: SQLite deployments run one process."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.adapters.testing import TestAdapter
from bot.app import build_app
from bot.clock import ManualClock
from bot.messages import ChatAddress, IncomingMessage, OutgoingMessage
from storage import demo
from storage.models import CheckInRevision, InboundMessage, OutboxMessage, Person
from tests.conftest import START, make_config, pg_only

WORKERS = 3
STUDENTS = [str(2020001 + i) for i in range(20)]
# Each student checks in three times: the last one counts, every one is a revision.
TEMPS = ("36.4", "36.5", "36.6")


class LoggingAdapter(TestAdapter):
    """A platform whose sends go to one file shared by every process, in the order sent."""

    __test__ = False
    drains_inline = False

    def __init__(self, log: Path) -> None:
        super().__init__()
        self.log = log

    async def send(self, to: ChatAddress, message: OutgoingMessage) -> None:
        # A platform's round trip: long enough for the other senders to claim meanwhile.
        await asyncio.sleep(0.05)
        line = json.dumps([os.getpid(), to.chat_id, message.text], ensure_ascii=False)
        # One append per line: atomic across processes.
        with self.log.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def messages() -> list[IncomingMessage]:
    out = []
    for k, temp in enumerate(TEMPS):
        for number in STUDENTS:
            out.append(
                IncomingMessage(
                    platform="test",
                    chat_id=number,
                    is_group=False,
                    sender_id=number,
                    text=f"打卡 {temp}",
                    sent_at=START + timedelta(hours=2, minutes=k),
                    message_id=f"{number}-{k}",
                    sender_name=number,
                )
            )
    return out


def worker(url: str, files: Path, log: Path) -> None:
    asyncio.run(_work(url, files, log))


async def _work(url: str, files: Path, log: Path) -> None:
    config = make_config(url, outbox={"files_dir": str(files), "poll": 0.05})
    app = build_app(config, ManualClock(START + timedelta(hours=2, minutes=5)), scheduler=False)
    app.add_adapter(LoggingAdapter(log))
    await app.start()
    try:
        for msg in messages():
            app.dispatcher.process(msg)
            app.wake_all()
            # Let this process's sender claim while the others are still handling.
            await asyncio.sleep(0.01)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with app.uow(readonly=True) as s:
                left = s.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status.in_(("queued", "claimed", "sending")))
                )
            if not left:
                break
            await asyncio.sleep(0.1)
    finally:
        await app.stop()
        app.engine.dispose()


@pg_only
def test_three_workers_handle_once_send_once_and_keep_each_chats_order(
    database_url: str, tmp_path: Path
) -> None:
    config = make_config(database_url)
    app = build_app(config, ManualClock(START), scheduler=False)
    with app.uow() as s:
        demo.seed(s, START, platforms=("test",), consent_version=config.privacy.notice_version)
    app.engine.dispose()
    log = tmp_path / "sent.jsonl"
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=worker, args=(database_url, tmp_path / f"files{i}", log))
        for i in range(WORKERS)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * WORKERS

    app = build_app(config, ManualClock(START), scheduler=False)
    try:
        with app.uow(readonly=True) as s:
            # Handled once: one inbound claim and one revision per message.
            assert s.scalar(select(func.count()).select_from(InboundMessage)) == 60
            revisions = s.execute(
                select(Person.number, CheckInRevision.revision, CheckInRevision.temp_tenths)
                .join(Person, Person.id == CheckInRevision.student_id)
                .order_by(Person.number, CheckInRevision.revision)
            ).all()
            rows = s.execute(
                select(OutboxMessage.chat_id, OutboxMessage.body, OutboxMessage.status)
                .where(OutboxMessage.platform == "test")
                .order_by(OutboxMessage.id)
            ).all()
    finally:
        app.engine.dispose()
    by_student: dict[str, list[int]] = defaultdict(list)
    for number, _revision, tenths in revisions:
        by_student[number].append(tenths)
    # Each chat handled in the order it wrote: revision 1, 2, 3 are 36.4, 36.5, 36.6.
    assert by_student == {n: [364, 365, 366] for n in STUDENTS}

    # Sent once each, every reply, and in each chat in the order queued.
    assert {status for _, _, status in rows} == {"sent"}
    queued: dict[str, list[str]] = defaultdict(list)
    for chat, body, _ in rows:
        queued[chat].append(json.loads(body or "{}")["text"])
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    sent: dict[str, list[str]] = defaultdict(list)
    for _, chat, text in lines:
        sent[chat].append(text)
    assert len(lines) == len(rows) == 60
    assert sent == queued
    # The sending was shared: more than one process sent.
    assert len({pid for pid, _, _ in lines}) > 1
