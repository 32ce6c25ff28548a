"""Benchmark: the project's raw load of a 1,000,000-row ledger file against a bare psql COPY.

Usage (from the repository root, after bin/demo or bin/bootstrap):

    .venv/bin/python bench/bench_load.py [--rows 1000000] [--runs 3] [--url postgresql://...]

Both loads read the same generated ``transactions.csv`` (uncompressed, UTF-8) into
the same PostgreSQL: the bare one with ``psql \\copy`` into a typed table with no
index and no checks, the project's with ``cdw load`` (file checks, every record
rule, COPY, reconciliation, audit trail) in a subprocess whose peak memory is
measured; ``--runs`` times, one after the other. Prints both times, their ratio, the
load's own CPU time and peak memory, and the median ratio. Targets (issue 2):
the project's load reaches at least half the bare COPY's throughput, with peak
memory under 500 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))

from cdw import warehouse  # noqa: E402
from cdw.landing.contract import TRANSACTIONS  # noqa: E402

DAY = date(2026, 3, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger entries in the file")
    parser.add_argument("--url", help="PostgreSQL server (default: CDW_WAREHOUSE_URL or the embedded one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated drop and the database")
    parser.add_argument("--runs", type=int, default=3, help="bare and project loads, one after the other")
    args = parser.parse_args()

    server = args.url or warehouse.warehouse_url()
    dbname = f"cdw_bench_{os.getpid()}"
    with psycopg.connect(warehouse.with_database(server, "postgres"), autocommit=True) as conn:
        conn.execute(f'create database "{dbname}"')
    url = warehouse.with_database(server, dbname)
    work = Path(tempfile.mkdtemp(prefix="cdw-bench-"))
    try:
        print(f"generating a drop with about {args.rows:,} ledger entries ...", file=sys.stderr)
        # in a child process: a fork of a parent that generated the drop in memory would count
        # the parent's pages in the load's peak (RUSAGE of the child; 936 MB for 3M entries)
        subprocess.run([str(REPO / ".venv" / "bin" / "cdw"), "generate", "--out", str(work),
                        "--start", DAY.isoformat(), "--end", DAY.isoformat(),
                        "--customers", str(max(2000, args.rows // 50)), "--agents", "60",
                        "--transactions-per-day", str(args.rows), "--calls-per-day", "1000", "--no-gzip"],
                       check=True, stdout=subprocess.DEVNULL)
        csv_path = work / DAY.isoformat() / "transactions.csv"
        rows = sum(1 for _ in csv_path.open("rb")) - 1
        size_mb = csv_path.stat().st_size / 1e6

        print(f"file: {rows:,} ledger entries, {size_mb:.0f} MB, PostgreSQL {_server_version(url)}")
        ratios = []
        for run in range(1, args.runs + 1):
            # each run loads into fresh tables: the bare table and the project's raw tables
            bare = _bare_copy(url, csv_path)
            ours, peak_mb, cpu, summary = _project_load(url, work)
            _reset(url)
            rate_bare, rate_ours = rows / bare, rows / ours
            ratios.append(rate_ours / rate_bare)
            print(f"run {run}: bare psql \\copy {bare:5.2f} s ({rate_bare:,.0f} rows/s) | cdw load {ours:5.2f} s"
                  f" ({rate_ours:,.0f} rows/s, its own CPU {cpu:.2f} s) | ratio {rate_ours / rate_bare:.2f}"
                  f" | peak memory {peak_mb:.0f} MB | load average {os.getloadavg()[0]:.2f}")
        print(f"throughput ratio cdw/bare, median of {args.runs}: {statistics.median(ratios):.2f} (target >= 0.50)")
        print(f"cdw load said: {summary}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            with psycopg.connect(warehouse.with_database(server, "postgres"), autocommit=True) as conn:
                conn.execute(f'drop database if exists "{dbname}" with (force)')


def _server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("show server_version").fetchone()[0]


def _reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop table bare_transactions")
        for table in ("raw.transactions", "raw.calls", "raw.customers", "raw.accounts", "raw.agents", "raw.id_ranges"):
            conn.execute(f"truncate {table}")  # noqa: S608 (the project's own table names)


def _bare_copy(url: str, csv_path: Path) -> float:
    cols = ", ".join(f"{c.name} {c.sql_type}" for c in TRANSACTIONS.columns)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"create table bare_transactions ({cols})")
    p = warehouse.parse_url(url)
    env = dict(os.environ, PGHOST=p.host, PGPORT=str(p.port), PGUSER=p.user, PGPASSWORD=p.password,
               PGDATABASE=p.dbname)
    header = csv_path.open(encoding="utf-8").readline().strip()
    start = time.perf_counter()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    f"\\copy bare_transactions ({header}) from '{csv_path}' with (format csv, header true)"],
                   env=env, check=True)
    return time.perf_counter() - start


def _project_load(url: str, landing: Path) -> tuple[float, float, float, str]:
    env = dict(os.environ, CDW_WAREHOUSE_URL=url)
    cmd = [str(REPO / ".venv" / "bin" / "cdw"), "load", "--landing", str(landing), "--date", DAY.isoformat()]
    # schema creation is a one-time cost of a new warehouse, not of a load: do it first
    with psycopg.connect(url) as conn:
        warehouse.ensure_schema(conn)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        # this child's own peak (RUSAGE_CHILDREN would be the largest of all children, psql's included)
        _pid, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"cdw load failed: {err.read().strip()[-500:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return elapsed, usage.ru_maxrss / 1024, cpu, out.read().strip().splitlines()[-1]


if __name__ == "__main__":
    sys.exit(main())
