"""Failure handling of the daily DAG (retry policy, alerts) and the `cdw run` report, without Airflow runs."""

from __future__ import annotations

import json
import logging
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from cdw.alerts import AlertNotifier, TransientFaultsOnly, is_transient
from cdw.pipeline import DateOutcome, RunReport


def _raised_from(exc: BaseException, cause: BaseException) -> BaseException:
    try:
        raise exc from cause
    except BaseException as chained:  # noqa: BLE001
        return chained


def test_contract_violations_are_never_retried():
    from cdw.load import LoadFailed

    policy = TransientFaultsOnly()
    assert policy.evaluate(LoadFailed("2026-03-02 transactions.csv.gz: checksum_mismatch"), 1, 4).action.value == "fail"
    # even when a connection error is somewhere in its chain
    chained = _raised_from(LoadFailed("bad manifest"), psycopg.OperationalError("server closed the connection"))
    assert not is_transient(chained)


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError("connection refused"),
        ConnectionResetError("reset by peer"),
        TimeoutError("timed out"),
        RuntimeError("dbt invocation completed with errors: could not connect to server: Connection refused"),
    ],
)
def test_transient_faults_are_retried(exc):
    assert is_transient(exc)
    assert TransientFaultsOnly().evaluate(exc, 1, 4).action.value == "default"  # the task's retries and backoff


def test_wrapped_connection_fault_is_transient():
    from cdw.warehouse import WarehouseError

    assert is_transient(_raised_from(WarehouseError("cannot connect"), psycopg.OperationalError("no route")))


@pytest.mark.parametrize("exc", [ValueError("bad"), RuntimeError("dbt test not_null_fct_calls_call_id failed")])
def test_other_failures_fail_at_once(exc):
    assert not is_transient(exc)
    assert TransientFaultsOnly().evaluate(exc, 1, 4).action.value == "fail"


def _context(exc: BaseException) -> dict:
    ti = SimpleNamespace(dag_id="customer_warehouse_daily", task_id="load_raw", run_id="manual__x", try_number=2,
                         xcom_pull=lambda task_ids: "2026-03-02")
    return {"ti": ti, "exception": exc, "params": {}}


def test_alert_is_always_logged(caplog, monkeypatch):
    monkeypatch.delenv("CDW_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("CDW_ALERT_SMTP_CONN_ID", raising=False)
    with caplog.at_level(logging.ERROR, logger="cdw.alerts"):
        AlertNotifier().notify(_context(ValueError("row count mismatch\nsecond line")))
    lines = [r.getMessage() for r in caplog.records if "CDW ALERT" in r.getMessage()]
    assert lines == ["CDW ALERT customer_warehouse_daily.load_raw failed for business date 2026-03-02 "
                     "(try 2, run manual__x): ValueError: row count mismatch"]


def test_alert_is_posted_to_the_configured_webhook(monkeypatch):
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    monkeypatch.setenv("CDW_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/alert")
    try:
        AlertNotifier().notify(_context(RuntimeError("gate failed")))
        thread.join(5)
    finally:
        server.server_close()
    assert len(received) == 1
    assert received[0]["task_id"] == "load_raw" and received[0]["business_date"] == "2026-03-02"
    assert "gate failed" in received[0]["text"]


def test_unreachable_webhook_does_not_mask_the_failure(monkeypatch, caplog):
    monkeypatch.setenv("CDW_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/alert")  # discard port: refused
    with caplog.at_level(logging.WARNING, logger="cdw.alerts"):
        AlertNotifier(timeout=2).notify(_context(RuntimeError("boom")))
    assert any("alert webhook failed" in r.getMessage() for r in caplog.records)


def test_run_report_summary_names_the_failed_dates():
    def outcome(day, ok):
        return DateOutcome(date(2026, 3, day), ok, 1.0, Path(f"/tmp/{day}.log"))

    report = RunReport([outcome(2, True), outcome(3, True), outcome(4, False)])
    assert not report.ok
    assert report.summary() == "3 dates: 2 published, 1 failed (2026-03-04)"
    assert RunReport([outcome(2, True)]).summary() == "1 date: 1 published, 0 failed"
    assert RunReport([outcome(2, False), outcome(5, False)]).summary() == (
        "2 dates: 0 published, 2 failed (2026-03-02, 2026-03-05)")


def test_a_failed_dates_line_names_the_task_and_the_reason():
    failed = DateOutcome(date(2026, 3, 2), False, 3.0, Path("/tmp/x.log"), ["wait_for_drop", "report"],
                         "AirflowSensorTimeout: no drop")
    assert failed.line() == ("2026-03-02 FAILED in 3 s at wait_for_drop (+1 more): AirflowSensorTimeout: no drop"
                             " (log /tmp/x.log)")


def test_dates_a_scheduler_skipped_are_named():
    from cdw.business_date import missed_dates

    assert missed_dates(None, date(1994, 1, 27)) == []  # a new warehouse: nothing was due before
    assert missed_dates(date(2026, 3, 4), date(2026, 3, 5)) == []
    assert missed_dates(date(2026, 3, 5), date(2026, 3, 5)) == []
    assert missed_dates(date(2026, 2, 27), date(2026, 3, 2)) == [date(2026, 2, 28), date(2026, 3, 1)]


def test_skipped_dates_raise_an_alert_that_names_them(caplog, monkeypatch):
    monkeypatch.delenv("CDW_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("CDW_ALERT_SMTP_CONN_ID", raising=False)
    recorded = []
    monkeypatch.setattr(AlertNotifier, "_record", lambda self, alert, line, fail_loads: recorded.append(
        (alert["business_date"], alert["error_type"], fail_loads)))
    context = {**_context(RuntimeError("unused")), "exception": None}
    with caplog.at_level(logging.ERROR, logger="cdw.alerts"):
        AlertNotifier().missed_dates(context, "2026-03-05", [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)])
    lines = [r.getMessage() for r in caplog.records if "CDW ALERT" in r.getMessage()]
    assert lines == ["CDW ALERT customer_warehouse_daily.load_raw (run manual__x): business date(s) 2026-03-02 to"
                     " 2026-03-04 (3 dates) before 2026-03-05 were never loaded: run `cdw run --landing ROOT"
                     " --start 2026-03-02 --end 2026-03-04` or a backfill"]
    # recorded in audit.alerts, but no load is failed by it
    assert recorded == [(None, "MissedBusinessDates", False)]
