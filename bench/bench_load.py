"""Benchmark: the project's raw load of a whole drop against a bare psql COPY of the same files.

Usage (from the repository root, after bin/demo or bin/bootstrap):

    .venv/bin/python bench/bench_load.py [--runs 3] [--url postgresql://...] [--drop DIR]

The drop is generated once (by default the issue 18 size: 150,000 customers, about
1,000,000 ledger entries and 50,000 calls; all five files, uncompressed, UTF-8), or
taken from ``--drop`` (a landing root holding one date). Each run, one after the other:

- bare: one ``psql`` process ``\\copy``-ing the five files into typed tables with no
  index and no checks, in a fresh database. ``calls.jsonl`` has no columns a COPY can
  split, so its lines are copied as ``jsonb`` into a temporary table and turned into
  typed rows with ``jsonb_populate_record`` (the plain way to load JSON Lines with psql);
- project: ``cdw load`` (manifest, checksums, every record rule, binary COPY, duplicate
  checks, reconciliation, audit trail, statistics) in a subprocess, process start
  included, into a fresh warehouse database; its schema is created before the clock
  starts, as the bare tables are.

Prints both times, their throughput ratio (records/s of the project's load over the
bare one's), the load's CPU time and peak memory (its own maximum RSS), and the median
ratio. Targets (issue 18): ratio at least 0.6, peak memory under 500 MB.
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
from cdw.landing.contract import SOURCE_FILES  # noqa: E402

DAY = date(2026, 3, 2)
CDW = str(REPO / ".venv" / "bin" / "cdw")
RATIO_TARGET, MEMORY_TARGET_MB = 0.6, 500


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="PostgreSQL server (default: CDW_WAREHOUSE_URL or the embedded one)")
    parser.add_argument("--runs", type=int, default=3, help="bare and project loads, one after the other")
    parser.add_argument("--drop", type=Path, help=f"an existing landing root with a drop for {DAY} (else generated)")
    parser.add_argument("--transactions", type=int, default=1_000_000, help="ledger entries on an average day")
    parser.add_argument("--calls", type=int, default=50_000, help="calls on an average day")
    parser.add_argument("--customers", type=int, default=150_000, help="customers in the master")
    parser.add_argument("--keep", action="store_true", help="keep the generated drop")
    args = parser.parse_args()

    server = args.url or warehouse.warehouse_url()
    work = Path(tempfile.mkdtemp(prefix="cdw-bench-"))
    landing = args.drop
    try:
        if landing is None:
            landing = work / "landing"
            print(f"generating a drop of {args.transactions:,} ledger entries, {args.calls:,} calls,"
                  f" {args.customers:,} customers ...", file=sys.stderr)
            # in a child process: a fork of a parent that generated the drop in memory would count
            # the parent's pages in the load's peak
            subprocess.run([CDW, "generate", "--out", str(landing), "--start", DAY.isoformat(),
                            "--end", DAY.isoformat(), "--customers", str(args.customers),
                            "--transactions-per-day", str(args.transactions), "--calls-per-day", str(args.calls),
                            "--no-gzip"], check=True, stdout=subprocess.DEVNULL)
        files = _drop_files(landing / DAY.isoformat())
        records = sum(rows for _src, _path, rows in files)
        size_mb = sum(path.stat().st_size for _src, path, _rows in files) / 1e6
        print(f"drop: {', '.join(f'{path.name} {rows:,}' for _src, path, rows in files)};"
              f" {records:,} records, {size_mb:.0f} MB; PostgreSQL {_server_version(server)}; {os.cpu_count()} cores")

        ratios, peaks = [], []
        for run in range(1, args.runs + 1):
            with _fresh_database(server, f"cdw_bench_bare_{os.getpid()}") as url:
                bare = _bare_copy(url, files, work)
            with _fresh_database(server, f"cdw_bench_load_{os.getpid()}") as url:
                ours, peak_mb, cpu, summary = _project_load(url, landing)
            ratio = (records / ours) / (records / bare)
            ratios.append(ratio)
            peaks.append(peak_mb)
            print(f"run {run}: bare psql \\copy {bare:5.2f} s ({records / bare:,.0f} records/s)"
                  f" | cdw load {ours:5.2f} s ({records / ours:,.0f} records/s, its own CPU {cpu:.2f} s)"
                  f" | ratio {ratio:.2f} | peak memory {peak_mb:.0f} MB | load average {os.getloadavg()[0]:.2f}",
                  flush=True)
        median = statistics.median(ratios)
        print(f"throughput ratio cdw/bare, median of {args.runs}: {median:.2f} (target >= {RATIO_TARGET});"
              f" peak memory at most {max(peaks):.0f} MB (target < {MEMORY_TARGET_MB} MB)")
        print(f"cdw load said: {summary}")
        return 0 if median >= RATIO_TARGET and max(peaks) < MEMORY_TARGET_MB else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _drop_files(folder: Path) -> list[tuple[object, Path, int]]:
    """(source file, path, records) of the five files of the drop, in the order cdw load reads them."""
    import json

    manifest = json.loads((folder / "_manifest.json").read_text())
    out = []
    for src in SOURCE_FILES:
        path = folder / src.base_name
        if path.name not in manifest["files"]:
            raise SystemExit(f"{folder}: the benchmark needs {src.base_name} uncompressed (generate with --no-gzip)")
        out.append((src, path, manifest["files"][path.name]["rows"]))
    return out


class _fresh_database:
    """A new empty database on the server for one load, dropped afterwards."""

    def __init__(self, server: str, name: str):
        self.server, self.name = server, name

    def __enter__(self) -> str:
        with psycopg.connect(warehouse.with_database(self.server, "postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{self.name}" with (force)')
            conn.execute(f'create database "{self.name}"')
        return warehouse.with_database(self.server, self.name)

    def __exit__(self, *exc) -> None:
        with psycopg.connect(warehouse.with_database(self.server, "postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{self.name}" with (force)')


def _server_version(url: str) -> str:
    with psycopg.connect(warehouse.with_database(url, "postgres")) as conn:
        return conn.execute("show server_version").fetchone()[0]


def _bare_copy(url: str, files, work: Path) -> float:
    """Seconds for one psql process to \\copy the five files into typed tables (created beforehand)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for src, _path, _rows in files:
            cols = ", ".join(f"{c.name} {c.sql_type}" for c in src.columns)
            conn.execute(f"create table bare_{src.entity} ({cols})")
    script = []
    for src, path, _rows in files:
        if src.fmt == "csv":
            header = path.open(encoding="utf-8").readline().strip()
            script.append(f"\\copy bare_{src.entity} ({header}) from '{path}' with (format csv, header true)")
        else:  # one jsonb value per line: CSV with a quote and delimiter that never occur
            script += [
                "create temp table bare_lines (record jsonb);",
                f"\\copy bare_lines from '{path}' with (format csv, quote e'\\x01', delimiter e'\\x02')",
                # names from the contract, never from input
                f"insert into bare_{src.entity} select r.* from bare_lines, jsonb_populate_record(null::bare_{src.entity}, record) r;",  # noqa: S608, E501
            ]
    script_path = work / "bare.sql"
    script_path.write_text("\n".join(script) + "\n")
    p = warehouse.parse_url(url)
    env = dict(os.environ, PGHOST=p.host, PGPORT=str(p.port), PGUSER=p.user, PGPASSWORD=p.password or "",
               PGDATABASE=p.dbname)
    start = time.perf_counter()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script_path)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    with psycopg.connect(url) as conn:  # every record arrived
        counts = {src.entity: conn.execute(f"select count(*) from bare_{src.entity}").fetchone()[0]  # noqa: S608
                  for src, _path, _rows in files}
    wrong = {entity: n for (src, _path, rows), (entity, n) in zip(files, counts.items(), strict=True) if n != rows}
    if wrong:
        raise SystemExit(f"bare copy: unexpected row counts {wrong}")
    return elapsed


def _project_load(url: str, landing: Path) -> tuple[float, float, float, str]:
    env = dict(os.environ, CDW_WAREHOUSE_URL=url)
    cmd = [CDW, "load", "--landing", str(landing), "--date", DAY.isoformat()]
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
