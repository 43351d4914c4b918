"""The benchmark: one school day at university scale, through the real router, jobs and ledger.

A synthetic school is imported through the real roster import; every student checks in once
in their class group (90% before the 11:00 deadline, the rest late, before 12:00); the 11:00
reminder and the 12:00 roll-up run through the real job runner; and a Telegram fan-out goes
through the real python-telegram-bot adapter to the fake Bot API server on loopback.
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bench.burst import Burst, run_burst
from bench.school import School, SchoolSize, generate
from bench.workers import WorkerRun, run_workers
from bot.adapters.testing import TestAdapter
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.config import load_config
from bot.messages import ChatAddress, Envelope, OutgoingMessage
from storage import charts, db, demo, reports, xlsx
from storage.models import CheckIn
from storage.roster import (
    STAFF_HEADERS,
    STAFF_SHEET,
    STUDENT_HEADERS,
    STUDENT_SHEET,
    import_roster,
    read_roster,
)

TZ = ZoneInfo("Asia/Shanghai")
# A Tuesday: a plain school day, with no weekly job in the way of the daily ones.
DAY = date(2026, 11, 24)
# Share of students who check in after the 11:00 deadline (and so are reminded).
LATE_SHARE = 0.10
# Share of check-ins with a fever: their counselor is alerted privately.
FEVER_SHARE = 0.01
# Telegram's documented limits, which the outbox sender enforces.
TELEGRAM_RATE = 30.0
TELEGRAM_GROUP_RATE_PER_MINUTE = 20

# The targets, per database, at 67,000 students.
TARGETS: dict[str, dict[str, float]] = {
    "sqlite": {
        "checkin_rate": 5000.0,
        "checkin_p99_ms": 5.0,
        "deadline_s": 2.0,
        "rollup_s": 10.0,
        "peak_rss_mb": 250.0,
        "import_rss_mb": 300.0,
        "fanout_ratio": 1.25,
    },
    "postgresql": {
        "checkin_rate": 1500.0,
        "checkin_p99_ms": 20.0,
        "deadline_s": 2.0,
        "rollup_s": 10.0,
        "peak_rss_mb": 250.0,
        "import_rss_mb": 300.0,
        "fanout_ratio": 1.25,
    },
}
# Rows per floor sample: enough for a steady rate, short enough to take six of.
FLOOR_ROWS = {"sqlite": 20_000, "postgresql": 3_000}
FLOOR_SAMPLES = 3
# A run whose floor samples spread wider than this (max - min over the median) is flagged.
FLOOR_SPREAD = 0.20


def progress(text: str) -> None:
    """A line on stderr, so a long run shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def at(hh: int, mm: int = 0) -> datetime:
    return datetime.combine(DAY, datetime.min.time(), tzinfo=TZ).replace(hour=hh, minute=mm)


