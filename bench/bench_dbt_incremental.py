"""Benchmark: is a daily dbt run proportional to the day, not to history?

Usage (from the repository root):

    .venv/bin/python bench/bench_dbt_incremental.py [--days 30] [--runs 3] [--timings] [--url ...]

Generates ``days + 1`` business dates and times the daily dbt build (as the DAG
runs it: ``dbt build`` with the business date) of the first day, on an empty
build schema, and of the day after ``days`` of history (built in one backfill).
Each is timed ``--runs`` times on its own copy of the same state: day 1 in fresh
databases, the last day in copies (``create database ... template``) of the
database holding the history, so that one noisy run does not decide the ratio.
Prints every run, the medians and their ratio. Target (issue 3): the 31st day
costs no more than 1.5 times the first day.
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
    parser.add_argument("--runs", type=int, default=3, help="timed builds of each of the two days (median)")
    parser.add_argument("--transactions-per-day", type=int, default=20_000)
    parser.add_argument("--calls-per-day", type=int, default=2_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--url", help="PostgreSQL server (default: CDW_WAREHOUSE_URL or the embedded one)")
    parser.add_argument("--select", help="dbt selection to build (default: the whole project, as the DAG does)")
    parser.add_argument("--timings", action="store_true",
                        help="print per-node execution times of the median runs of both days (run_results.json)")
    parser.add_argument("--keep-database", action="store_true",
                        help="leave the database holding the history (and print its URL) to look into afterwards")
    args = parser.parse_args()

    server = args.url or warehouse.warehouse_url()
    admin = warehouse.with_database(server, "postgres")
    prefix = f"cdw_bench_dbt_{os.getpid()}"
    history_db = f"{prefix}_history"
    made: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="cdw-bench-dbt-"))
    landing = work / "landing"
    last = FIRST + timedelta(days=args.days)

    def database(name: str, template: str | None = None) -> str:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
        made.append(name)
        return warehouse.with_database(server, name)

    def drop(name: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')

    def set_up(url: str, target: Path) -> None:
        # the roles and build schemas (the pipeline's role may not create schemas), the seeds
        # and the first parse are set-up, not a day's work
        with psycopg.connect(url) as conn:
            warehouse.ensure_schema(conn)
        run_dbt(["seed"], url=url, target_path=str(target))
        run_dbt(["parse"], url=url, target_path=str(target))

    def daily_build(url: str, target: Path, day: date | None) -> tuple[float, dict[str, float]]:
        os.environ["CDW_WAREHOUSE_URL"] = url
        start = time.perf_counter()
        # a selection's tests: only those whose every model is selected (a relationships test
        # from an unselected model would read a table this benchmark never built)
        selection = ["--select", args.select, "--indirect-selection", "cautious"] if args.select else []
        run_dbt(["build", *selection], url=url, target_path=str(target),
                vars={"business_date": day.isoformat()} if day else None)
        took = time.perf_counter() - start
        results = json.loads((target / "run_results.json").read_text())["results"]
        return took, {r["unique_id"]: r["execution_time"] for r in results}

    def median_run(runs: list[tuple[float, dict[str, float]]]) -> tuple[float, dict[str, float]]:
        return sorted(runs, key=lambda run: run[0])[len(runs) // 2]

    try:
        print(f"generating {args.days + 1} days ...", file=sys.stderr)
        generate_landing(landing, FIRST, last, customers=args.customers, agents=80,
                         transactions_per_day=args.transactions_per_day, calls_per_day=args.calls_per_day)
        # day 1: the first daily run, on an empty build schema, in fresh databases; the first
        # of them goes on to hold the history
        firsts = []
        for n in range(args.runs):
            name = history_db if n == 0 else f"{prefix}_first_{n}"
            url = database(name)
            set_up(url, work / name)
            load_date(landing, FIRST, url=url)
            firsts.append(daily_build(url, work / name, FIRST))
            print(f"{FIRST} run {n + 1}: {firsts[-1][0]:.1f} s", file=sys.stderr)
            if n:
                drop(name)
        # days 2..N: history, built in one backfill run (no business date: every date)
        url = warehouse.with_database(server, history_db)
        day = FIRST + timedelta(days=1)
        while day < last:
            load_date(landing, day, url=url)
            day += timedelta(days=1)
        took, _ = daily_build(url, work / history_db, None)
        print(f"backfill of {args.days - 1} days: {took:.1f} s", file=sys.stderr)
        with psycopg.connect(url) as conn:
            facts = conn.execute("select count(*) from build.fct_transactions").fetchone()[0]
        # day N+1: the timed incremental run with N days of history, each in a copy of it
        lasts = []
        for n in range(args.runs):
            name = f"{prefix}_last_{n}"
            copy = database(name, template=history_db)
            run_dbt(["parse"], url=copy, target_path=str(work / name))  # set-up: the profile names the database
            load_date(landing, last, url=copy)
            lasts.append(daily_build(copy, work / name, last))
            print(f"{last} run {n + 1}: {lasts[-1][0]:.1f} s", file=sys.stderr)
            drop(name)
        first, first_times = median_run(firsts)
        nth, nth_times = median_run(lasts)
        print(f"history: {args.days} days, {facts:,} ledger entries in fct_transactions before day {args.days + 1}")
        print(f"first day's dbt build: {', '.join(f'{r[0]:.1f}' for r in firsts)} s; median {first:.1f} s")
        print(f"day {args.days + 1}'s dbt build:   {', '.join(f'{r[0]:.1f}' for r in lasts)} s; median {nth:.1f} s")
        print(f"ratio of the medians: {nth / first:.2f} (target <= 1.5);"
              f" of every pair: {min(r[0] for r in lasts) / max(r[0] for r in firsts):.2f}"
              f" to {max(r[0] for r in lasts) / min(r[0] for r in firsts):.2f}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.timings:
            # nodes by their time on the last day: what grows with history comes first
            print(f"\n{'node (median runs)':<90} {'day 1':>7} {'day ' + str(args.days + 1):>7}")
            for node in sorted(set(first_times) | set(nth_times), key=lambda n: -nth_times.get(n, 0.0)):
                print(f"{node:<90} {first_times.get(node, 0.0):7.2f} {nth_times.get(node, 0.0):7.2f}")
            print(f"{'sum of node times':<90} {sum(first_times.values()):7.2f} {sum(nth_times.values()):7.2f}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for name in made:
            if name == history_db and args.keep_database:
                print(f"kept the database holding the history: {warehouse.with_database(server, name)}",
                      file=sys.stderr)
            else:
                drop(name)


if __name__ == "__main__":
    sys.exit(main())
