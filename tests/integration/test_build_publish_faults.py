"""dbt or the publication killed mid-way: analytics stays as published, and a rerun equals an uninterrupted run.

Every test starts from a copy of one template database per server: business date D1
generated, loaded by the real loader, built by the real dbt into ``build`` and published
to ``analytics``; D2 loaded, not yet built. The reference is a copy on which D2 is built and
published without interruption. A test freezes one step in the middle deterministically
(a lock or an uncommitted row held by the test's own session, so the step blocks
mid-statement inside its transaction), SIGKILLs the step's whole process group, checks
that analytics and the audit trail are exactly as they were, reruns the step, and compares
every table of ``build``, ``staging`` and ``analytics`` (as multisets) and the audit
trail with the reference.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cdw import warehouse
from cdw.generate import generate_landing
from cdw.load import load_date
from cdw.publication import build_marts, mart_tables, publish

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
D1, D2 = date(2026, 3, 2), date(2026, 3, 3)
SCHEMAS = ("analytics", "build", "staging")

# ---------------------------------------------------------------- shared starting point


@pytest.fixture(scope="session")
def fault_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fault-landing")
    generate_landing(out, D1, D2, seed=7, customers=300, agents=12, transactions_per_day=500, calls_per_day=100)
    return out


def _create_copy(pg_server: str, template: str) -> tuple[str, str]:
    name = f"cdw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name),
                                                                        sql.Identifier(template)))
    return name, warehouse.with_database(pg_server, name)


def _drop(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


_STARTS: dict[str, tuple[str, dict[date, int]]] = {}


@pytest.fixture(scope="session")
def d1_published(pg_server, template_db, fault_landing, tmp_path_factory, request) -> tuple[str, dict]:
    """(template database, {date: load id}): D1 loaded, built and published; D2 loaded only."""
    if pg_server not in _STARTS:
        name, url = _create_copy(pg_server, template_db)
        request.config.add_cleanup(lambda: _drop(pg_server, name))
        loads = {D1: load_date(fault_landing, D1, url=url).load_id}
        build_marts(D1, url=url, target_path=str(tmp_path_factory.mktemp("dbt-d1")))
        publish(D1, loads[D1], url=url, build=False, validate_first=False)
        loads[D2] = load_date(fault_landing, D2, url=url).load_id
        _STARTS[pg_server] = (name, loads)
    return _STARTS[pg_server]


@pytest.fixture
def start(pg_server, d1_published, monkeypatch, tmp_path):
    """A fresh copy of the starting point: (url, {date: load id})."""
    template, loads = d1_published
    name, url = _create_copy(pg_server, template)
    monkeypatch.setenv("CDW_WAREHOUSE_URL", url)
    monkeypatch.setenv("CDW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CDW_BUILD_SCHEMA", raising=False)
    yield url, loads
    _drop(pg_server, name)


_REFERENCES: dict[str, dict] = {}


@pytest.fixture(scope="session")
def uninterrupted(pg_server, d1_published, tmp_path_factory) -> dict:
    """The state after D2 is built and published without interruption, on another copy."""
    if pg_server not in _REFERENCES:
        template, loads = d1_published
        name, url = _create_copy(pg_server, template)
        try:
            build_marts(D2, url=url, target_path=str(tmp_path_factory.mktemp("dbt-reference")))
            publish(D2, loads[D2], url=url, build=False, validate_first=False)
            with psycopg.connect(url, autocommit=True) as conn:
                _REFERENCES[pg_server] = state(conn)
        finally:
            _drop(pg_server, name)
    return _REFERENCES[pg_server]


# ---------------------------------------------------------------- comparing states


def _value(value):
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def tables(conn, schema: str) -> dict[str, Counter]:
    """Every table of the schema as a multiset of rows, without the ``*_at`` system timestamps."""
    out = {}
    for (table,) in conn.execute("select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                                 " where n.nspname = %s and c.relkind in ('r', 'p') order by 1",
                                 (schema,)).fetchall():
        columns = [c for (c,) in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s"
            " and column_name not like '%%\\_at' order by ordinal_position", (schema, table)).fetchall()]
        # as text: the incremental models' rebuild logs hold '-infinity', which no Python date can
        query = sql.SQL("select {} from {}").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns),
            sql.Identifier(schema, table))
        out[table] = Counter(tuple(_value(v) for v in row) for row in conn.execute(query).fetchall())
    return out


def catalog(conn, schema: str) -> list[tuple]:
    return conn.execute(
        "select table_name, column_name, data_type, ordinal_position from information_schema.columns"
        " where table_schema = %s order by 1, 4", (schema,)).fetchall()


def audit_trail(conn) -> dict[str, list[tuple]]:
    """What audit records, without timestamps and generated ids."""
    return {
        "load_runs": conn.execute("select load_id, business_date, status, failure_reason from audit.load_runs"
                                  " order by event_id").fetchall(),
        "publications": [(load_id, day, {t: {k: v for k, v in info.items() if k != "watermark"}
                                         for t, info in tables_.items()})
                         for load_id, day, tables_ in conn.execute(
                             "select load_id, business_date, tables from audit.publications"
                             " order by publication_id").fetchall()],
    }


def state(conn) -> dict:
    """Every table of build, staging and analytics (multisets), analytics' catalog, the audit trail."""
    return {"tables": {schema: tables(conn, schema) for schema in SCHEMAS},
            "analytics_catalog": catalog(conn, "analytics"), "audit": audit_trail(conn)}