@dataclass
class Results:
    """Every figure of one run, as printed and as written to JSON."""

    students: int
    classes: int
    colleges: int
    counselors: int
    database: str
    seed_s: float = 0.0
    checkins: int = 0
    checkin_rows: int = 0
    checkin_s: float = 0.0
    # CPU time of this process while checking in: wall time minus waiting (and other load).
    checkin_cpu_s: float = 0.0
    checkin_rate: float = 0.0
    checkin_p50_ms: float = 0.0
    checkin_p99_ms: float = 0.0
    # Router + storage alone (no sending), timed inside the same check-ins.
    intake_s: float = 0.0
    intake_rate: float = 0.0
    intake_p50_ms: float = 0.0
    intake_p99_ms: float = 0.0
    # The next morning's first check-ins through `process_batch`, 40 to a commit.
    batch_size: int = 0
    batch_checkins: int = 0
    batch_rate: float = 0.0
    batch_rows: int = 0
    # The raw single-row-commit floor of this database, before and after the day.
    raw_inserts: int = 0
    raw_rate: float = 0.0
    raw_settings: str = ""
    floor_before: list[float] = field(default_factory=list)
    floor_after: list[float] = field(default_factory=list)
    missing_students: int = 0
    missing_classes: int = 0
    deadline_s: float = 0.0
    deadline_cpu_s: float = 0.0
    # Of a job's time, what the test adapter's inline sending took (`App.sent`): a real
    # platform's sender sends on its own, paced by the platform's limits.
    deadline_sends_s: float = 0.0
    reminders: int = 0
    deadline_private: int = 0
    rollup_s: float = 0.0
    rollup_sends_s: float = 0.0
    # PostgreSQL: `classbot worker` processes over the stored updates, one and then two.
    workers: list[WorkerRun] = field(default_factory=list)
    rollup_cpu_s: float = 0.0
    rollup_messages: int = 0
    rollup_ledgers: int = 0
    # The admins' PNG charts inside the 12:00 job, and what drawing them alone costs.
    rollup_charts: int = 0
    chart_bytes: int = 0
    chart_render_s: float = 0.0
    chart_render_cpu_s: float = 0.0
    school_ledger_bytes: int = 0
    school_ledger_rows: int = 0
    # The bot's day (this process), and the roster import (a process of its own).
    peak_rss_mb: float = 0.0
    import_rss_mb: float = 0.0
    import_rows: int = 0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fanout: int = 0
    fanout_s: float = 0.0
    fanout_floor_s: float = 0.0
    fanout_sent: int = 0
    burst: Burst | None = None
    machine: dict[str, str] = field(default_factory=dict)

    @property
    def raw_ratio(self) -> float:
        return self.checkin_rate / self.raw_rate if self.raw_rate else 0.0

    @property
    def intake_ratio(self) -> float:
        return self.intake_rate / self.raw_rate if self.raw_rate else 0.0

    @property
    def batch_ratio(self) -> float:
        return self.batch_rate / self.raw_rate if self.raw_rate else 0.0

    @property
    def floor_spread(self) -> float:
        """(max - min) / median over the six floor samples."""
        samples = self.floor_before + self.floor_after
        if not samples or not self.raw_rate:
            return 0.0
        return (max(samples) - min(samples)) / self.raw_rate

    @property
    def floor_flagged(self) -> bool:
        return self.floor_spread > FLOOR_SPREAD

    @property
    def fanout_ratio(self) -> float:
        return self.fanout_s / self.fanout_floor_s if self.fanout_floor_s else 0.0

    @property
    def targets(self) -> dict[str, float]:
        return TARGETS.get(self.database, TARGETS["postgresql"])

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["burst"] = asdict(self.burst) if self.burst is not None else None
        out["workers"] = [{**asdict(w), "rate": w.rate} for w in self.workers]
        out["raw_ratio"] = self.raw_ratio
        out["intake_ratio"] = self.intake_ratio
        out["batch_ratio"] = self.batch_ratio
        out["floor_spread"] = self.floor_spread
        out["floor_flagged"] = self.floor_flagged
        out["fanout_ratio"] = self.fanout_ratio
        out["targets"] = self.targets
        out["met"] = self.met()
        return out

    def met(self) -> dict[str, bool]:
        t = self.targets
        met = {
            "checkin_rate": self.checkin_rate >= t["checkin_rate"],
            "checkin_p99_ms": self.checkin_p99_ms <= t["checkin_p99_ms"],
            "deadline_s": self.deadline_s <= t["deadline_s"],
            "rollup_s": self.rollup_s <= t["rollup_s"],
            "peak_rss_mb": self.peak_rss_mb <= t["peak_rss_mb"],
            "import_rss_mb": self.import_rss_mb <= t["import_rss_mb"],
        }
        if self.fanout:
            met["fanout_ratio"] = self.fanout_ratio <= t["fanout_ratio"]
        return met


