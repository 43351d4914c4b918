"""Concurrency: simultaneous check-ins keep one current row and a whole history, and a busy
database is retried, never shown to the user. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from sqlalchemy import event, select, text

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.messages import IncomingMessage, PersonAddress
from bot.router import Routed
from storage import db
from storage.errors import NotPending
from storage.models import AuditEntry, CheckIn, CheckInRevision, Person, Request
from tests.conftest import PG_URL

THREADS = 8


def run_together(work: list[Callable[[], Routed]]) -> list[Routed]:
    """Start every call at the same moment, each on its own thread (and connection)."""
    barrier = threading.Barrier(len(work))
    results: list[Routed | BaseException | None] = [None] * len(work)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work[i]()
        except BaseException as e:
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    out = []
    for r in results:
        assert isinstance(r, Routed), f"a thread failed: {r!r}"
        out.append(r)
    return out


def replies(routed: list[Routed]) -> list[str]:
    return [e.message.text for r in routed for e in r.envelopes]


def history_of(app: App, number: str) -> tuple[list[CheckIn], list[CheckInRevision]]:
    with app.uow(readonly=True) as s:
        pid = s.scalar(select(Person.id).where(Person.number == number))
        current = list(s.scalars(select(CheckIn).where(CheckIn.student_id == pid)))
        revisions = list(
            s.scalars(
                select(CheckInRevision)
                .where(CheckInRevision.student_id == pid)
                .order_by(CheckInRevision.revision)
            )
        )
    return current, revisions


def assert_consistent(app: App, number: str, temps: set[int]) -> None:
    [current], revisions = history_of(app, number)
    assert [r.revision for r in revisions] == list(range(1, len(temps) + 1))
    assert {r.temp_tenths for r in revisions} == temps
    last = revisions[-1]
    assert current.revision == last.revision
    assert (current.temp_tenths, current.submitted_at) == (last.temp_tenths, last.submitted_at)


def checkins(bot: TestAdapter, number: str, group: str | None) -> list[IncomingMessage]:
    return [bot.message(number, f"打卡 36.{i}", group=group) for i in range(THREADS)]


@pytest.mark.parametrize("group", [None, "护理172"])
async def test_eight_concurrent_checkins_leave_one_row_and_revisions_one_to_eight(
    app: App, bot: TestAdapter, group: str | None
) -> None:
    msgs = checkins(bot, "2020001", group)
    routed = run_together([partial(app.dispatcher.process, m) for m in msgs])
    assert all(r.error is None for r in routed), [r.error for r in routed]
    texts = replies(routed)
    assert len(texts) == THREADS and all(t.startswith("✓") for t in texts), texts
    assert_consistent(app, "2020001", {360 + i for i in range(THREADS)})


async def test_concurrent_checkins_of_a_whole_class_all_count(app: App, bot: TestAdapter) -> None:
    numbers = [f"{2020001 + i}" for i in range(THREADS)]
    msgs = [bot.message(n, "打卡 36.6", group="护理172") for n in numbers]
    routed = run_together([partial(app.dispatcher.process, m) for m in msgs])
    texts = replies(routed)
    assert all(t.startswith("✓") for t in texts), texts
    # Each acknowledgement counts a different total: no two saw the same class count.
    counts = sorted(int(t.split("已打卡 ")[1].split("/")[0]) for t in texts)
    assert counts == list(range(1, THREADS + 1))


async def test_the_same_message_delivered_concurrently_is_handled_once(
    app: App, bot: TestAdapter
) -> None:
    msg = bot.message("2020001", "打卡 36.6", group="护理172", message_id="twice")
    routed = run_together([lambda: app.dispatcher.process(msg) for _ in range(THREADS)])
    assert sum(not r.duplicate for r in routed) == 1
    assert len(replies(routed)) == 1
    assert_consistent(app, "2020001", {366})


@pytest.mark.skipif(PG_URL is not None, reason="SQLite's writer lock")
async def test_a_locked_sqlite_database_is_retried_not_shown(
    app: App, bot: TestAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    """With the driver's wait cut to 1 ms, every conflict surfaces as "database is locked";
    the router's retry must still get all eight check-ins through."""
    impatient = db.make_engine(app.config.database.url)

    @event.listens_for(impatient, "connect")
    def _impatient(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=1")

    app.dispatcher.sessions = db.make_sessionmaker(impatient)
    blocker = db.make_engine(app.config.database.url)
    try:
        msgs = checkins(bot, "2020001", "护理172")
        with blocker.connect() as conn:
            # Another writer holds the lock while the check-ins arrive.
            conn.execute(text("UPDATE people SET name = name WHERE id = 1"))
            release = threading.Timer(0.2, conn.rollback)
            release.start()
            routed = run_together([partial(app.dispatcher.process, m) for m in msgs])
            release.join()
        texts = replies(routed)
        assert "database busy, retrying" in caplog.text
        assert not any("locked" in t for t in texts)
        assert all(t.startswith("✓") for t in texts), texts
        assert_consistent(app, "2020001", {360 + i for i in range(THREADS)})
    finally:
        impatient.dispose()
        blocker.dispose()


@pytest.mark.parametrize("deciders", [("T001", "T003"), ("T001",) * THREADS])
async def test_concurrent_approvals_exactly_one_wins(
    app: App, bot: TestAdapter, deciders: tuple[str, ...]
) -> None:
    await bot.say("2020010", "请假 明天 病假 发烧就医")
    msgs = [bot.message(who, "批准 L1") for who in deciders]
    routed = run_together([partial(app.dispatcher.process, m) for m in msgs])
    won = [r for r in routed if r.error is None]
    assert len(won) == 1, replies(routed)
    assert all(isinstance(r.error, NotPending) for r in routed if r.error is not None)
    # The student hears of the decision once.
    to_student = [e for r in routed for e in r.envelopes if e.to == PersonAddress(student_id(app))]
    assert len(to_student) == 1
    with app.uow(readonly=True) as s:
        [leave] = s.scalars(select(Request).where(Request.kind == "leave"))
        decisions = list(s.scalars(select(AuditEntry).where(AuditEntry.to_state == "approved")))
    assert leave.status == "approved" and len(decisions) == 1


def student_id(app: App, number: str = "2020010") -> int:
    with app.uow(readonly=True) as s:
        pid = s.scalar(select(Person.id).where(Person.number == number))
    assert pid is not None
    return pid
