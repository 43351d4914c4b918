"""`python -m bench` (or `make bench BENCH_ARGS="--students 2000"`): one benchmark run.

SQLite in a temporary directory always; PostgreSQL as well when CLASSBOT_BENCH_DATABASE_URL
names one (its public schema is dropped and recreated), with both tables and a side-by-side
comparison printed. Each database's day runs in a process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.report import RESULTS, comparison, save, table
from bench.run import Results, fresh_database, run
from bench.school import STUDENTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--students", type=int, default=STUDENTS, help="school size (67000)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the synthetic school")
    parser.add_argument(
        "--fanout", type=int, default=300, help="Telegram group messages to send (0: skip)"
    )
    parser.add_argument(
        "--burst", type=int, default=40, help="check-ins in the one-group burst (0: skip)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite file goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    url = os.environ.get("CLASSBOT_BENCH_DATABASE_URL") or None
    databases: list[str | None] = [None]
    if url and not url.startswith("sqlite"):
        databases.append(url)
    elif url:
        databases = [url]
    results = []
    for database in databases:
        if database:
            fresh_database(database)
        # Each database's day in a process of its own: its peak memory is its own.
        results.append(
            isolated(
                args.students,
                seed=args.seed,
                fanout=args.fanout,
                burst=args.burst,
                database_url=database,
                workdir=args.workdir,
            )
        )
    for r in results:
        print(table(r))
        path = save(r, args.results)
        print(f"\nFigures written to {path}\n")
    if len(results) > 1:
        print(comparison(results))
    return 0


def _child(conn: Connection, kwargs: dict[str, Any]) -> None:
    conn.send(asyncio.run(run(**kwargs)))
    conn.close()


def isolated(students: int, **kwargs: Any) -> Results:
    """One run in a forked process; its results come back through a pipe."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, {"students": students, **kwargs}))
    process.start()
    child.close()
    try:
        result: Results = parent.recv()
    except EOFError:
        process.join()
        raise SystemExit(f"the benchmark run failed (exit code {process.exitcode})") from None
    process.join()
    return result


if __name__ == "__main__":
    sys.exit(main())
