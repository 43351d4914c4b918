"""Planner statistics on PostgreSQL: what the scheduled jobs read is analyzed first when it
went stale, as autovacuum would have, whether or not the server runs autovacuum."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select, text

import schedules.runner
from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from bot.messages import ChatAddress, Envelope, OutgoingMessage
from schedules.runner import Fixed, Job, JobRunner, Planned, Run, Slot
from storage import checkins, demo
from storage.checkins import CheckInInput
from storage.db import make_engine, make_sessionmaker, refresh_statistics, unit_of_work
from storage.models import Base, Person
from tests.conftest import TZ, pg_only

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
TABLES = frozenset(Base.metadata.tables)


def test_nothing_to_refresh_on_sqlite(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        if engine.dialect.name == "sqlite":
            assert refresh_statistics(engine, TABLES) == []
    finally:
        engine.dispose()


@pg_only
def test_a_table_the_day_filled_is_analyzed_once_and_then_left_alone(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as s:
            demo.seed(s, NOW, platforms=("test",))
            students = list(
                s.execute(select(Person.id, Person.class_id).where(Person.role == "student"))
            )
            checkins.record_many(
                s,
                [
                    (
                        CheckInInput(
                            pid, cid or 0, date(2026, 11, 24), 365, (), None, None,
                            False, False, NOW, "test",
                        ),
                        None,
                    )
                    for pid, cid in students
                ],
            )  # fmt: skip
            # The counters of this session's writes reach the statistics views at commit.
            s.execute(text("SELECT pg_stat_force_next_flush()"))
        refreshed = refresh_statistics(engine, TABLES)
        assert "checkins" in refreshed and "checkin_revisions" in refreshed
        with engine.connect() as conn:
            tuples = conn.execute(
                text("SELECT reltuples FROM pg_class WHERE relname = 'checkins'")
            ).scalar()
        assert tuples == len(students)
        # Analyzed and unchanged since: not again. The migration tool's table is not the bot's.
        again = refresh_statistics(engine, TABLES)
        assert "checkins" not in again and "alembic_version" not in again
    finally:
        engine.dispose()


async def test_the_job_runner_refreshes_statistics_before_due_jobs_only(
    app: App, bot: TestAdapter, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def refresh(engine: object, tables: frozenset[str]) -> list[str]:
        calls.append(len(tables))
        raise RuntimeError("statistics unavailable")

    monkeypatch.setattr(schedules.runner, "refresh_statistics", refresh)
    sent: list[str] = []

    def plan(_run: Run) -> list[Planned]:
        sent.append("planned")
        return [
            Planned(
                "one", Fixed([Envelope(ChatAddress("test", "G1", True), OutgoingMessage("hi"))])
            )
        ]

    runner = JobRunner(app, [Job("t", lambda _config: {time(12): Slot(school=True)}, plan)])
    clock.set(datetime.combine(date(2026, 11, 23), time(11, 59), tzinfo=TZ))
    await runner.run_due()
    assert calls == [] and sent == []
    clock.set(datetime.combine(date(2026, 11, 23), time(12), tzinfo=TZ))
    await runner.run_due()
    # Refreshed once, with every table of the bot's; its failure does not stop the job.
    assert calls == [len(TABLES)] and sent == ["planned"]
    assert [s.text for s in bot.sent] == ["hi"]
