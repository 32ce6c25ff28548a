"""A backfill gives exactly the warehouse that daily runs give.

Five business dates, two fresh warehouse databases on the local PostgreSQL:

* daily: ``cdw.pipeline.run_dates`` (``airflow dags test`` per date, in order);
* backfill: ``cdw backfill --start … --end …`` (``airflow backfill create`` with the dates'
  bounds in the bank's zone, ``--max-active-runs 1``) against a temporary Airflow (PostgreSQL
  metadata database, LocalExecutor), executed by its scheduler, with api-server and
  dag-processor beside it (``tests/deploy/airflow_cluster.py``). The backfill passes no
  business date: each run takes it from its data interval, as a scheduled run does.

Then every table of the ``raw`` and ``analytics`` schemas must hold the same rows in
both databases, as multisets, ignoring only load ids and system timestamps (columns
named ``load_id``/``*_load_id`` or ending in ``_at``): business timestamps (``*_ts``)
are compared.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.deploy.airflow_cluster import DAG_ID, AirflowCluster, fresh_database, pg_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(not pg_available(), reason="needs PostgreSQL on 127.0.0.1:5432"),
]

# decades before the DAG's start_date: neither the daily runs nor the backfill may skip them
START, END = date(1994, 3, 2), date(1994, 3, 6)
DATES = [START + timedelta(days=i) for i in range((END - START).days + 1)]
SCHEMAS = ("raw", "analytics")
#: Bound on the backfill: about 3 min a date alone on 2 cores, much more when other test
#: sessions share the machine.
RUN_TIMEOUT = 45 * 60
IGNORED_COLUMN = re.compile(r"(^|_)load_id$|_at$")


def _tables(conn) -> dict[str, list[str]]:
    """``schema.table`` → compared columns (in a fixed order) for every table and view of SCHEMAS."""
    rows = conn.execute(
        "select table_schema || '.' || table_name, column_name from information_schema.columns"
        " where table_schema = any(%s) order by 1, column_name", (list(SCHEMAS),)).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, [])
        if not IGNORED_COLUMN.search(column):
            tables[table].append(column)
    return tables


def _contents(conn, table: str, columns: list[str]) -> Counter:
    column_list = ", ".join(f'"{c}"' for c in columns)
    return Counter(conn.execute(f"select {column_list} from {table}").fetchall())


def _published_dates(url: str) -> list[date]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [d for (d,) in conn.execute(
            "select business_date from audit.load_runs_latest where status = 'PUBLISHED' order by 1").fetchall()]


def test_backfill_equals_daily_runs(tmp_path, monkeypatch):
    from cdw.generate import generate_landing
    from cdw.pipeline import run_dates

    landing = tmp_path / "landing"
    generate_landing(landing, START, END, customers=300, agents=30, transactions_per_day=800, calls_per_day=150)
    timings = {}

    with fresh_database(prefix="cdw_test_daily", warehouse_schema=True) as daily_url, \
            fresh_database(prefix="cdw_test_backfill", warehouse_schema=True) as backfill_url:
        # ---- daily runs (one after the other; run_dates returns before the cluster starts,
        # so a failure never leaves an `airflow dags test` behind)
        monkeypatch.setenv("CDW_WAREHOUSE_URL", daily_url)
        monkeypatch.setenv("CDW_HOME", str(tmp_path / "cdw_home"))
        started = time.monotonic()
        report = run_dates(landing, START, END)
        timings["daily"] = time.monotonic() - started
        assert report.ok, "\n".join(o.line() for o in report.outcomes)
        monkeypatch.delenv("CDW_WAREHOUSE_URL")

        # ---- the backfill, recorded by the CLI and executed by the scheduler
        started = time.monotonic()
        with AirflowCluster(tmp_path / "cluster", backfill_url, landing, executor="LocalExecutor") as cluster:
            cluster.start_services(triggerer=False)
            cluster.wait_dag_parsed()
            # as an operator does it: cdw works out the dates' bounds in the bank's zone (the
            # warehouse has no load yet: CDW_TIMEZONE's, Asia/Shanghai, +08:00 in 1994)
            created = subprocess.run([str(Path(sys.executable).parent / "cdw"), "backfill", "--start", str(START),
                                      "--end", str(END)], env=cluster.env, cwd=cluster.home,
                                     capture_output=True, text=True, timeout=300)
            print(created.stdout[-2000:], created.stderr[-2000:])
            assert created.returncode == 0, created.stderr[-3000:]
            assert "--from-date 1994-03-02T00:00:00+08:00 --to-date 1994-03-06T23:59:59+08:00" in created.stderr
            states = cluster.wait_runs_finished(None, timeout=RUN_TIMEOUT, count=len(DATES))
            assert sorted(states.values()) == ["success"] * len(DATES), f"{states}\n{cluster.task_table()}"
            run_types = {t for (t,) in cluster.query("select distinct run_type from dag_run where dag_id = %s",
                                                     (DAG_ID,))}
            assert run_types == {"backfill"}, run_types
        timings["backfill"] = time.monotonic() - started

        assert _published_dates(daily_url) == DATES
        assert _published_dates(backfill_url) == DATES

        # ---- the same warehouse
        with psycopg.connect(daily_url, autocommit=True) as daily, \
                psycopg.connect(backfill_url, autocommit=True) as backfill:
            tables = _tables(daily)
            assert tables == _tables(backfill), "the two warehouses have different tables or columns"
            assert any(t.startswith("analytics.") for t in tables) and any(t.startswith("raw.") for t in tables)
            differences = []
            for table, columns in tables.items():
                a, b = _contents(daily, table, columns), _contents(backfill, table, columns)
                if a != b:
                    only_daily, only_backfill = a - b, b - a
                    differences.append(f"{table}: {sum(only_daily.values())} rows only after daily runs "
                                       f"(e.g. {next(iter(only_daily), None)}), {sum(only_backfill.values())}"
                                       f" only after the backfill (e.g. {next(iter(only_backfill), None)})")
                if table in ("analytics.fct_transactions", "analytics.fct_calls", "analytics.dim_customer"):
                    assert sum(a.values()) > 0, f"{table} is empty"
            assert not differences, "\n".join(differences)
    print(f"daily runs {timings['daily']:.0f} s, backfill {timings['backfill']:.0f} s")
