"""`python -m bench` (or `make bench BENCH_ARGS="--students 2000"`): one benchmark run.

SQLite in a temporary directory by default; PostgreSQL when CLASSBOT_BENCH_DATABASE_URL is set
(its public schema is dropped and recreated).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from bench.report import RESULTS, save, table
from bench.run import fresh_database, run
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
    if url:
        fresh_database(url)
    results = asyncio.run(
        run(
            args.students,
            seed=args.seed,
            fanout=args.fanout,
            burst=args.burst,
            database_url=url,
            workdir=args.workdir,
        )
    )
    print(table(results))
    path = save(results, args.results)
    print(f"\nFigures written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
