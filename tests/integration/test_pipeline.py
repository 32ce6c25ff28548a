"""``cdw.pipeline.run_dates`` end to end: generated drops → Airflow DAG (``airflow dags test``) → warehouse.

Slow (about two minutes a date): a fresh Airflow home is migrated, and every
dbt model runs as its own task. Runs once per PostgreSQL server under test.
"""

from __future__ import annotations

from datetime import date

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.single_server]

START, END = date(2026, 3, 2), date(2026, 3, 3)


def _generate(out):
    try:
        from cdw.generate import generate_landing
    except ImportError as exc:  # written in parallel; skip only while it does not import
        pytest.skip(f"cdw.generate.generate_landing does not import yet: {exc}")
    generate_landing(out, START, END, customers=200, transactions_per_day=400, calls_per_day=120, agents=10)


@pytest.fixture(scope="module")
def cdw_home(tmp_path_factory):
    """One CDW_HOME (Airflow home, logs) for the module: Airflow's database is migrated once."""
    return tmp_path_factory.mktemp("cdw_home")


def _log_tails(report) -> str:
    return "\n\n".join(
        f"--- {o.business_date}: {o.log_path}\n" + "\n".join(o.log_path.read_text().splitlines()[-40:])
        for o in report.outcomes if not o.ok
    )


def test_run_dates_publishes_every_date(warehouse_url, db, cdw_home, tmp_path, monkeypatch):
    from cdw.pipeline import run_dates

    landing = tmp_path / "landing"
    _generate(landing)
    monkeypatch.setenv("CDW_HOME", str(cdw_home))
    progress: list[str] = []

    report = run_dates(landing, START, END, progress=progress.append)

    assert report.ok, _log_tails(report)
    assert report.summary() == "2 dates: 2 published, 0 failed"
    date_lines = [line for line in progress if line.startswith("[")]
    assert len(date_lines) == 2 and all("published" in line for line in date_lines), progress
    for outcome in report.outcomes:
        assert outcome.log_path.is_file() and outcome.log_path.parent == cdw_home / "logs"

    latest = dict(db.execute(
        "select business_date, status from audit.load_runs_latest where status = 'PUBLISHED'"
    ).fetchall())
    assert latest == {START: "PUBLISHED", END: "PUBLISHED"}

    for day in (START, END):
        date_key = int(day.strftime("%Y%m%d"))
        loaded = db.execute(
            "select f.rows_loaded from audit.file_reconciliation f join audit.load_runs_latest l using (load_id)"
            " where l.status = 'PUBLISHED' and l.business_date = %s and f.file_name like 'transactions%%'",
            (day,),
        ).fetchone()[0]
        facts = db.execute("select count(*) from analytics.fct_transactions where date_key = %s",
                           (date_key,)).fetchone()[0]
        assert facts == loaded > 0, (day, facts, loaded)
        calls = db.execute("select count(*) from analytics.fct_calls where date_key = %s", (date_key,)).fetchone()[0]
        assert calls > 0, day
    for table in ("dim_customer", "dim_account", "dim_channel", "dim_agent", "dim_date", "call_center_daily"):
        assert db.execute(f"select count(*) from analytics.{table}").fetchone()[0] > 0, table


def test_missing_drop_fails_the_date_and_names_it(warehouse_url, cdw_home, tmp_path, monkeypatch):
    """A date without a drop fails at once (no waiting in `cdw run`); the summary names it."""
    from cdw.pipeline import run_dates

    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv("CDW_HOME", str(cdw_home))
    progress: list[str] = []

    report = run_dates(landing, START, START, progress=progress.append)

    assert not report.ok
    assert report.summary() == f"1 date: 0 published, 1 failed ({START})"
    outcome = report.outcomes[0]
    assert outcome.failed_tasks == ["wait_for_drop"]
    assert "_manifest.json" in outcome.error and str(START) in outcome.error
    assert outcome.seconds < 300
