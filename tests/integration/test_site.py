"""The site's paths: each warehouse its own directory of reports, every load its own page.

Two warehouses (two databases) share one CDW_HOME, as two environments on one machine would;
their load ids both start at 1, and neither overwrites the other's ``load-1.html``.
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, date, datetime

import psycopg
import pytest

from cdw import site, warehouse
from cdw.cli import EXIT_FAILED, main
from cdw.report import write_report
from cdw.serve import READ_ONLY
from tests.conftest import database_from_template, drop_database


@pytest.fixture
def second_warehouse(pg_server, template_db):
    name, url = database_from_template(pg_server, template_db)
    yield url
    drop_database(pg_server, name)


def _record_load(url: str, business_date: date) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        load_id = conn.execute("select nextval('audit.load_id_seq')").fetchone()[0]
        conn.execute("insert into audit.load_runs (load_id, business_date, started_at, status, code_version)"
                     " values (%s, %s, %s, 'RUNNING', 'test')", (load_id, business_date, datetime.now(UTC)))
    return load_id


def test_two_warehouses_in_one_home_keep_their_own_reports(warehouse_url, second_warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("CDW_HOME", str(tmp_path / "home"))
    first = _record_load(warehouse_url, date(2026, 3, 2))
    other = _record_load(second_warehouse, date(2026, 3, 5))
    assert first == other == 1  # the same load id in both

    mine = write_report(first, url=warehouse_url)
    theirs = write_report(other, url=second_warehouse)
    assert mine.name == theirs.name == "load-1.html" and mine.parent != theirs.parent
    for page in (mine, theirs):
        assert page.parent.parent == tmp_path / "home" / "reports"
        assert re.fullmatch(r"warehouse-[0-9a-f]{12}", page.parent.name)
    assert "2026-03-02" in mine.read_text() and "2026-03-05" in theirs.read_text()

    # a rerun of the date is a new load, so a new page; the first stays
    rerun = _record_load(warehouse_url, date(2026, 3, 2))
    assert write_report(rerun, url=warehouse_url) == mine.parent / f"load-{rerun}.html"
    assert mine.exists() and "2026-03-02" in mine.read_text()


def test_the_warehouse_id_is_made_once_and_never_changes(warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CDW_HOME", str(tmp_path / "home"))
    with warehouse.connect(warehouse_url, autocommit=True, options=READ_ONLY) as reader:
        assert site.warehouse_id(reader) is None and site.site_dir(reader, create=False) is None
    with warehouse.connect(warehouse_url, pipeline=True, autocommit=True) as pipeline:
        made = site.site_dir(pipeline)
        assert site.site_dir(pipeline) == made and made.is_dir()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pipeline.execute("update audit.warehouse_identity set warehouse_id = gen_random_uuid()")
    with psycopg.connect(warehouse_url, autocommit=True) as owner:  # not even the owner: append-only
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            owner.execute("update audit.warehouse_identity set warehouse_id = gen_random_uuid()")
    with warehouse.connect(warehouse_url, autocommit=True, options=READ_ONLY) as reader:
        assert site.site_dir(reader, create=False) == made  # what `cdw serve` finds


def test_serve_says_so_when_the_port_is_taken(warehouse_url, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == EXIT_FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: cannot listen on 127.0.0.1:") and "Traceback" not in "".join(err)
