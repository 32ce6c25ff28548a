"""Benchmark: is a daily dbt run proportional to the day, not to history?

Usage (from the repository root):

    .venv/bin/python bench/bench_dbt_incremental.py [--days 30] [--transactions-per-day 20000] [--url ...]

Generates and raw-loads ``days + 1`` business dates, then runs the daily dbt
build date by date (as the DAG does: ``dbt build`` with the business date) and
times the first day's run and the run of the day after ``days`` of history.
Prints both and their ratio. Target (issue 3): the 31st day costs no more than
1.5 times the first day.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))

from cdw import warehouse  # noqa: E402
from cdw.dbt import run_dbt  # noqa: E402
from cdw.generate import generate_landing  # noqa: E402
from cdw.load import load_date  # noqa: E402

FIRST = date(2026, 2, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="days of history before the timed day")
    parser.add_argument("--transactions-per-day", type=int, default=20_000)
    parser.add_argument("--calls-per-day", type=int, default=2_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--url", help="PostgreSQL server (default: CDW_WAREHOUSE_URL or the embedded one)")
    parser.add_argument("--select", help="dbt selection to build (default: the whole project, as the DAG does)")
    parser.add_argument("--timings", action="store_true",
                        help="print per-node execution times of the first and the last run (run_results.json)")
    parser.add_argument("--keep-database", action="store_true",
                        help="leave the benchmark database (and print its URL) to look into afterwards")
    args = parser.parse_args()

    server = args.url or warehouse.warehouse_url()
    dbname = f"cdw_bench_dbt_{os.getpid()}"
    admin = warehouse.with_database(server, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{dbname}"')
    url = warehouse.with_database(server, dbname)
    os.environ["CDW_WAREHOUSE_URL"] = url
    work = Path(tempfile.mkdtemp(prefix="cdw-bench-dbt-"))
    target = work / "dbt-target"
    last = FIRST + timedelta(days=args.days)
    try:
        print(f"generating {args.days + 1} days ...", file=sys.stderr)
        generate_landing(work / "landing", FIRST, last, customers=args.customers, agents=80,
                         transactions_per_day=args.transactions_per_day, calls_per_day=args.calls_per_day)
        # the roles and build schemas (the pipeline's role may not create schemas), the seeds
        # and the first parse are set-up, not a day's work
        with psycopg.connect(url) as conn:
            warehouse.ensure_schema(conn)
        run_dbt(["seed"], url=url, target_path=str(target))
        run_dbt(["parse"], url=url, target_path=str(target))

        def daily_build(day: date | None) -> float:
            start = time.perf_counter()
            # a selection's tests: only those whose every model is selected (a relationships test
            # from an unselected model would read a table this benchmark never built)
            selection = ["--select", args.select, "--indirect-selection", "cautious"] if args.select else []
            run_dbt(["build", *selection], url=url, target_path=str(target),
                    vars={"business_date": day.isoformat()} if day else None)
            return time.perf_counter() - start

        def node_times() -> dict[str, float]:
            results = json.loads((target / "run_results.json").read_text())["results"]
            return {r["unique_id"]: r["execution_time"] for r in results}

        # day 1: the first daily run, on an empty build schema
        load_date(work / "landing", FIRST, url=url)
        first = daily_build(FIRST)
        first_times = node_times() if args.timings else {}
        print(f"{FIRST}: {first:.1f} s", file=sys.stderr)
        # days 2..N: history, built in one backfill run (no business date: every date)
        day = FIRST + timedelta(days=1)
        while day < last:
            load_date(work / "landing", day, url=url)
            day += timedelta(days=1)
        print(f"backfill of {args.days - 1} days: {daily_build(None):.1f} s", file=sys.stderr)
        # day N+1: the timed incremental run with N days of history
        load_date(work / "landing", last, url=url)
        nth = daily_build(last)
        nth_times = node_times() if args.timings else {}
        print(f"{last}: {nth:.1f} s", file=sys.stderr)
        with psycopg.connect(url) as conn:
            facts = conn.execute("select count(*) from build.fct_transactions").fetchone()[0]
        print(f"history: {args.days} days, {facts:,} ledger entries in fct_transactions at the end")
        print(f"first day's dbt build: {first:.1f} s")
        print(f"day {args.days + 1}'s dbt build:   {nth:.1f} s")
        print(f"ratio: {nth / first:.2f} (target <= 1.5)")
        if args.timings:
            # nodes by their time on the last day: what grows with history comes first
            print(f"\n{'node':<90} {'day 1':>7} {'day ' + str(args.days + 1):>7}")
            for node in sorted(set(first_times) | set(nth_times), key=lambda n: -nth_times.get(n, 0.0)):
                print(f"{node:<90} {first_times.get(node, 0.0):7.2f} {nth_times.get(node, 0.0):7.2f}")
            print(f"{'sum of node times':<90} {sum(first_times.values()):7.2f} {sum(nth_times.values()):7.2f}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.keep_database:
            print(f"kept the benchmark database: {url}", file=sys.stderr)
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{dbname}" with (force)')


if __name__ == "__main__":
    sys.exit(main())
