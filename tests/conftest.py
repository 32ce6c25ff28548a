"""Test fixtures: a real PostgreSQL, a database of its own for every test session.

Servers under test (``CDW_TEST_SERVERS``, comma-separated): ``embedded`` is the
project's embedded PostgreSQL (the default warehouse); any other entry is a
PostgreSQL URL. Default: the embedded server, plus the local server on
127.0.0.1:5432 when one answers. Database tests run once per server.
Nothing here touches a user's data: every database is created by the test
session, named ``cdw_test_*``, and dropped at the end.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cdw import warehouse

LOCAL_PG15 = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The pseudonymisation key of every test (a configured warehouse needs one; not a secret).
TEST_PSEUDONYM_KEY = "cdw-test-pseudonym-key-0123456789abcdef"
# before any fixture: subprocesses (dbt, Airflow) inherit it
os.environ.setdefault("CDW_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)


def _servers() -> list[str]:
    configured = os.environ.get("CDW_TEST_SERVERS")
    if configured:
        return [s.strip() for s in configured.split(",") if s.strip()]
    servers = ["embedded"]
    try:
        psycopg.connect(LOCAL_PG15, connect_timeout=2).close()
        servers.append(LOCAL_PG15)
    except psycopg.OperationalError:
        pass
    return servers


SERVERS = _servers()


def _admin_url(server: str) -> str:
    if server == "embedded":
        return warehouse.with_database(warehouse.start_embedded(), "postgres")
    return server


def _server_id(server: str) -> str:
    return "embedded" if server == "embedded" else warehouse.parse_url(server).host.replace("/", "_")


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_child_processes():
    """Every test starts with SIGINT and SIGTERM as a terminal leaves them: code a test ran in this
    process (Airflow's, say) may have ignored or blocked them, and child processes inherit both,
    so a command the test interrupts would never hear it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@pytest.fixture(scope="session", params=SERVERS, ids=[_server_id(s) for s in SERVERS])
def pg_server(request) -> str:
    """Admin URL of one PostgreSQL server under test."""
    return _admin_url(request.param)


@pytest.fixture(scope="session")
def template_db(pg_server) -> str:
    """A database with the raw and audit schemas, used as a template for fresh ones."""
    name = f"cdw_test_tmpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = warehouse.with_database(pg_server, name)
    with warehouse.connect(url) as conn:
        warehouse.ensure_schema(conn)
    yield name
    drop_database(pg_server, name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def database_from_template(admin_url: str, template: str, prefix: str = "cdw_test_") -> tuple[str, str]:
    """A new database copied from ``template`` on the server of ``admin_url``: (its name, its URL)."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template)))
    return name, warehouse.with_database(admin_url, name)


@pytest.fixture
def warehouse_url(pg_server, template_db, monkeypatch) -> str:
    """A fresh database (raw and audit schemas in place) for one test; CDW_WAREHOUSE_URL points at it."""
    name, url = database_from_template(pg_server, template_db)
    monkeypatch.setenv("CDW_WAREHOUSE_URL", url)
    yield url
    drop_database(pg_server, name)


@pytest.fixture
def db(warehouse_url):
    """An autocommit connection to the test's fresh warehouse."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def test_output() -> Path:
    """Where tests leave artefacts worth looking at (screenshots, reports)."""
    out = Path(__file__).resolve().parents[1] / "test-output"
    out.mkdir(exist_ok=True)
    return out


#: The longest files (minutes each, whole DAG runs or many dbt builds), handed to the
#: test workers first: a long file started last would run on alone at the end.
LONGEST_FIRST = (
    "tests/integration/test_backfill.py",
    "tests/deploy/test_celery_local.py",
    "tests/integration/test_pipeline.py",
    "tests/integration/test_dbt_star.py",
    "tests/integration/test_dbt_any_bank.py",
    "tests/integration/test_real_banks.py",
    "tests/integration/test_build_publish_faults.py",
)


def _longest_first(item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    """The longest files first; tests marked ``single_server`` (long end-to-end runs) run on the
    first server only."""
    items.sort(key=_longest_first)  # stable: every other test keeps its place
    if len(SERVERS) < 2:
        return
    kept, dropped = [], []
    for item in items:
        server = getattr(item, "callspec", None) and item.callspec.params.get("pg_server")
        if item.get_closest_marker("single_server") and server not in (None, SERVERS[0]):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
