"""Benchmark: does a business date cost a day, end to end, whatever the history's length?

Usage (from the repository root, after bin/bootstrap):

    .venv/bin/python bench/bench_e2e.py [--days 10] [--transactions-per-day 1000000]
        [--calls-per-day 50000] [--customers 150000] [--server postgresql://...] [--json FILE]

Generates ``--days`` business dates of drops (``cdw generate``), then runs ``cdw run`` for
each date in order, one date per command, into one fresh warehouse database on
``--server`` (default: the local PostgreSQL, else the embedded one) with a fresh
``CDW_HOME``: the load, dbt (the DAG's Cosmos tasks), the quality gate, the publication
and the report, as a bank's night runs them. Each date's wall time is measured around
the command; each step's time is read from the Airflow metadata database of that run
(``task_instance``: load_raw, the dbt task group, quality_gate, publish, report; the
rest is Airflow's own start-up and the DAG's small tasks). The rows the publication
wrote come from ``audit.publications``.

Prints one line per date and the targets of issue 18: day N within 1.2 x day 1, the
publish step of day N within 1.2 x that of day 1, and every day under 120 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))

from cdw import warehouse  # noqa: E402

FIRST = date(2026, 3, 2)
LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
STEPS = ("load", "dbt", "gate", "publish", "report", "airflow")


def step_of(task_id: str) -> str:
    if task_id == "load_raw":
        return "load"
    if task_id.startswith("build_star_schema"):
        return "dbt"
    if task_id == "quality_gate":
        return "gate"
    if task_id in ("publish", "report"):
        return task_id
    return "airflow"


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def task_times(airflow_db: Path) -> dict[str, float]:
    """Seconds per step of the latest DAG run, from Airflow's own records."""
    with sqlite3.connect(airflow_db) as db:
        run_id = db.execute("select run_id from dag_run where dag_id = 'customer_warehouse_daily'"
                            " order by id desc limit 1").fetchone()[0]
        rows = db.execute("select task_id, start_date, end_date from task_instance"
                          " where dag_id = 'customer_warehouse_daily' and run_id = ?", (run_id,)).fetchall()
    times = dict.fromkeys(STEPS[:-1], 0.0)
    for task_id, start, end in rows:
        step = step_of(task_id)
        if step != "airflow":
            times[step] += _seconds(start, end)
    return times


def publication_rows(url: str, day: date) -> tuple[int, int]:
    """(rows deleted, rows inserted) in analytics by the date's publication."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select sum((t.value ->> 'rows_deleted')::bigint), sum((t.value ->> 'rows_inserted')::bigint)"
            " from audit.publications p, jsonb_each(p.tables) t where p.business_date = %s"
            " and p.publication_id = (select max(publication_id) from audit.publications where business_date = %s)",
            (day, day)).fetchone()
    return int(row[0] or 0), int(row[1] or 0)


def server_url(given: str | None) -> str:
    if given:
        return given
    try:
        psycopg.connect(LOCAL, connect_timeout=2).close()
        return LOCAL
    except psycopg.OperationalError:
        return warehouse.with_database(warehouse.start_embedded(), "postgres")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--transactions-per-day", type=int, default=1_000_000)
    parser.add_argument("--calls-per-day", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=150_000)
    parser.add_argument("--server", help="admin URL of the PostgreSQL server (a database is created there)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.days < 2:
        parser.error("--days must be at least 2 (day 1 and day N)")

    admin = server_url(args.server)
    dbname = f"cdw_bench_e2e_{uuid.uuid4().hex[:8]}"
    url = warehouse.with_database(admin, dbname)
    cdw = str(Path(sys.executable).parent / "cdw")
    last = FIRST + timedelta(days=args.days - 1)
    figures: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="cdw-bench-e2e-") as tmp:
        home, landing = Path(tmp) / "home", Path(tmp) / "landing"
        env = {**os.environ, "CDW_WAREHOUSE_URL": url, "CDW_HOME": str(home),
               "CDW_PSEUDONYM_KEY": os.environ.get("CDW_PSEUDONYM_KEY", "bench-only-key-0123456789abcdef0123")}
        started = time.perf_counter()
        subprocess.run([cdw, "generate", "--out", str(landing), "--start", FIRST.isoformat(),
                        "--end", last.isoformat(), "--customers", str(args.customers),
                        "--transactions-per-day", str(args.transactions_per_day),
                        "--calls-per-day", str(args.calls_per_day)], env=env, check=True)
        print(f"generated {args.days} dates in {time.perf_counter() - started:.0f} s into {landing}", flush=True)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
        try:
            print(f"{'date':10}  {'wall s':>7}  " + "  ".join(f"{s:>8}" for s in STEPS)
                  + f"  {'pub. rows written':>18}", flush=True)
            for n in range(args.days):
                day = FIRST + timedelta(days=n)
                started = time.perf_counter()
                done = subprocess.run([cdw, "run", "--landing", str(landing), "--start", day.isoformat(),
                                       "--end", day.isoformat()], env=env, capture_output=True, text=True)
                wall = time.perf_counter() - started
                if done.returncode != 0:
                    print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
                    raise SystemExit(f"cdw run failed for {day} (exit {done.returncode})")
                steps = task_times(home / "airflow" / "airflow.db")
                steps["airflow"] = wall - sum(steps.values())
                deleted, inserted = publication_rows(url, day)
                figures.append({"day": n + 1, "business_date": day.isoformat(), "wall_seconds": wall,
                                "steps": steps, "publication_rows_deleted": deleted,
                                "publication_rows_inserted": inserted})
                print(f"{day}  {wall:7.1f}  " + "  ".join(f"{steps[s]:8.1f}" for s in STEPS)
                      + f"  {deleted + inserted:>18,}", flush=True)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))

    first, nth = figures[0], figures[-1]
    ratio = nth["wall_seconds"] / first["wall_seconds"]
    publish_ratio = nth["steps"]["publish"] / max(first["steps"]["publish"], 0.001)
    slowest = max(f["wall_seconds"] for f in figures)
    print(f"\nday {len(figures)} / day 1: {ratio:.2f} (target <= 1.2)")
    print(f"publish, day {len(figures)} / day 1: {publish_ratio:.2f} (target <= 1.2)")
    print(f"slowest day: {slowest:.0f} s (target < 120 s)")
    for label, f in (("day 1", first), (f"day {len(figures)}", nth)):
        shares = ", ".join(f"{s} {100 * f['steps'][s] / f['wall_seconds']:.0f} %" for s in STEPS)
        print(f"{label}: {f['wall_seconds']:.0f} s = {shares}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "days": figures,
                                         "ratio": ratio, "publish_ratio": publish_ratio}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
