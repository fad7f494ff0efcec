"""What the index on ``byd.vendas(dta_processamento)`` saves detection (README, Performance).

The system never creates indexes in ``byd`` outside the demo; this measures, on a demo
load, the DAG's own detection statement with and without that index, for a daily backfill
(one day) and a daily run (31 days). Each measurement runs in a transaction that is rolled
back, so every one starts from the same state.

    python -m bench.source_index [--sales 1000000] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

import psycopg

from bench import PROJECT_ROOT
from bench.__main__ import DATA_END, load_database, say
from devtools import databases, embedded_postgres
from devtools.sql_steps import open_session, run_step

PERIODS = {"1 day": (date(2026, 10, 15), date(2026, 10, 15)), "31 days": (date(2026, 10, 1), DATA_END)}


def _detect_seconds(dsn: str, period: tuple[date, date], with_index: bool, repetitions: int) -> float:
    timings = []
    for _ in range(repetitions):
        with psycopg.connect(dsn) as conn:
            if not with_index:
                conn.execute("DROP INDEX byd.vendas_dta_processamento_idx")
            params = open_session(conn, *period)
            started = time.perf_counter()
            run_step(conn, "detect_divergences", params)
            timings.append(time.perf_counter() - started)
            conn.rollback()
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.source_index", description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    admin_dsn = embedded_postgres.start(PROJECT_ROOT / ".pgdata")
    name = f"bench_index_{args.sales}"
    databases.drop_database(admin_dsn, name)
    dsn = load_database(admin_dsn, name, args.sales)
    try:
        print(f"\n{args.sales:,} sales, median of {args.repetitions}: detect_divergences seconds")
        print(f"{'period':<10} {'with index':>11} {'without':>9} {'saved':>7}")
        for label, period in PERIODS.items():
            indexed = _detect_seconds(dsn, period, True, args.repetitions)
            plain = _detect_seconds(dsn, period, False, args.repetitions)
            print(f"{label:<10} {indexed:>11.2f} {plain:>9.2f} {1 - indexed / plain:>7.0%}")
    finally:
        databases.drop_database(admin_dsn, name)
        say(f"dropped {name}")


if __name__ == "__main__":
    main()
