"""`cdw run`'s verdict on a date is what the audit trail says, never Airflow's exit status alone.

``cdw.pipeline._verdict`` against a real warehouse whose trail is written as the pipeline
writes it (load_runs events, alerts); the whole DAG path is in test_pipeline.py.
"""

from __future__ import annotations

from datetime import date

from cdw.pipeline import _trail_mark, _verdict

DAY = date(1994, 1, 27)


def _event(db, load_id: int, status: str, reason: str | None = None, day: date = DAY) -> None:
    db.execute("insert into audit.load_runs (load_id, business_date, started_at, finished_at, status,"
               " failure_reason, code_version) values (%s, %s, now(), now(), %s, %s, 'test')",
               (load_id, day, status, reason))


def _alert(db, task: str, error: str, day: date = DAY) -> None:
    db.execute("insert into audit.alerts (dag_id, task_id, run_id, business_date, error_type, message)"
               " values ('customer_warehouse_daily', %s, 'r', %s, 'X', %s)",
               (task, day, f"CDW ALERT customer_warehouse_daily.{task} failed for business date {day}"
                           f" (try 1, run r): {error}"))


def test_a_run_that_loaded_nothing_is_a_failure_whatever_airflow_says(db, warehouse_url):
    mark = _trail_mark(warehouse_url)
    assert _verdict(warehouse_url, DAY, mark, 0) == (
        False, [], "no load of this date in audit.load_runs: the DAG run succeeded without loading it")


def test_an_earlier_published_load_of_the_date_does_not_count(db, warehouse_url):
    _event(db, 1, "RUNNING")
    _event(db, 1, "PUBLISHED")
    mark = _trail_mark(warehouse_url)
    assert _verdict(warehouse_url, DAY, mark, 0)[0] is False
    _event(db, 2, "RUNNING")
    _event(db, 2, "LOADED")
    _event(db, 2, "PUBLISHED")
    assert _verdict(warehouse_url, DAY, mark, 0) == (True, [], None)
    # a load of another date does not stand in for this one
    assert _verdict(warehouse_url, date(1994, 1, 28), mark, 0)[0] is False


def test_a_failed_load_gives_its_reason_and_the_alerts_give_the_tasks(db, warehouse_url):
    mark = _trail_mark(warehouse_url)
    _event(db, 7, "RUNNING")
    _event(db, 7, "LOADED")
    _alert(db, "quality_gate", "AirflowFailException: raw_calls failed")
    _alert(db, "report", "AirflowFailException: not published")
    _event(db, 7, "FAILED", "quality gate: raw_calls: timestamps in order [critical]")
    assert _verdict(warehouse_url, DAY, mark, 1) == (
        False, ["quality_gate", "report"], "load 7 FAILED: quality gate: raw_calls: timestamps in order [critical]")


def test_without_a_load_the_first_alert_is_the_reason(db, warehouse_url):
    mark = _trail_mark(warehouse_url)
    _alert(db, "wait_for_drop", "AirflowSensorTimeout: no drop for business date 1994-01-27")
    assert _verdict(warehouse_url, DAY, mark, 1) == (
        False, ["wait_for_drop"], "AirflowSensorTimeout: no drop for business date 1994-01-27")


def test_published_but_a_failed_dag_run_is_a_disagreement_and_a_failure(db, warehouse_url):
    mark = _trail_mark(warehouse_url)
    _event(db, 3, "PUBLISHED")
    ok, _tasks, error = _verdict(warehouse_url, DAY, mark, 1)
    assert not ok and error == "load 3 is PUBLISHED but the DAG run failed (airflow exited 1)"
    _event(db, 4, "LOADED")
    ok, _tasks, error = _verdict(warehouse_url, DAY, mark, 0)
    assert not ok and error == "load 4 is LOADED, not PUBLISHED (the DAG run succeeded)"
