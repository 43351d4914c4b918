"""Prepared statements on the driver: the values they write and read are the ones the ORM's
column types write and read, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import IntegrityError

from storage import inbound
from storage.db import (
    Multi,
    Prepared,
    from_db_datetime,
    is_transient,
    make_engine,
    make_sessionmaker,
    to_db,
    unit_of_work,
)
from storage.models import InboundMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_to_db_converts_aware_datetimes_to_utc_in_one_place() -> None:
    local = datetime(2026, 11, 24, 8, 30, 15, 120, tzinfo=SHANGHAI)
    assert to_db(local, "sqlite") == "2026-11-24 00:30:15.000120"
    # SQLite text keeps its microseconds even when there are none, as SQLAlchemy writes it.
    assert (
        to_db(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "sqlite") == "2026-01-02 03:04:05.000000"
    )
    pg = to_db(local, "postgresql")
    assert pg == local and pg.utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="naive"):
        to_db(datetime(2026, 11, 24, 8, 30), "sqlite")


def test_to_db_dates_booleans_and_plain_values() -> None:
    assert to_db(date(2026, 11, 24), "sqlite") == "2026-11-24"
    assert to_db(date(2026, 11, 24), "postgresql") == date(2026, 11, 24)
    assert to_db(True, "sqlite") == 1 and to_db(False, "sqlite") == 0
    assert to_db(True, "postgresql") is True
    for value in ("打卡", 7, None, 1.5):
        assert to_db(value, "sqlite") == value


def test_from_db_datetime_is_aware_utc() -> None:
    assert from_db_datetime("2026-11-24 00:30:15.000120") == datetime(
        2026, 11, 24, 0, 30, 15, 120, tzinfo=UTC
    )
    plus8 = datetime(2026, 11, 24, 8, 30, tzinfo=timezone(timedelta(hours=8)))
    back = from_db_datetime(plus8)
    assert back == plus8 and back is not None and back.tzinfo is UTC
    assert from_db_datetime(None) is None


def test_prepared_rows_match_what_the_orm_reads(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    at = datetime(2026, 11, 24, 8, 30, 15, 120, tzinfo=SHANGHAI)
    try:
        with unit_of_work(sessions) as s:
            assert inbound.claim(s, "test", "msg:1", at)
            # A duplicate is refused, in the same transaction too.
            assert not inbound.claim(s, "test", "msg:1", at)
        with unit_of_work(sessions, readonly=True) as s:
            row = s.scalars(select(InboundMessage)).one()
            assert row.received_at == at and row.processed_at == at
            # Compared in SQL against a value the ORM binds: the same instant.
            assert (
                s.scalar(select(InboundMessage.id).where(InboundMessage.received_at == at))
                == row.id
            )
        read = Prepared(
            lambda dialect: select(InboundMessage.received_at, InboundMessage.key).where(
                InboundMessage.received_at >= bindparam("since")
            )
        )
        with unit_of_work(sessions, readonly=True) as s:
            [(received, key)] = read.rows(s, {"since": at - timedelta(seconds=1)})
            assert key == "msg:1" and from_db_datetime(received) == at
            assert read.rows(s, {"since": at + timedelta(seconds=1)}) == []
    finally:
        engine.dispose()


def test_prepared_many_and_run_count_rows(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    at = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    add = Prepared(
        lambda dialect: text(
            "INSERT INTO inbound_messages (platform, key, received_at) VALUES (:p, :k, :at)"
        )
    )
    mark = Prepared(
        lambda dialect: text("UPDATE inbound_messages SET processed_at = :at WHERE platform = :p")
    )
    try:
        with unit_of_work(sessions) as s:
            add.many(s, [{"p": "test", "k": f"msg:{i}", "at": at} for i in range(3)])
            assert mark.run(s, {"p": "test", "at": at}) == 3
        with pytest.raises(Exception, match=r"(?i)unique") as raised, unit_of_work(sessions) as s:
            add.many(
                s, [{"p": "test", "k": "msg:9", "at": at}, {"p": "test", "k": "msg:9", "at": at}]
            )
        # The driver's own error, unwrapped; not a conflict a retry could clear.
        assert not isinstance(raised.value, IntegrityError)
        assert not is_transient(raised.value)
        with unit_of_work(sessions, readonly=True) as s:
            # Nothing of the failed unit of work was kept.
            assert len(s.scalars(select(InboundMessage)).all()) == 3
    finally:
        engine.dispose()


def test_a_prepared_statement_refuses_expanding_parameters(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    bad = Prepared(
        lambda dialect: select(InboundMessage.id).where(
            InboundMessage.key.in_(bindparam("keys", expanding=True))
        )
    )
    try:
        with (
            unit_of_work(sessions, readonly=True) as s,
            pytest.raises(ValueError, match="expanding"),
        ):
            bad.rows(s, {"keys": ["a"]})
    finally:
        engine.dispose()


def test_prepared_statements_keep_to_the_sessions_savepoints(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    at = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    try:
        with unit_of_work(sessions) as s:
            assert inbound.claim(s, "test", "kept", at)
            nested = s.begin_nested()
            assert inbound.claim(s, "test", "undone", at)
            nested.rollback()
            assert inbound.claim(s, "test", "after", at)
        with unit_of_work(sessions, readonly=True) as s:
            keys = set(s.scalars(select(InboundMessage.key)))
        assert keys == {"kept", "after"}
    finally:
        engine.dispose()


def test_a_multi_row_statement_runs_a_long_list_in_chunks(database_url: str) -> None:
    pairs = Multi(lambda dialect: ("SELECT * FROM (VALUES {rows}) AS v ORDER BY 1 DESC", "(?, ?)"))
    rows = [(i, f"第{i}") for i in range(Multi.CHUNK * 2 + 50)]
    engine = make_engine(database_url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            # Three statements, each its own rows backwards, one after another.
            chunks = [rows[i : i + Multi.CHUNK] for i in range(0, len(rows), Multi.CHUNK)]
            assert len(chunks) == 3
            expected = [r for chunk in chunks for r in reversed(chunk)]
            assert [tuple(r) for r in pairs.rows(session, rows)] == expected
            now = datetime(2026, 11, 24, tzinfo=UTC)
            keys = [("test", f"msg:g:{i}") for i in range(Multi.CHUNK + 10)]
            assert inbound.claim_many(session, keys[:5], now) == set(keys[:5])
            # The five seen before are the only ones not claimed again.
            assert inbound.claim_many(session, keys, now) == set(keys[5:])
            assert inbound.claim_many(session, [], now) == set()
            with pytest.raises(ValueError, match="twice"):
                inbound.claim_many(session, [keys[0], keys[0]], now)
            with pytest.raises(ValueError, match="no rows"):
                pairs.rows(session, [])
    finally:
        engine.dispose()
