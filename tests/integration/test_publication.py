# ruff: noqa: F811  (pytest fixtures imported from test_quality are parameters of the tests)
"""Write–audit–publish against a real PostgreSQL: the gate decides, analytics follows build or stays put.

Uses the star schema built once per server by tests/integration/test_quality.py (two
generated business dates loaded by the real loader, marts built by the real dbt into
``build``); every test publishes on a fresh copy of it.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors, sql

from cdw import warehouse
from cdw.publication import PublicationRefused, mart_tables, publish
from cdw.roles import setup_roles
from tests.integration.test_quality import (  # noqa: F401, F811 (fixtures shared with the quality tests)
    D1,
    D2,
    DEFECTS,
    add_trailing_weeks,
    built_star,
    generated_landing,
    star,
)

pytestmark = pytest.mark.slow


def contents(conn, schema: str) -> dict[str, list[tuple]]:
    """Every table of the schema, all rows in a total order (every column)."""
    out = {}
    for (table,) in conn.execute("select tablename from pg_tables where schemaname = %s order by 1",
                                 (schema,)).fetchall():
        cur = conn.execute(sql.SQL("select * from {}").format(sql.Identifier(schema, table)))
        out[table] = sorted(cur.fetchall(), key=repr)
    return out


def catalog(conn, schema: str) -> list[tuple]:
    return conn.execute(
        "select table_name, column_name, data_type, ordinal_position from information_schema.columns"
        " where table_schema = %s order by 1, 4", (schema,)).fetchall()


def assert_analytics_equals_build(conn) -> None:
    build, analytics = contents(conn, "build"), contents(conn, "analytics")
    marts = mart_tables(conn, "build")
    assert set(marts) == set(analytics), "analytics holds exactly the marts of build"
    assert {"dim_date", "dim_customer", "dim_account", "dim_channel", "dim_agent", "fct_transactions", "fct_calls",
            "call_center_daily", "channel_mix_daily"} <= set(marts)
    for table in marts:
        assert analytics[table] == build[table], f"analytics.{table} differs from build.{table}"
    build_cat = [r for r in catalog(conn, "build") if r[0] in marts]
    assert catalog(conn, "analytics") == build_cat


def status(conn, load_id: int) -> tuple:
    return conn.execute("select status, failure_reason from audit.load_runs_latest where load_id = %s",
                        (load_id,)).fetchone()


# ---------------------------------------------------------------- publication


def test_publish_builds_audits_and_makes_analytics_equal_build(star, tmp_path):
    url, loads = star
    first = publish(D1, loads[D1], url=url, build=False)
    assert {v["mode"] for v in first.tables.values()} == {"created"}
    with psycopg.connect(url) as conn:
        assert status(conn, loads[D1]) == ("PUBLISHED", None)
        assert_analytics_equals_build(conn)
        # indexes come along (the unique natural key of the facts among them)
        assert conn.execute("select count(*) from pg_indexes where schemaname = 'analytics'"
                            " and tablename = 'fct_transactions' and indexdef like '%%UNIQUE%%(txn_id)%%'"
                            ).fetchone()[0] == 1

    # the second date goes through the real dbt build (models, seeds and dbt tests) first
    second = publish(D2, loads[D2], url=url, build=True, target_path=str(tmp_path / "target"))
    assert second.run_results is not None and second.run_results.exists()
    # in proportion to the day: the facts replace the date dbt rebuilt, the other marts their changed rows
    assert {t: v["mode"] for t, v in second.tables.items() if v["mode"] != "changed_rows"} == {
        "fct_transactions": "incremental", "fct_calls": "incremental"}
    assert second.tables["fct_transactions"]["dates"] == second.tables["fct_calls"]["dates"] == [str(D2)]
    with psycopg.connect(url) as conn:
        assert status(conn, loads[D2]) == ("PUBLISHED", None)
        assert_analytics_equals_build(conn)
        pubs = conn.execute("select load_id, business_date, tables ? 'fct_transactions' from audit.publications"
                            " order by publication_id").fetchall()
        assert pubs == [(loads[D1], D1, True), (loads[D2], D2, True)]
        with pytest.raises(errors.RaiseException, match="append-only"):
            conn.execute("delete from audit.publications")

    # a load that is no longer LOADED is never published (and gets no FAILED event on top)
    with pytest.raises(PublicationRefused, match="PUBLISHED, not LOADED"):
        publish(D1, loads[D1], url=url, build=False)
    with psycopg.connect(url) as conn:
        assert status(conn, loads[D1]) == ("PUBLISHED", None)


@pytest.mark.parametrize("defect", ["reconciliation", "orphan_fact_row"])
def test_a_critical_failure_refuses_and_analytics_is_exactly_as_before(star, defect):
    url, loads = star
    publish(D1, loads[D1], url=url, build=False)
    statement, suite, expectation = DEFECTS[defect]
    with psycopg.connect(url, autocommit=True) as conn:
        before = (contents(conn, "analytics"), catalog(conn, "analytics"))
        assert conn.execute(statement).rowcount == 1
    with pytest.raises(PublicationRefused) as refused:
        publish(D2, loads[D2], url=url, build=False)
    assert expectation in str(refused.value)
    assert not refused.value.outcome.passed
    with psycopg.connect(url) as conn:
        assert (contents(conn, "analytics"), catalog(conn, "analytics")) == before
        state, reason = status(conn, loads[D2])
        assert state == "FAILED" and expectation in reason and suite in reason
        assert conn.execute("select count(*) from audit.publications where load_id = %s",
                            (loads[D2],)).fetchone()[0] == 0
        assert conn.execute("select count(*) from audit.validation_results where load_id = %s and not success"
                            " and severity = 'critical'", (loads[D2],)).fetchone()[0] >= 1


def test_a_warning_only_failure_publishes_and_is_recorded(star):
    url, loads = star
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("update build.fct_calls set wrap_up_seconds = -1 where call_id = (select min(call_id)"
                            " from build.fct_calls where business_date = %s)", (D2,)).rowcount == 1
    result = publish(D2, loads[D2], url=url, build=False)
    assert [(w.suite, w.expectation) for w in result.quality.warnings] == [("fct_calls", "wrap_up_seconds >= 0")]
    with psycopg.connect(url) as conn:
        assert status(conn, loads[D2]) == ("PUBLISHED", None)
        assert_analytics_equals_build(conn)
        assert conn.execute("select success, severity from audit.validation_results where load_id = %s"
                            " and expectation = 'wrap_up_seconds >= 0'", (loads[D2],)).fetchall() == [
            (False, "warning")]


def test_a_volume_anomaly_publishes_with_a_warning(star):
    url, loads = star
    with psycopg.connect(url, autocommit=True) as conn:
        add_trailing_weeks(conn, D2)
    result = publish(D2, loads[D2], url=url, build=False)
    assert [w.expectation.split(" within")[0] for w in result.quality.warnings] == ["volume of ledger entries"]
    with psycopg.connect(url) as conn:
        assert status(conn, loads[D2]) == ("PUBLISHED", None)
        assert_analytics_equals_build(conn)
        assert conn.execute("select count(*) from audit.validation_results where load_id = %s and not success"
                            " and severity = 'warning' and expectation like 'volume%%'",
                            (loads[D2],)).fetchone()[0] == 1


def test_facts_with_built_at_publish_in_proportion_to_the_day(star):
    url, loads = star
    with psycopg.connect(url, autocommit=True) as conn:
        for fact in ("fct_transactions", "fct_calls"):  # every row built long ago
            conn.execute(sql.SQL("update {} set built_at = '2026-01-01 00:00+00'").format(sql.Identifier("build", fact)))
    publish(D1, loads[D1], url=url, build=False)
    with psycopg.connect(url, autocommit=True) as conn:
        # dbt rebuilt D2, and repaired one D1 ledger entry (its key re-resolved)
        conn.execute("update build.fct_transactions set built_at = now() where business_date = %s", (D2,))
        conn.execute("update build.fct_calls set built_at = now() where business_date = %s", (D2,))
        repaired = conn.execute("update build.fct_transactions set built_at = now(),"
                                " balance_after = balance_after + 1 where txn_id = (select min(txn_id)"
                                " from build.fct_transactions where business_date = %s) returning txn_id",
                                (D1,)).fetchone()[0]
        untouched = conn.execute("select call_id, xmin::text from analytics.fct_calls where business_date = %s",
                                 (D1,)).fetchall()
        assert untouched
    result = publish(D2, loads[D2], url=url, build=False)
    calls, txns = result.tables["fct_calls"], result.tables["fct_transactions"]
    assert calls["mode"] == "incremental" and calls["dates"] == [str(D2)]
    assert txns["mode"] == "incremental" and txns["dates"] == [str(D1), str(D2)]
    assert result.tables["dim_customer"] == {"mode": "changed_rows", "rows_deleted": 0, "rows_inserted": 0,
                                             "watermark": None}
    with psycopg.connect(url) as conn:
        assert_analytics_equals_build(conn)
        # D1's calls were not rewritten: same row versions as before the publication
        assert conn.execute("select call_id, xmin::text from analytics.fct_calls where business_date = %s",
                            (D1,)).fetchall() == untouched
        assert conn.execute("select a.balance_after = b.balance_after from analytics.fct_transactions a"
                            " join build.fct_transactions b using (txn_id) where txn_id = %s",
                            (repaired,)).fetchone()[0]
        watermark = conn.execute("select build_watermark from audit.publications order by publication_id desc"
                                 " limit 1").fetchone()[0]
        assert watermark == conn.execute("select max(built_at) from build.fct_transactions").fetchone()[0]


def test_publishing_a_date_writes_that_date_only_and_never_waits_for_an_analyst(star, monkeypatch):
    url, loads = star
    publish(D1, loads[D1], url=url, build=False)
    with psycopg.connect(url, autocommit=True) as conn:
        # dbt rebuilt D2 (and nothing else) since: what a daily run leaves in build
        for fact in ("fct_transactions", "fct_calls"):
            conn.execute(sql.SQL("update {} set built_at = clock_timestamp() where business_date = %s").format(
                sql.Identifier("build", fact)), (D2,))
        d2_rows = {fact: conn.execute(sql.SQL("select count(*) from {} where business_date = %s").format(
            sql.Identifier("build", fact)), (D2,)).fetchone()[0] for fact in ("fct_transactions", "fct_calls")}
        kept = conn.execute("select txn_id, xmin::text from analytics.fct_transactions where business_date <> %s"
                            " order by 1", (D2,)).fetchall()
        assert kept and all(d2_rows.values())

    # an analyst's long query is open on the facts all through the publication
    with psycopg.connect(url) as analyst:
        analyst.execute("set transaction isolation level repeatable read")
        seen_before = analyst.execute("select count(*), max(built_at) from analytics.fct_transactions").fetchone()
        monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=5s")  # waiting on the analyst would fail the publication
        result = publish(D2, loads[D2], url=url, build=False)
        assert analyst.execute("select count(*), max(built_at) from analytics.fct_transactions"
                               ).fetchone() == seen_before, "the analyst's snapshot changed under the query"
        analyst.rollback()

    for fact, count in d2_rows.items():
        assert result.tables[fact]["mode"] == "incremental" and result.tables[fact]["dates"] == [str(D2)]
        assert result.tables[fact]["rows_deleted"] == result.tables[fact]["rows_inserted"] == count
    unchanged = {t: (v["rows_deleted"], v["rows_inserted"]) for t, v in result.tables.items()
                 if t not in d2_rows}
    assert unchanged and set(unchanged.values()) == {(0, 0)}, "a mart that did not change was rewritten"
    with psycopg.connect(url) as conn:
        assert_analytics_equals_build(conn)
        # the other dates' entries are the same row versions as before: not rewritten
        assert conn.execute("select txn_id, xmin::text from analytics.fct_transactions where business_date <> %s"
                            " order by 1", (D2,)).fetchall() == kept
        recorded = conn.execute("select tables -> 'fct_transactions' ->> 'mode' from audit.publications"
                                " where load_id = %s", (loads[D2],)).fetchone()[0]
        assert recorded == "incremental"


def test_changed_columns_rebuild_the_published_table(star):
    url, loads = star
    publish(D1, loads[D1], url=url, build=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("alter table build.fct_calls add column sentiment text default 'NEUTRAL'")
        conn.execute("create table build.agent_roster_daily as select 1 as agents")  # a new mart
    result = publish(D2, loads[D2], url=url, build=False)
    assert result.tables["fct_calls"]["mode"] == "rebuilt"
    assert result.tables["agent_roster_daily"]["mode"] == "created"
    with psycopg.connect(url) as conn:
        assert_analytics_equals_build(conn)
        names = {n for (n,) in conn.execute("select indexname from pg_indexes where schemaname = 'analytics'"
                                            " and tablename = 'fct_calls'").fetchall()}
        assert len(names) == conn.execute("select count(*) from pg_indexes where schemaname = 'build'"
                                          " and tablename = 'fct_calls'").fetchone()[0] > 0
        assert not any("__cdw_new" in n for n in names)


# ---------------------------------------------------------------- roles and grants


@pytest.fixture
def login_roles(pg_server):
    """Two LOGIN roles, members of cdw_analyst and cdw_auditor; dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {"analyst": f"cdw_test_analyst_{suffix}", "auditor": f"cdw_test_auditor_{suffix}"}
    yield names
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def _as(url: str, role: str) -> psycopg.Connection:
    p = warehouse.parse_url(url)
    login = warehouse.build_url(warehouse.UrlParts(p.host, p.port, role, "test-only-pw", p.dbname))
    return psycopg.connect(login, autocommit=True)


