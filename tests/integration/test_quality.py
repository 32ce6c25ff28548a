"""The validation suites against a real PostgreSQL, run by the real Great Expectations.

A star schema is built once per server (two generated business dates, loaded by the real
loader, marts built by the real dbt into the private schema ``build``) and kept as a
template database; every test works on a fresh copy of it (``create database … template``),
breaks one thing, and checks that the gate does exactly what the suites specify.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import psycopg
import pytest

from cdw import site, warehouse
from cdw.generate import generate_landing
from cdw.load import load_date
from cdw.publication import build_marts
from cdw.quality import QualityOutcome, load_suites, validate
from tests.conftest import database_from_template, drop_database

pytestmark = pytest.mark.slow

D1, D2 = date(2026, 3, 2), date(2026, 3, 3)
BUILD_NO_TESTS = ["build", "--exclude-resource-type", "test", "unit_test"]

# ---------------------------------------------------------------- shared star schema

_BUILT: dict[str, tuple[str, dict[date, int]]] = {}


@pytest.fixture(scope="session")
def generated_landing(tmp_path_factory):
    out = tmp_path_factory.mktemp("quality-landing")
    generate_landing(out, D1, D2, seed=11, customers=150, agents=15, transactions_per_day=300, calls_per_day=80)
    return out


@pytest.fixture(scope="session")
def built_star(pg_server, template_db, generated_landing, tmp_path_factory, request) -> tuple[str, dict]:
    """(template database name, {business date: load id}) of a database with D1 and D2 loaded and built."""
    if pg_server not in _BUILT:
        name, url = database_from_template(pg_server, template_db, prefix="cdw_test_star_")
        request.config.add_cleanup(lambda: drop_database(pg_server, name))
        target = tmp_path_factory.mktemp("dbt-target")
        loads = {}
        for day in (D1, D2):
            loads[day] = load_date(generated_landing, day, url=url).load_id
            started = time.monotonic()
            build_marts(day, url=url, build_schema="build", target_path=str(target), args=BUILD_NO_TESTS)
            print(f"dbt build {day}: {time.monotonic() - started:.1f}s")
        _BUILT[pg_server] = (name, loads)
    return _BUILT[pg_server]


@pytest.fixture
def star(pg_server, built_star, monkeypatch, tmp_path):
    """A fresh copy of the built star schema: (url, {date: load id}); CDW_HOME is the test's own."""
    template, loads = built_star
    name, url = database_from_template(pg_server, template)
    monkeypatch.setenv("CDW_WAREHOUSE_URL", url)
    monkeypatch.setenv("CDW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CDW_VOLUME_TOLERANCE", raising=False)
    yield url, loads
    drop_database(pg_server, name)


def add_trailing_weeks(conn, day: date, weeks: int = 2, factor: int = 3) -> None:
    """Give build.fct_transactions `weeks` earlier same weekdays with `factor` times the day's rows."""
    conn.execute("create temp table day_rows as select * from build.fct_transactions where business_date = %s",
                 (day,))
    for week in range(1, weeks + 1):
        for copy in range(factor):
            conn.execute("create temp table shifted as select * from day_rows")
            conn.execute("update shifted set txn_id = txn_id || %s, business_date = %s,"
                         " date_key = to_char(%s::date, 'YYYYMMDD')::int",
                         (f"-w{week}c{copy}", day - timedelta(days=7 * week), day - timedelta(days=7 * week)))
            conn.execute("insert into build.fct_transactions select * from shifted")
            conn.execute("drop table shifted")
    conn.execute("drop table day_rows")


def failed(outcome: QualityOutcome, suite: str) -> list[str]:
    return [r.expectation for r in outcome.results if r.suite == suite and not r.success]


# ---------------------------------------------------------------- tests


def test_suites_are_code_one_per_gated_table():
    names = {m.SUITE for m in load_suites()}
    assert {f"raw_{e}" for e in ("transactions", "calls", "customers", "accounts", "agents")} <= names
    assert {"fct_transactions", "fct_calls", "call_center_daily", "channel_mix_daily", "dim_customer"} <= names
    for module in load_suites():
        assert module.__name__.rsplit(".", 1)[-1] == module.SUITE  # named after the table