def machine() -> dict[str, str]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"

    mem = run("free", "-h").splitlines()
    return {
        "nproc": run("nproc"),
        "memory": mem[1].split()[1] if len(mem) > 1 else "?",
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    rss = resource.getrusage(who).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the database -----------------------------------------------------------------------------


def fresh_database(url: str) -> None:
    """An empty, migrated database at `url` (PostgreSQL: its public schema is recreated)."""
    if not url.startswith("sqlite"):
        engine = db.make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    db.upgrade(url)


def sqlite_floor(directory: Path, n: int) -> tuple[float, str]:
    """Rows per second of plain sqlite3: one row inserted and committed per transaction."""
    path = directory / "raw.db"
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    # The app's own settings (storage/db.py), so the comparison is fair.
    settings = "journal_mode=WAL, synchronous=NORMAL, BEGIN IMMEDIATE per row"
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE checkins (id INTEGER PRIMARY KEY, student_id INTEGER NOT NULL,"
        " day TEXT NOT NULL, temp_tenths INTEGER NOT NULL, submitted_at TEXT NOT NULL,"
        " UNIQUE (student_id, day))"
    )
    now = datetime.now().isoformat()
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO checkins (student_id, day, temp_tenths, submitted_at) VALUES (?,?,?,?)",
            (i, "2026-11-23", 365, now),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    path.unlink(missing_ok=True)
    return n / elapsed, settings


def postgres_floor(url: str, n: int) -> tuple[float, str]:
    """Rows per second of plain psycopg on the bench's own PostgreSQL: one row inserted and
    committed per transaction, over the same connection settings as the bot's."""
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    settings = "psycopg, one INSERT + COMMIT per row, server defaults (synchronous_commit on)"
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        conn.execute(
            "CREATE TABLE bench_floor (id SERIAL PRIMARY KEY, student_id INTEGER NOT NULL,"
            " day DATE NOT NULL, temp_tenths INTEGER NOT NULL,"
            " submitted_at TIMESTAMPTZ NOT NULL, UNIQUE (student_id, day))"
        )
        conn.commit()
        now = datetime.now(TZ)
        start = time.perf_counter()
        for i in range(n):
            conn.execute(
                "INSERT INTO bench_floor (student_id, day, temp_tenths, submitted_at)"
                " VALUES (%s, %s, %s, %s)",
                (i, DAY, 365, now),
            )
            conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_floor")
        conn.commit()
    return n / elapsed, settings


def floor_samples(url: str, directory: Path, rows: int, samples: int) -> tuple[list[float], str]:
    """`samples` measurements of this database's raw single-row-commit floor."""
    out = []
    settings = ""
    for _ in range(samples):
        if url.startswith("sqlite"):
            rate, settings = sqlite_floor(directory, rows)
        else:
            rate, settings = postgres_floor(url, rows)
        out.append(rate)
    return out, settings


# -- the school day ---------------------------------------------------------------------------


def write_roster(school: School, path: Path) -> int:
    """The synthetic school as the roster workbook a school would upload (the template's
    sheets and headers); returns its data rows."""
    book = xlsx.Workbook()
    students = book.add_sheet(STUDENT_SHEET, [*STUDENT_HEADERS, "状态"], [14] * 7)
    for row in school.roster.students:
        students.append(
            [row.number, row.name, row.college, row.class_code, row.role, row.phone or "", "在读"]
        )
    staff = book.add_sheet(STAFF_SHEET, STAFF_HEADERS, [14] * 6)
    for s in school.roster.staff:
        staff.append([s.number, s.name, s.role, s.college, "、".join(s.classes), s.phone or ""])
    path.write_bytes(book.save())
    return len(school.roster.students) + len(school.roster.staff)


def _import(url: str, path: Path, now: datetime, consent_version: int, report: Connection) -> None:
    """The roster import, as `classbot roster import` runs it (its peak memory is reported
    back), then everyone's binding (the bench's own set-up, not measured)."""
    engine = db.make_engine(url)
    try:
        data, errors = read_roster(path)
        if errors:
            raise RuntimeError(f"the bench roster does not read: {errors[:3]}")
        with db.unit_of_work(db.make_sessionmaker(engine)) as session:
            import_roster(session, data, now)
        del data
        report.send(peak_rss_mb())
        with db.unit_of_work(db.make_sessionmaker(engine)) as session:
            demo.bind_everyone(session, now, platforms=("test",), consent_version=consent_version)
    finally:
        engine.dispose()


def seed_school(app: App, school: School, directory: Path) -> tuple[float, int]:
    """Import the roster from its workbook in a process of its own, so its peak memory is
    measured apart from the bot's day; returns (that peak in MB, rows imported)."""
    path = directory / "roster.xlsx"
    rows = write_roster(school, path)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_import,
        args=(
            app.config.database.url,
            path,
            app.clock.now(),
            app.config.privacy.notice_version,
            send,
        ),
    )
    child.start()
    send.close()
    child.join()
    if child.exitcode != 0 or not receive.poll():
        raise RuntimeError(f"the roster import failed (exit code {child.exitcode})")
    peak = float(receive.recv())
    path.unlink()
    return peak, rows


