"""Engines, sessions and the unit of work, with the SQLite settings a busy bot needs."""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage import files

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; on SQLite: WAL, a busy timeout, and BEGIN IMMEDIATE for writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True, future=True)

    if parsed.database and parsed.database != ":memory:":
        # The database holds health data: 0600 before SQLite first opens it (its -wal and
        # -shm files take the same mode).
        files.private_file(Path(parsed.database))
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"timeout": 30, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads and then writes fails with "database is locked"
        # when another writer got in between, whatever the timeout; take the write lock first.
        if conn.get_execution_options().get("readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, readonly: bool = False) -> Iterator[Session]:
    """One transaction: commit on a clean exit, roll back on any error."""
    session = factory()
    if readonly:
        session.connection(execution_options={"readonly": True})
    try:
        yield session
        if readonly:
            # Keep what was read usable after the transaction ends.
            session.expunge_all()
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def transaction(engine: Engine, *, readonly: bool = False) -> Iterator[Connection]:
    """One transaction on a plain connection, for Core statements that need no ORM session."""
    with engine.connect() as conn:
        if readonly:
            conn.execution_options(readonly=True)
        with conn.begin():
            yield conn


def is_transient(error: BaseException) -> bool:
    """A lock or serialization conflict that a retry of the whole unit of work can clear."""
    if isinstance(error, OperationalError) and "locked" in str(error.orig).lower():
        return True
    if isinstance(error, DBAPIError):
        code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return code in {"40001", "40P01"}
    return False


def with_retry(work: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.05) -> T:
    """Run a whole unit of work, retrying lock conflicts with a bounded, jittered back-off."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as e:
            if attempt == attempts or not is_transient(e):
                raise
            delay = base_delay * 2 ** (attempt - 1) * (0.5 + random.random())
            log.warning("database busy, retrying in %.2fs (attempt %d)", delay, attempt)
            time.sleep(delay)
    raise AssertionError("unreachable")


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply schema migrations up to `revision`; by default every head, since features add
    their tables in migrations that each start from the same revision."""
    command.upgrade(alembic_config(url), revision)


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands against the migrations this code ships."""

    exists: bool  # False: a SQLite file that is not there yet (nothing was created to find out)
    current: str | None  # the applied revision; None when no schema was ever applied
    head: str

    @property
    def ready(self) -> bool:
        return self.exists and self.current == self.head


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def schema_state(url: str) -> SchemaState:
    """Inspect the database without changing it (a missing SQLite file is not created)."""
    # Features add their tables in migrations from one revision: every head is needed.
    head = "+".join(sorted(ScriptDirectory.from_config(alembic_config(url)).get_heads()))
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return SchemaState(exists=False, current=None, head=head)
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
            current = "+".join(sorted(heads)) if heads else None
    finally:
        engine.dispose()
    return SchemaState(exists=True, current=current, head=head)