def published(conn) -> tuple:
    return tables(conn, "analytics"), catalog(conn, "analytics")


#: The incremental models' bookkeeping (``<schema>__<model>__<what>``: rebuild logs, consumed
#: positions, fingerprints). A rerun after a kill re-logs the rebuilds of the models that had
#: committed before the kill, so their sequence numbers run ahead; what they decide is in the
#: models' rows, compared in full.
BOOKKEEPING = re.compile(r"^(staging|build|analytics)__")


def assert_same_state(actual: dict, expected: dict) -> None:
    for schema in SCHEMAS:
        got, want = actual["tables"][schema], expected["tables"][schema]
        assert sorted(got) == sorted(want), f"tables of {schema} differ"
        for table in want:
            if BOOKKEEPING.match(table):
                continue
            assert got[table] == want[table], f"{schema}.{table} differs from the uninterrupted run"
    assert actual["analytics_catalog"] == expected["analytics_catalog"]
    assert actual["audit"] == expected["audit"]


def latest_status(conn, load_id: int) -> str:
    return conn.execute("select status from audit.load_runs_latest where load_id = %s", (load_id,)).fetchone()[0]


# ---------------------------------------------------------------- killing a step


@contextlib.contextmanager
def _process_group(code: str, url: str, log: Path) -> Iterator[subprocess.Popen]:
    """``python -c code`` in a process group of its own (its children, dbt among them, go with it)."""
    env = dict(os.environ, CDW_WAREHOUSE_URL=url)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, start_new_session=True,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:  # never leave it running when the test fails early
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_until_blocked(conn, proc: subprocess.Popen, log: Path, app: str, blocker: int,
                        timeout: float = 300) -> tuple[int, str | None, str]:
    """(pid, backend_xid, query) of the step's session once it waits on a lock held by ``blocker``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the step ended before it could be killed:\n" + log.read_text()[-3000:]
        row = conn.execute(
            "select pid, backend_xid::text, query from pg_stat_activity where datname = current_database()"
            " and application_name = %s and wait_event_type = 'Lock' and %s = any(pg_blocking_pids(pid))",
            (app, blocker)).fetchone()
        if row:
            return row
        time.sleep(0.05)
    raise AssertionError("the step never reached the held lock:\n" + log.read_text()[-3000:])


def _kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while True:  # every process of the group is gone (dbt too, not only its parent)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, "a process of the killed group survived"
        time.sleep(0.05)


def _wait_for_sessions_to_end(conn, app: str, timeout: float = 60) -> None:
    """The server ends the dead client's sessions (and rolls their transactions back)."""
    deadline = time.monotonic() + timeout
    while conn.execute("select count(*) from pg_stat_activity where datname = current_database()"
                       " and application_name = %s and pid <> pg_backend_pid()", (app,)).fetchone()[0]:
        assert time.monotonic() < deadline, f"sessions of {app} outlived their killed client"
        time.sleep(0.05)


# ---------------------------------------------------------------- tests