def _denied(conn, statement: str) -> bool:
    try:
        conn.execute(statement)
    except errors.InsufficientPrivilege:
        return True
    return False


def test_grants_survive_two_publications(star, login_roles):
    url, loads = star
    with psycopg.connect(url, autocommit=True) as conn:
        setup_roles(conn)
        setup_roles(conn)  # idempotent
        for kind, name in login_roles.items():
            conn.execute(sql.SQL("create role {} login password 'test-only-pw'").format(sql.Identifier(name)))
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(f"cdw_{kind}"), sql.Identifier(name)))
    publish(D1, loads[D1], url=url, build=False)  # creates every analytics table
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("alter table build.dim_agent add column shift_pattern text")  # forces a rebuild
    publish(D2, loads[D2], url=url, build=False)

    with _as(url, login_roles["analyst"]) as analyst:
        for table in ("fct_transactions", "fct_calls", "dim_agent", "call_center_daily"):
            assert analyst.execute(sql.SQL("select count(*) from {}").format(
                sql.Identifier("analytics", table))).fetchone()[0] > 0
        for statement in ("select * from audit.quarantined_records", "select * from audit.load_runs",
                          "select * from raw.transactions", "select * from raw.customers",
                          "select * from build.fct_transactions", "select * from staging.int_customers_versioned",
                          "delete from analytics.fct_transactions", "create table analytics.mine (x int)"):
            assert _denied(analyst, statement), statement
    with _as(url, login_roles["auditor"]) as auditor:
        assert auditor.execute("select count(*) from audit.load_runs").fetchone()[0] > 0
        assert auditor.execute("select count(*) from audit.quarantined_records").fetchone()[0] >= 0
        assert auditor.execute("select count(*) from audit.validation_results").fetchone()[0] > 0
        assert auditor.execute("select count(*) from audit.publications").fetchone()[0] == 2
        assert auditor.execute("select count(*) from analytics.dim_agent").fetchone()[0] > 0
        for statement in ("insert into audit.validation_results (load_id, suite_name, expectation, success)"
                          " values (0, 's', 'e', true)",
                          "delete from analytics.fct_calls", "update analytics.dim_date set year = 0",
                          "insert into analytics.dim_channel (channel_key) values (99)",
                          "create table analytics.mine (x int)", "create table audit.mine (x int)",
                          "select * from raw.calls"):
            assert _denied(auditor, statement), statement
