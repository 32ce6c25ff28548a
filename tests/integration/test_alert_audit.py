"""An alert always leaves a line in the audit trail, and the date's unpublished load is FAILED."""

from __future__ import annotations

from types import SimpleNamespace

from cdw import airflow_home
from cdw.alerts import AlertNotifier
from cdw.load import load_date
from tests.landing_builder import DAY, write_drop


def test_alert_is_recorded_and_the_load_marked_failed(tmp_path, db, warehouse_url, monkeypatch):
    write_drop(tmp_path)
    result = load_date(tmp_path, DAY)
    monkeypatch.setattr(airflow_home, "task_warehouse_url", lambda start=True: warehouse_url)
    monkeypatch.delenv("CDW_ALERT_WEBHOOK_URL", raising=False)
    ti = SimpleNamespace(dag_id="customer_warehouse_daily", task_id="build_star_schema.fct_calls_model_build",
                         run_id="manual__1", try_number=1, xcom_pull=lambda task_ids: DAY.isoformat())
    AlertNotifier().notify({"ti": ti, "exception": RuntimeError("dbt model fct_calls failed")})

    alerts = db.execute("select task_id, business_date, message from audit.alerts").fetchall()
    assert len(alerts) == 1 and alerts[0][1] == DAY and "dbt model fct_calls failed" in alerts[0][2]
    status, reason = db.execute("select status, failure_reason from audit.load_runs_latest where load_id = %s",
                                (result.load_id,)).fetchone()
    assert status == "FAILED" and reason.startswith("build_star_schema.fct_calls_model_build failed")


def test_one_alert_per_failed_date_the_report_adds_none(tmp_path, db, warehouse_url, monkeypatch):
    from cdw.alerts import DateNotPublished

    write_drop(tmp_path)
    load_date(tmp_path, DAY)
    monkeypatch.setattr(airflow_home, "task_warehouse_url", lambda start=True: warehouse_url)
    monkeypatch.delenv("CDW_ALERT_WEBHOOK_URL", raising=False)

    def ti(task_id: str, run_id: str):
        return SimpleNamespace(dag_id="customer_warehouse_daily", task_id=task_id, run_id=run_id, try_number=1,
                               xcom_pull=lambda task_ids: DAY.isoformat())

    not_published = DateNotPublished(f"{DAY} load 1 FAILED: quality gate: ...")
    AlertNotifier().notify({"ti": ti("quality_gate", "manual__1"), "exception": RuntimeError("gate failed")})
    AlertNotifier().notify({"ti": ti("report", "manual__1"), "exception": not_published})
    # a run whose failing task left no alert (its callback died): the report's verdict alerts
    AlertNotifier().notify({"ti": ti("report", "manual__2"), "exception": not_published})

    assert db.execute("select run_id, task_id from audit.alerts order by alert_id").fetchall() == [
        ("manual__1", "quality_gate"), ("manual__2", "report")]