def test_clean_load_passes_and_every_result_is_recorded(star, pg_server):
    url, loads = star
    if warehouse.parse_url(url).host.startswith("/"):
        assert "host=/" in url  # the embedded server: GX reaches it through the Unix socket
    outcome = validate(D2, loads[D2], url=url)
    assert outcome.passed, outcome.reason()
    assert outcome.critical_failures == [] and outcome.warnings == []
    suites = {r.suite for r in outcome.results}
    assert {"raw_transactions", "raw_calls", "fct_transactions", "fct_calls", "call_center_daily"} <= suites
    with psycopg.connect(url) as conn:
        recorded = conn.execute(
            "select suite_name, expectation, success, severity, observed_value from audit.validation_results"
            " where load_id = %s", (loads[D2],)).fetchall()
    assert len(recorded) == len(outcome.results)
    assert {r[3] for r in recorded} <= {"critical", "warning", "info"}
    assert ("raw_transactions", "row count = manifest rows loaded", True, "critical") in {r[:4] for r in recorded}
    volume = [r for r in outcome.results if r.expectation.startswith("volume of ledger entries")]
    assert volume and volume[0].success and volume[0].severity == "warning"
    assert "volume not judged" in volume[0].details["meta"]["note"]  # fewer than 2 comparable weeks
    assert outcome.docs_index is not None and outcome.docs_index.exists()
    assert outcome.docs_index.parent.name == "gx_docs"
    # in the warehouse's site, named after the date and the load, the results kept beside the pages
    run = site.gx_run_name(D2, loads[D2])
    pages = site.gx_pages_of_load(outcome.docs_index.parent.parent, D2, loads[D2])
    assert pages and run in outcome.docs_index.read_text(encoding="utf-8")
    assert list((outcome.docs_index.parent.parent / site.GX_RESULTS).glob(f"**/{run}/*/*.json"))


def test_data_docs_that_cannot_be_stored_never_fail_the_gate(star):
    url, loads = star
    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        site_dir = site.site_dir(conn)
    (site_dir / site.GX_RESULTS).write_text("a file where the results' folder would be")
    outcome = validate(D2, loads[D2], url=url)
    assert outcome.passed, outcome.reason()
    assert outcome.docs_index is None


