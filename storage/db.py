"""Engines, sessions and the unit of work, with the SQLite settings a busy bot needs."""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

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


# -- prepared statements on the driver -------------------------------------------------------
#
# The busiest statements (a check-in's) run on the driver's own cursor: SQLAlchemy's
# per-execution set-up costs several times what a warm database spends on them. Each is a
# Core statement, compiled once per dialect; its parameters and results are converted here,
# and nowhere else, the way the models' column types would (`UTCDateTime` above all).


def to_db(value: Any, dialect: str) -> Any:
    """A parameter as the driver takes it: aware datetimes in UTC (naive text on SQLite,
    which has no time zones), dates as ISO text on SQLite, booleans as 0/1 on SQLite."""
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return (
            # SQLAlchemy's own SQLite text (YYYY-MM-DD HH:MM:SS.ffffff), so rows written
            # either way compare alike.
            value.replace(tzinfo=None).isoformat(" ", "microseconds")
            if dialect == "sqlite"
            else value
        )
    if dialect != "sqlite":
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def from_db_datetime(value: Any) -> datetime | None:
    """A stored UTCDateTime read back by the driver: aware, in UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Prepared:
    """A Core statement compiled once per dialect and run on the driver's cursor, in the
    transaction of the connection (or session) it is given.

    `build` makes the statement; named bind parameters are filled from a mapping. The
    statement may not use expanding (IN-list) parameters.
    """

    def __init__(self, build: Callable[[str], ClauseElement]) -> None:
        self._build = build
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _compile(self, conn: Connection) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        name = conn.dialect.name
        found = self._compiled.get(name)
        if found is None:
            compiled = cast(SQLCompiler, self._build(name).compile(dialect=conn.dialect))
            if compiled.literal_execute_params or compiled.post_compile_params:
                raise ValueError("a prepared statement takes no expanding parameters")
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            defaults = {k: v for k, v in compiled.params.items() if v is not None}
            found = self._compiled[name] = (compiled.string, order, defaults)
        return found

    def _args(
        self, conn: Connection, params: Mapping[str, Any]
    ) -> tuple[str, Sequence[Any] | dict[str, Any]]:
        sql, order, defaults = self._compile(conn)
        dialect = conn.dialect.name
        merged = {**defaults, **params} if defaults else params
        if order is not None:
            return sql, [to_db(merged.get(k), dialect) for k in order]
        return sql, {k: to_db(v, dialect) for k, v in merged.items()}

    def rows(self, db: Session | Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run it; the rows it returns (none for a statement without RETURNING)."""
        conn = _conn(db)
        sql, args = self._args(conn, params)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
            return list(cursor.fetchall()) if cursor.description is not None else []
        finally:
            cursor.close()

    def run(self, db: Session | Connection, params: Mapping[str, Any]) -> int:
        """Run it for its effect; the number of rows it changed."""
        conn = _conn(db)
        sql, args = self._args(conn, params)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
            if cursor.description is not None:
                cursor.fetchall()
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def many(self, db: Session | Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per parameter set, in one call to the driver."""
        if not params:
            return
        conn = _conn(db)
        batches = [self._args(conn, p) for p in params]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if len(batches) == 1:
                cursor.execute(*batches[0])
            else:
                cursor.executemany(batches[0][0], [a for _, a in batches])  # type: ignore[arg-type]
        finally:
            cursor.close()


class Multi:
    """A statement over a list of rows, as SQL text on the driver: a multi-row `VALUES`
    list or an `IN` list, in the transaction of the connection (or session) it is given.

    `build(dialect)` gives (the SQL, with `{rows}` where the list goes; one row's tuple,
    with `?` for each value). The SQL for a number of rows is built once; values are
    converted by `to_db`. A set-based batch of check-ins runs one of these per step, where
    a message alone would run a prepared statement each. A longer list than `CHUNK` rows
    runs as several statements, in order, well under every driver's parameter limit.
    """

    CHUNK = 200

    def __init__(self, build: Callable[[str], tuple[str, str]]) -> None:
        self._build = build
        self._sql: dict[tuple[str, int], str] = {}

    def sql(self, dialect: str, n: int) -> str:
        found = self._sql.get((dialect, n))
        if found is None:
            template, row = self._build(dialect)
            if dialect != "sqlite":
                if "%" in template or "%" in row:
                    raise ValueError("a % in SQL for a format-style driver")
                row = row.replace("?", "%s")
            found = self._sql[(dialect, n)] = template.replace("{rows}", ", ".join([row] * n))
        return found

    def rows(
        self, db: Session | Connection, rows: Sequence[Sequence[Any]]
    ) -> list[tuple[Any, ...]]:
        """Run it for `rows` (at least one); the rows it returns, in the order of the chunks."""
        if not rows:
            raise ValueError("a statement over no rows")
        conn = _conn(db)
        dialect = conn.dialect.name
        out: list[tuple[Any, ...]] = []
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for i in range(0, len(rows), self.CHUNK):
                chunk = rows[i : i + self.CHUNK]
                args = [to_db(value, dialect) for row in chunk for value in row]
                cursor.execute(self.sql(dialect, len(chunk)), args)
                if cursor.description is not None:
                    out.extend(cursor.fetchall())
            return out
        finally:
            cursor.close()


def _conn(db: Session | Connection) -> Connection:
    if isinstance(db, Connection):
        return db
    # Whatever the session still holds goes first, in the same transaction.
    db.flush()
    # The session's connection, kept for the rest of its transaction: asking the session
    # for it again costs more than a prepared statement on a warm SQLite.
    # A savepoint begun since is only emitted once the session hands out its connection.
    current = (db.get_transaction(), db.get_nested_transaction())
    held = db.info.get(_HELD)
    if held is not None and current[0] is not None and held[0] == current:
        return cast(Connection, held[1])
    conn = db.connection()
    db.info[_HELD] = ((db.get_transaction(), db.get_nested_transaction()), conn)
    return conn


_HELD = "storage.db.connection"


def analyze(session: Session, *tables: str) -> None:
    """Refresh PostgreSQL's planner statistics of `tables` after a bulk write, in the
    session's transaction (its own new rows are counted).

    Without them a table filled by a roster import looks empty or uniform to the planner
    until autovacuum comes by, and servers run without it: counting a class's students
    then scanned every student's index entry (a batch of 40 check-ins at 20,000 students
    took 37 ms in its statement instead of 3 ms). SQLite plans without statistics.
    """
    if session.get_bind().dialect.name != "postgresql" or not tables:
        return
    session.flush()
    session.execute(text(f"ANALYZE {', '.join(tables)}"))


# The tables whose statistics went stale, by autovacuum's own rule (50 rows and a tenth of
# the table changed since the last ANALYZE), or that were never analyzed and hold rows.
_STALE = text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze > 0"
    " AND (c.reltuples < 0 OR s.n_mod_since_analyze > 50 + 0.1 * c.reltuples)"
    " ORDER BY s.relname"
)


def refresh_statistics(engine: Engine, tables: Collection[str]) -> list[str]:
    """ANALYZE those of `tables` whose PostgreSQL statistics are stale, as autovacuum would
    have; the names analyzed. Nothing to do on SQLite.

    The scheduled jobs read a whole day of tables that grow all day (check-ins, the outbox).
    Where autovacuum is off, a table the planner has never seen analyzed looks like five
    rows: the 12:00 roll-up then joined 20,000 students to the day's check-ins in a nested
    loop (8 s; 0.4 s once analyzed). One catalog read when nothing is stale.
    """
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as conn:
        stale = [name for (name,) in conn.execute(_STALE) if name in tables]
        if stale:
            conn.execute(text(f"ANALYZE {', '.join(stale)}"))
    return stale


def rows_affected(result: Any) -> int:
    """How many rows an UPDATE or DELETE touched (0 where the driver cannot tell)."""
    return int(getattr(result, "rowcount", 0) or 0)


def is_transient(error: BaseException) -> bool:
    """A lock or serialization conflict that a retry of the whole unit of work can clear."""
    if isinstance(error, OperationalError) and "locked" in str(error.orig).lower():
        return True
    # Prepared statements raise the driver's own errors, unwrapped.
    orig = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig).lower():
        return True
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in {"40001", "40P01"}


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


def upgrade(url: str, revision: str = "head") -> None:
    """Apply schema migrations up to `revision`."""
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
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head() or ""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return SchemaState(exists=False, current=None, head=head)
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return SchemaState(exists=True, current=current, head=head)