async def check_in(
    app: App, bot: TestAdapter, numbers: list[str], school: School, rng: random.Random
) -> list[tuple[float, float]]:
    """Each student in `numbers` checks in once in their class group; per message, the
    intake latency and the latency with the inline sends."""
    latencies = []
    for number in numbers:
        temp = "37.8" if rng.random() < FEVER_SHARE else f"36.{rng.randrange(1, 9)}"
        msg = bot.message(number, f"打卡 {temp}", group=school.class_of[number])
        start = time.perf_counter()
        # App.handle, in its two parts: intake (router + storage), then the inline sends.
        app.dispatcher.process(msg)
        handled = time.perf_counter()
        await app.sent()
        latencies.append((handled - start, time.perf_counter() - start))
    bot.clear()
    return latencies


@contextlib.contextmanager
def timed_sends(app: App) -> Iterator[list[float]]:
    """The time spent in `App.sent` meanwhile (the inline sends), in the list's one item."""
    spent = [0.0]
    real = app.sent

    async def sent() -> None:
        start = time.perf_counter()
        try:
            await real()
        finally:
            spent[0] += time.perf_counter() - start

    app.sent = sent  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        del app.sent


async def school_day(app: App, bot: TestAdapter, school: School, r: Results, seed: int) -> None:
    clock = app.clock
    assert isinstance(clock, ManualClock)
    assert app.scheduler is not None
    rng = random.Random(seed)
    numbers = list(school.class_of)
    rng.shuffle(numbers)
    late_count = round(len(numbers) * LATE_SHARE)
    on_time, late = numbers[late_count:], numbers[:late_count]

    clock.set(at(7))
    await app.scheduler.run_due()
    bot.clear()

    progress("checking in before the deadline")
    clock.set(at(8))
    start, cpu = time.perf_counter(), time.process_time()
    latencies = await check_in(app, bot, on_time, school, rng)
    elapsed = time.perf_counter() - start
    r.checkin_cpu_s = time.process_time() - cpu

    progress("the 11:00 job")
    # 11:00: the overdue computation and a reminder to every class with someone missing.
    clock.set(at(11))
    start, cpu = time.perf_counter(), time.process_time()
    with timed_sends(app) as sends:
        await app.scheduler.run_due()
    r.deadline_s = time.perf_counter() - start
    r.deadline_sends_s = sends[0]
    r.deadline_cpu_s = time.process_time() - cpu
    r.missing_students = len(late)
    r.missing_classes = len({school.class_of[n] for n in late})
    r.reminders = sum(1 for s in bot.sent if s.to.is_group and s.text.startswith("⏰"))
    r.deadline_private = sum(1 for s in bot.sent if not s.to.is_group)
    bot.clear()

    progress("late check-ins")
    clock.set(at(11, 30))
    start, cpu = time.perf_counter(), time.process_time()
    latencies += await check_in(app, bot, late, school, rng)
    elapsed += time.perf_counter() - start
    r.checkin_cpu_s += time.process_time() - cpu
    r.checkins = len(latencies)
    r.checkin_s = elapsed
    r.checkin_rate = len(latencies) / elapsed if elapsed else 0.0
    whole = [t for _, t in latencies]
    r.checkin_p50_ms = statistics.median(whole) * 1000 if whole else 0.0
    r.checkin_p99_ms = percentile(whole, 0.99) * 1000
    intake = [t for t, _ in latencies]
    r.intake_s = sum(intake)
    r.intake_rate = len(intake) / r.intake_s if r.intake_s else 0.0
    r.intake_p50_ms = statistics.median(intake) * 1000 if intake else 0.0
    r.intake_p99_ms = percentile(intake, 0.99) * 1000
    with app.uow(readonly=True) as session:
        r.checkin_rows = int(
            session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.day == DAY)) or 0
        )

    progress("the 12:00 job")
    # 12:00: every counselor's and college's summary and ledger, and the school's.
    clock.set(at(12))
    start, cpu = time.perf_counter(), time.process_time()
    with timed_sends(app) as sends:
        await app.scheduler.run_due()
    r.rollup_s = time.perf_counter() - start
    r.rollup_sends_s = sends[0]
    r.rollup_cpu_s = time.process_time() - cpu
    r.rollup_messages = len(bot.sent)
    books = [
        s
        for s in bot.sent
        if s.message.attachment is not None and s.message.attachment.filename.endswith(".xlsx")
    ]
    r.rollup_ledgers = len(books)
    pngs = [
        s.message.attachment.content
        for s in bot.sent
        if s.message.attachment is not None and s.message.attachment.mime_type == "image/png"
    ]
    r.rollup_charts = len(pngs)
    r.chart_bytes = max((len(p) for p in pngs), default=0)
    r.chart_render_s, r.chart_render_cpu_s = chart_render_time(app)
    school_chat = school.school_admin_number
    [school_book] = [s.message.attachment for s in books if s.to.chat_id == school_chat]
    assert school_book is not None
    r.school_ledger_bytes = len(school_book.content)
    bot.clear()
    r.school_ledger_rows = ledger_rows(school_book.content)


