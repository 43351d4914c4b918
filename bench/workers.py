"""Several `classbot worker` processes over one PostgreSQL database (SPEC §9): how many
stored Telegram updates a second one worker handles, and two, and how busy the machine was.

The updates are written to the inbox as the intake would write them (`classbot run
--intake-only` stores each before Telegram is told it arrived): every student of the school
checks in once in their class group, the classes interleaved as on a real morning. The
workers run as real `classbot worker` processes against the fake Bot API over loopback HTTP,
so they send their replies too; the time is from the commit of the updates until every one
is marked handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, func, insert, select, text

from bench.school import School
from storage import db
from storage.models import InboundMessage

# How long the workers may take to start, and to handle a run's updates.
READY_S = 30.0
DONE_S = 600.0
STOP_S = 30.0


@dataclass
class WorkerRun:
    workers: int
    updates: int
    seconds: float
    # User + system CPU of the worker processes, and the share of the machine's CPUs that
    # was busy meanwhile (the database server and the fake Bot API included).
    workers_cpu_s: float
    machine_busy: float

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def bind_telegram(engine: Engine) -> None:
    """Everyone's Telegram account (user id = 学号) and each class's group (-1,000,000 - id)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO chat_accounts (platform, platform_user_id, person_id, display_name,"
                " bound_at) SELECT 'telegram', number, id, name, :now FROM people"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO group_chats (platform, chat_id, class_id, title, bound_at)"
                " SELECT 'telegram', CAST(-1000000 - id AS text), id, code, :now FROM classes"
            ),
            {"now": now},
        )


def store_updates(engine: Engine, school: School, first_id: int, day: datetime) -> int:
    """One group check-in per student, written to the inbox in one transaction."""
    with engine.connect() as conn:
        groups = {code: cid for code, cid in conn.execute(text("SELECT code, id FROM classes"))}
        names = {n: name for n, name in conn.execute(text("SELECT number, name FROM people"))}
    by_class: dict[str, list[str]] = {}
    for number, code in school.class_of.items():
        by_class.setdefault(code, []).append(number)
    order = [
        members[i]
        for i in range(max(len(m) for m in by_class.values()))
        for members in by_class.values()
        if i < len(members)
    ]
    rows = []
    for k, number in enumerate(order):
        code = school.class_of[number]
        update_id = first_id + k
        payload = {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": int(day.timestamp()),
                "chat": {"id": -1_000_000 - groups[code], "type": "group", "title": code},
                "from": {"id": int(number), "is_bot": False, "first_name": names[number]},
                "text": "打卡 36.5",
            },
        }
        rows.append(
            {
                "platform": "telegram",
                "key": f"update:{update_id}",
                "payload": json.dumps(payload, ensure_ascii=False),
                "received_at": day,
                "processed_at": None,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(InboundMessage), rows)
    return len(rows)


@dataclass
class _Workers:
    procs: list[subprocess.Popen[bytes]]
    logs: list[IO[bytes]]


def _start(config: Path, count: int, directory: Path) -> _Workers:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PTB_TIMEDELTA": "1"}
    command = [sys.executable, "-m", "bot", "worker", "--platform", "telegram", "-c", str(config)]
    logs: list[IO[bytes]] = [
        (directory / f"worker-{count}-{i}.log").open("ab") for i in range(count)
    ]
    procs = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env) for log in logs
    ]
    return _Workers(procs, logs)


async def _stop(workers: _Workers) -> float:
    """SIGTERM each worker and wait for it, the event loop running (the fake Bot API the
    workers finish their sends on is served by this process): the user + system CPU they
    used. A worker still running after `STOP_S` is killed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for p in workers.procs:
        p.send_signal(signal.SIGTERM)
    with contextlib.suppress(RuntimeError):
        await _until(lambda: all(p.poll() is not None for p in workers.procs), STOP_S)
    for p in workers.procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    for log in workers.logs:
        log.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


async def _until(check: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("the workers took too long; see worker-*.log in the bench's dir")
        await asyncio.sleep(0.05)


def _pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(InboundMessage)
                .where(InboundMessage.processed_at.is_(None))
            )
            or 0
        )


async def run_workers(
    url: str, directory: Path, school: School, counts: tuple[int, ...] = (1, 2)
) -> list[WorkerRun]:
    """One run per number of workers, each over a fresh day of the school's check-ins.
    `url` is a PostgreSQL database with the school imported and its people consented."""
    from tests.fakes.telegram_api import TOKEN, FakeBotApi

    engine = db.make_engine(url)
    api = FakeBotApi()
    await api.start()
    config = directory / "workers.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n'
        f'[telegram]\ntoken = "{TOKEN}"\nbase_url = "{api.base_url}"\n'
        f'base_file_url = "{api.base_file_url}"\n'
        "[outbox]\nack_wait = 0\nack_interval = 0\n"
        f'files_dir = "{directory / "worker-files"}"\n',
        encoding="utf-8",
    )
    out: list[WorkerRun] = []
    try:
        bind_telegram(engine)
        first_id = 1
        # Past days, one per run (a message from the future counts as sent now): each run's
        # check-ins are new rows, as on a fresh morning.
        day = datetime.now(UTC) - timedelta(days=len(counts))
        for n, count in enumerate(counts):
            started = len(api.calls("getMe")) + count

            def ready(started: int = started) -> bool:
                return len(api.calls("getMe")) >= started

            procs = _start(config, count, directory)
            try:
                await _until(ready, READY_S)
                await asyncio.sleep(1.0)
                updates = store_updates(engine, school, first_id, day + timedelta(days=n))
                first_id += updates
                busy0, total0 = _cpu_times()
                start = time.perf_counter()
                await _until(lambda: not _pending(engine), DONE_S)
                seconds = time.perf_counter() - start
                busy1, total1 = _cpu_times()
            finally:
                cpu = await _stop(procs)
            out.append(
                WorkerRun(
                    count,
                    updates,
                    seconds,
                    cpu,
                    (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0,
                )
            )
    finally:
        await api.stop()
        engine.dispose()
    return out