DEFECTS = {
    # a fact row lost between raw and the star: count and signed sum no longer reconcile
    "reconciliation": (
        "delete from build.fct_transactions where txn_id = (select min(txn_id) from build.fct_transactions"
        " where business_date = '2026-03-03')",
        "fct_transactions", "count and signed sum reconcile with raw"),
    "signed_sum": (
        "update build.fct_transactions set signed_amount = signed_amount + 1, amount = amount + 1"
        " where txn_id = (select min(txn_id) from build.fct_transactions where business_date = '2026-03-03')",
        "fct_transactions", "count and signed sum reconcile with raw"),
    "orphan_fact_row": (
        "update build.fct_calls set agent_key = 424242 where call_id = (select min(call_id)"
        " from build.fct_calls where business_date = '2026-03-03')",
        "fct_calls", "every row joins dim_agent"),
    "kpi_out_of_range": (
        "update build.call_center_daily set service_level = 1.5 where calendar_date = '2026-03-03'"
        " and service = (select min(service) from build.call_center_daily where calendar_date = '2026-03-03')",
        "call_center_daily", "service_level in [0, 1]"),
    "raw_row_count": (
        "delete from raw.agents where business_date = '2026-03-03' and source_row = 1",
        "raw_agents", "row count = manifest rows loaded"),
    # an id of the day before, written past the loader: found through the dates' id ranges
    "raw_id_of_another_date": (
        "update raw.transactions set txn_id = (select min(txn_id) from raw.transactions"
        " where business_date = '2026-03-02') where business_date = '2026-03-03' and source_row = 1",
        "raw_transactions", "txn_id unique across history"),
    "raw_code_set": (
        "update raw.transactions set currency = 'XXX' where business_date = '2026-03-03' and source_row = 1",
        "raw_transactions", "code set currency"),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_defect_is_a_critical_failure(star, defect):
    url, loads = star
    statement, suite, expectation = DEFECTS[defect]
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(statement).rowcount == 1
    outcome = validate(D2, loads[D2], url=url, build_docs=False)
    assert not outcome.passed
    assert expectation in [r.expectation for r in outcome.critical_failures if r.suite == suite]
    assert expectation in outcome.reason()
    with psycopg.connect(url) as conn:
        row = conn.execute("select success, severity, details from audit.validation_results where load_id = %s"
                           " and suite_name = %s and expectation = %s", (loads[D2], suite, expectation)).fetchone()
    assert row[:2] == (False, "critical")


# one defect per management mart, all in one copy of the star (one validation, not ten)
MANAGEMENT_DEFECTS = {
    ("call_center_interval", "intervals add up to call_center_daily"):
        "update build.call_center_interval set offered = offered + 1 where (interval_start_ts, service) ="
        " (select interval_start_ts, service from build.call_center_interval where calendar_date = '2026-03-03'"
        " order by 1, 2 limit 1)",
    ("complaints_daily", "complaints add up to fct_calls"):
        "update build.complaints_daily set complaints = complaints + 1 where (calendar_date, service, team) ="
        " (select calendar_date, service, team from build.complaints_daily where calendar_date = '2026-03-03'"
        " order by 2, 3 limit 1)",
    ("complaints_segment_daily", "rate as defined"):
        "update build.complaints_segment_daily set complaints_per_1000_customers = 999"
        " where calendar_date = '2026-03-03' and segment = 'MASS'",
    ("campaign_daily", "attempts add up to fct_calls"):
        "insert into build.campaign_daily (campaign_id, calendar_date, date_key, attempted, connected, converted)"
        " values ('NO-SUCH-CAMPAIGN', '2026-03-03', 20260303, 1, 0, 0)",
    ("balance_concentration_daily", "top within the whole"):
        "update build.balance_concentration_daily set top_balance = total_balance + 1"
        " where calendar_date = '2026-03-03'",
    ("customer_activity_daily", "counts nest"):
        "update build.customer_activity_daily set dormant_accounts = open_accounts + 1"
        " where calendar_date = '2026-03-03'",
    ("unusual_account_activity", "a rule fired, as its figures say"):
        "insert into build.unusual_account_activity (account_id, calendar_date, date_key, customer_id, rules_fired,"
        " debit_amount_limit_fired, entry_count_limit_fired, debit_amount_sigma_fired, entry_count_sigma_fired,"
        " debit_amount, entry_count, history_days, debit_amount_limit, entry_count_limit, sigma_k)"
        " values ('NO-SUCH-ACCOUNT', '2026-03-03', 20260303, 'C0', '', false, false, false, false,"
        " 1, 1, 0, 500000, 30, 4)",
    ("customer_360", "one row per current customer"):
        "delete from build.customer_360 where customer_id = (select min(customer_id) from build.customer_360)",
    ("churn_risk", "exactly customer_360's customers at risk"):
        "update build.customer_360 set is_churn_risk = not is_churn_risk"
        " where customer_id = (select max(customer_id) from build.customer_360)",
    ("segment_tier_mismatches", "exactly customer_360's mismatches"):
        "insert into build.segment_tier_mismatches (customer_id, as_of_date, segment, tier, direction)"
        " select customer_id, as_of_date, segment, segment, 'SEGMENT_BELOW_TIER' from build.customer_360"
        " where not is_segment_mismatch order by customer_id limit 1",
}


def test_the_management_marts_are_gated_on_the_date(star):
    url, loads = star
    outcome = validate(D2, loads[D2], url=url, build_docs=False)
    assert outcome.passed, outcome.reason()
    gated = {suite for suite, _ in MANAGEMENT_DEFECTS}
    assert gated <= {r.suite for r in outcome.results}
    with psycopg.connect(url, autocommit=True) as conn:
        for (suite, _), statement in MANAGEMENT_DEFECTS.items():
            assert conn.execute(statement).rowcount == 1, suite
    outcome = validate(D2, loads[D2], url=url, build_docs=False)
    failures = {(r.suite, r.expectation) for r in outcome.critical_failures}
    assert set(MANAGEMENT_DEFECTS) <= failures
    assert {suite for suite, _ in failures} == gated  # no suite of the unbroken tables failed


def test_an_expectation_that_raises_stops_publication(star):
    url, loads = star
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("alter table build.call_center_daily drop column fcr_rate")
    outcome = validate(D2, loads[D2], url=url, build_docs=False)
    raised = [r for r in outcome.results if r.raised]
    assert [r.expectation for r in raised] == ["fcr_rate in [0, 1]"]
    assert "fcr_rate" in raised[0].details["exception"]
    assert not outcome.passed and raised[0] in outcome.critical_failures


def test_a_missing_gated_table_stops_publication(star):
    url, loads = star
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop table build.channel_mix_daily")
    outcome = validate(D2, loads[D2], url=url, build_docs=False)
    assert [(r.suite, r.expectation) for r in outcome.critical_failures] == [("channel_mix_daily", "table exists")]


def test_volume_anomaly_is_a_warning_with_a_configurable_tolerance(star, monkeypatch):
    url, loads = star
    with psycopg.connect(url, autocommit=True) as conn:
        add_trailing_weeks(conn, D2)  # the two previous Tuesdays had 3x the day's ledger entries
    outcome = validate(D2, loads[D2], url=url, build_docs=False)
    assert outcome.passed, outcome.reason()
    assert [(w.suite, w.severity) for w in outcome.warnings] == [("fct_transactions", "warning")]
    warning = outcome.warnings[0]
    assert warning.expectation.startswith("volume of ledger entries within ±50%")
    assert warning.details["result"]["details"]["unexpected_rows"][0]["weeks"] == 2
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select success, severity from audit.validation_results where load_id = %s and suite_name ="
            " 'fct_transactions' and expectation like 'volume%%'", (loads[D2],)).fetchall() == [(False, "warning")]

    monkeypatch.setenv("CDW_VOLUME_TOLERANCE", "3")  # ±300 %: a third of the usual volume is accepted
    assert validate(D2, loads[D2], url=url, build_docs=False).warnings == []