def group_commit(app: App, bot: TestAdapter, school: School, r: Results, size: int) -> None:
    """The next morning, the first check-ins (up to 4,000) arrive as bursts: handled through
    `Dispatcher.process_batch`, `size` messages to a commit (intake only, no sending)."""
    clock = app.clock
    assert isinstance(clock, ManualClock)
    clock.set(at(8) + timedelta(days=1))
    numbers = list(school.class_of)[:4000]
    messages = [bot.message(n, "打卡 36.5", group=school.class_of[n]) for n in numbers]
    start = time.perf_counter()
    for i in range(0, len(messages), size):
        app.dispatcher.process_batch(messages[i : i + size])
    elapsed = time.perf_counter() - start
    r.batch_size, r.batch_checkins = size, len(messages)
    r.batch_rate = len(messages) / elapsed if elapsed else 0.0
    with app.uow(readonly=True) as session:
        r.batch_rows = int(
            session.scalar(
                select(func.count())
                .select_from(CheckIn)
                .where(CheckIn.day == DAY + timedelta(days=1))
            )
            or 0
        )
    bot.clear()


def chart_render_time(app: App) -> tuple[float, float]:
    """Drawing the roll-up's college and school charts again from the day's numbers: the
    part of the 12:00 job that the charts add (their reads are shared with the summaries)."""
    with app.uow(readonly=True) as session:
        items = reports.summaries(session, DAY, None)
        first = DAY - timedelta(days=reports.TREND_DAYS - 1)
        counts = reports.daily_counts(session, first, DAY, None)
    by_college: dict[str, list[reports.ClassSummary]] = defaultdict(list)
    for s in items:
        by_college[s.college].append(s)
    scopes = [(name, group, False) for name, group in by_college.items()] + [("全校", items, True)]
    start, cpu = time.perf_counter(), time.process_time()
    for name, group, school in scopes:
        data = charts.chart_data(group, counts, DAY, by_college=school)
        charts.rollup_png(f"{name} 打卡统计", data.bars, data.trend, by_college=school)
    return time.perf_counter() - start, time.process_time() - cpu


def ledger_rows(content: bytes) -> int:
    """Data rows of the 打卡 sheet (one per student in scope)."""
    wb = load_workbook(io.BytesIO(content), read_only=True)
    try:
        return sum(1 for _ in wb["打卡"].iter_rows(min_row=2, values_only=True))
    finally:
        wb.close()


# -- Telegram fan-out ---------------------------------------------------------------------------