def test_sigkill_of_dbt_in_the_middle_of_a_model_then_rerun(start, uninterrupted, tmp_path):
    url, loads = start
    target = tmp_path / "target"  # the rerun uses the killed run's target directory
    log = tmp_path / "dbt.log"
    with psycopg.connect(url, autocommit=True) as mon, psycopg.connect(url) as holder:
        before = published(mon)
        # an uncommitted row under one of D2's ledger ids: fct_transactions' insert
        # waits in its unique-key check on this transaction, inside the model's own transaction
        txn_id = mon.execute("select min(txn_id) from raw.transactions where business_date = %s",
                             (D2,)).fetchone()[0]
        holder.execute("create temp table blocker on commit drop as"
                       " select * from build.fct_transactions limit 1")
        holder.execute("update blocker set txn_id = %s", (txn_id,))
        holder.execute("insert into build.fct_transactions select * from blocker")

        code = (f"from datetime import date; from cdw.publication import build_marts;"
                f" build_marts(date.fromisoformat({D2.isoformat()!r}), target_path={str(target)!r})")
        with _process_group(code, url, log) as proc:
            pid, xid, query = _wait_until_blocked(mon, proc, log, "dbt", holder.info.backend_pid)
            # demonstrably mid-model: dbt's statement for fct_transactions (its delete, then the
            # insert now waiting) inside a transaction that has written (it has an xid)
            assert '"node_id": "model.cdw.fct_transactions"' in query
            assert 'insert into "' in query and '"build"."fct_transactions"' in query
            assert xid is not None
            _kill_group(proc)
        holder.rollback()  # the orphaned statement may now finish; its transaction never commits
        _wait_for_sessions_to_end(mon, "dbt")

        assert published(mon) == before, "analytics changed although nothing was published"
        assert mon.execute("select count(*) from build.fct_transactions where business_date = %s",
                           (D2,)).fetchone()[0] == 0, "the killed model's writes are rolled back"
        assert latest_status(mon, loads[D2]) == "LOADED"  # not published, and still publishable
        assert mon.execute("select count(*) from audit.load_runs where business_date = %s and status = 'PUBLISHED'",
                           (D2,)).fetchone()[0] == 0
        assert mon.execute("select business_date from audit.publications").fetchall() == [(D1,)]

    # the rerun: the same build (same target directory) and the publication
    result = publish(D2, loads[D2], url=url, build=True, validate_first=False, target_path=str(target))
    assert set(result.tables) >= {"fct_transactions", "fct_calls", "dim_customer"}
    with psycopg.connect(url, autocommit=True) as conn:
        assert latest_status(conn, loads[D2]) == "PUBLISHED"
        assert_same_state(state(conn), uninterrupted)


def test_sigkill_of_publish_in_the_middle_of_its_transaction_then_rerun(start, uninterrupted, tmp_path):
    from cdw.publish import publish as publish_step

    url, loads = start
    build_marts(D2, url=url, target_path=str(tmp_path / "target"))
    log = tmp_path / "publish.log"
    with psycopg.connect(url, autocommit=True) as mon, psycopg.connect(url) as holder:
        before = published(mon)
        marts = mart_tables(mon, "build")
        assert "fct_transactions" in marts
        # readers may read, nobody may write: publish blocks at analytics.fct_transactions after
        # it has replaced the tables before it (it syncs them in name order) in its transaction
        holder.execute("lock table analytics.fct_transactions in share mode")

        code = (f"from datetime import date; from cdw.publish import publish;"
                f" print(publish(date.fromisoformat({D2.isoformat()!r}), {loads[D2]}))")
        with _process_group(code, url, log) as proc:
            pid, xid, query = _wait_until_blocked(mon, proc, log, "cdw", holder.info.backend_pid)
            assert query.startswith('delete from "analytics"."fct_transactions"')
            assert xid is not None
            changed = {name for (name,) in mon.execute(
                "select c.relname from pg_locks l join pg_class c on c.oid = l.relation"
                " join pg_namespace n on n.oid = c.relnamespace where l.pid = %s and l.granted"
                " and l.mode = 'RowExclusiveLock' and n.nspname = 'analytics' and c.relkind in ('r', 'p')",
                (pid,)).fetchall()}
            assert changed == {t for t in marts if t < "fct_transactions"}, "replaced already, in the transaction"
            assert {"dim_customer", "dim_account", "fct_calls"} <= changed
            assert published(mon) == before, "nothing of the publication is visible while it runs"
            _kill_group(proc)
        holder.rollback()  # the orphaned delete may now run; its transaction never commits
        _wait_for_sessions_to_end(mon, "cdw")

        assert published(mon) == before, "analytics is exactly the previous publication"
        assert latest_status(mon, loads[D2]) == "LOADED"  # no PUBLISHED, no FAILED: publishable again
        assert mon.execute("select count(*) from audit.load_runs where business_date = %s and status = 'PUBLISHED'",
                           (D2,)).fetchone()[0] == 0
        assert mon.execute("select business_date from audit.publications").fetchall() == [(D1,)]
        assert mon.execute("select count(*) from pg_locks where locktype = 'advisory'"
                           " and database = (select oid from pg_database where datname = current_database())"
                           ).fetchone()[0] == 0, "the publication lock went with the killed session"

    line = publish_step(D2, loads[D2], url=url)  # the rerun of the DAG's publish step
    assert line.startswith(f"{D2} load {loads[D2]} published: ")
    with psycopg.connect(url, autocommit=True) as conn:
        assert latest_status(conn, loads[D2]) == "PUBLISHED"
        assert_same_state(state(conn), uninterrupted)