async def telegram_fanout(app: App, n: int) -> tuple[float, int]:
    """Wall time of `n` group messages to `n` distinct groups through the Telegram adapter."""
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    from bot.adapters.telegram import TelegramAdapter
    from bot.config import TelegramSection
    from tests.fakes.telegram_api import TOKEN, FakeBotApi

    api = FakeBotApi()
    await api.start()
    adapter = TelegramAdapter(
        TelegramSection(token=TOKEN, base_url=api.base_url, base_file_url=api.base_file_url),
        poll_timeout=1,
        request_timeout=10,
    )
    try:
        await app.attach(adapter)
        envelopes = [
            Envelope(
                ChatAddress("telegram", str(-1_000_000 - i), True),
                OutgoingMessage(f"⏰ 打卡已截止，还有同学未打卡，请尽快补打卡（打卡 体温）。#{i}"),
            )
            for i in range(n)
        ]
        start = time.perf_counter()
        report = await app.deliver(envelopes)
        elapsed = time.perf_counter() - start
        return elapsed, len(report.sent)
    finally:
        await app.detach("telegram")
        await api.stop()


# -- the whole run ------------------------------------------------------------------------------


async def run(
    students: int,
    *,
    seed: int = 2026,
    fanout: int = 300,
    database_url: str | None = None,
    workdir: Path | None = None,
    burst: int = 40,
    burst_windows: tuple[float, float, float] = (10.0, 5.0, 20.0),
    floor_samples_n: int = FLOOR_SAMPLES,
    workers: tuple[int, ...] = (1, 2),
) -> Results:
    """One benchmark run. `database_url`, when given, must be migrated and empty."""
    size = SchoolSize.scaled(students)
    # Yesterday's jobs, missed before the bench's first morning, are noted as skipped.
    logging.getLogger("schedules.runner").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="classbot-bench-", dir=workdir) as tmp:
        directory = Path(tmp)
        url = database_url
        if url is None:
            url = f"sqlite:///{directory / 'classbot.db'}"
            fresh_database(url)
        r = Results(
            size.students,
            size.classes,
            size.colleges,
            size.counselors,
            database=url.split(":", 1)[0].split("+", 1)[0],
            machine=machine(),
        )
        school = generate(size, seed)
        clock = ManualClock(at(6, 30))
        config = load_config(
            None, database={"url": url}, outbox={"files_dir": str(directory / "outbox")}
        )
        app = build_app(config, clock)
        bot = TestAdapter()
        app.add_adapter(bot)
        floor_rows = min(
            FLOOR_ROWS[r.database if r.database == "sqlite" else "postgresql"], students
        )
        try:
            r.load_before = load_average()
            progress(f"importing and binding {size.students} students (roster workbook)")
            start = time.perf_counter()
            r.import_rss_mb, r.import_rows = seed_school(app, school, directory)
            r.seed_s = time.perf_counter() - start
            progress(f"raw {r.database} floor, {floor_samples_n} samples before the day")
            r.floor_before, r.raw_settings = floor_samples(
                url, directory, floor_rows, floor_samples_n
            )
            await app.start()
            await school_day(app, bot, school, r, seed)
            if fanout:
                progress(f"Telegram fan-out to {fanout} groups")
                r.fanout = fanout
                r.fanout_floor_s = fanout / TELEGRAM_RATE
                r.fanout_s, r.fanout_sent = await telegram_fanout(app, fanout)
            if burst:
                progress(f"Telegram burst: {burst} check-ins in one group")
                spread, wait, interval = burst_windows
                r.burst = await run_burst(
                    directory, students=burst, spread_s=spread, ack_wait=wait, ack_interval=interval
                )
            # Last of the day's work: what it queues is not sent while the bench measures.
            progress("the next morning's check-ins, 40 to a commit")
            group_commit(app, bot, school, r, 40)
            progress(f"raw {r.database} floor, {floor_samples_n} samples after the day")
            r.floor_after, _ = floor_samples(url, directory, floor_rows, floor_samples_n)
            r.raw_rate = statistics.median(r.floor_before + r.floor_after)
            r.raw_inserts = floor_rows
            r.peak_rss_mb = peak_rss_mb()
            r.load_after = load_average()
            if workers and r.database == "postgresql":
                progress(f"classbot worker processes: {', '.join(map(str, workers))}")
                r.workers = await run_workers(url, directory, school, workers)
        finally:
            await app.stop()
            app.engine.dispose()
    return r
