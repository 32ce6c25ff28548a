"""The daily DAG on a distributed Airflow: CeleryExecutor, two workers, no Docker.

Local processes (``tests/deploy/airflow_cluster.py``) stand in for the compose
services: api-server, scheduler, dag-processor, triggerer and two Celery workers
(``w1``, ``w2``) on a Redis broker (a database number of its own) with a fresh
metadata database on the local PostgreSQL and a fresh warehouse database beside it.

Two business dates are triggered with ``airflow dags trigger --conf`` (one run at a
time: ``max_active_runs=1``):

1. the first run succeeds with its tasks on both workers (``task_instance.hostname``);
2. while the second run's dbt models run, the worker running one of them is killed
   (SIGKILL of the whole worker: Celery parent, pool and task processes). The
   scheduler notices the missing heartbeats (30 s here), the task is retried on the
   other worker after the DAG's retry delay, and the run succeeds;
3. both dates are PUBLISHED and every file reconciles exactly
   (manifest rows = rows read = rows loaded + rows set aside).

The kill happens during the second date rather than a third one: on two cores each
date costs about three minutes.
"""

from __future__ import annotations

import time
from datetime import date

import psycopg
import pytest

from tests.deploy.airflow_cluster import DAG_ID, AirflowCluster, fresh_database, pg_available, redis_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(2700),
    pytest.mark.skipif(not pg_available(), reason="needs PostgreSQL on 127.0.0.1:5432"),
    pytest.mark.skipif(not redis_available(), reason="needs Redis on 127.0.0.1:6379"),
]

DATES = [date(2026, 3, 2), date(2026, 3, 3)]
WORKERS = ("w1", "w2")
RUN_TIMEOUT = 20 * 60


def _celery_executor_loads() -> None:
    """Fail at once, with the reason, when the locked environment cannot load the CeleryExecutor."""
    try:
        from airflow.providers.celery.executors import celery_executor  # noqa: F401
    except ImportError as exc:
        import celery

        pytest.fail(f"the CeleryExecutor does not import with celery {celery.__version__}: {exc}"
                    " (celery 5.7 removed celery.backends.database.retry, which"
                    " apache-airflow-providers-celery imports: pin celery<5.7 in the lock)", pytrace=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from cdw.generate import generate_landing

    _celery_executor_loads()

    root = tmp_path_factory.mktemp("celery_cluster")
    landing = root / "landing"
    generate_landing(landing, DATES[0], DATES[-1], customers=300, agents=30, transactions_per_day=800,
                     calls_per_day=150)
    with fresh_database(prefix="cdw_test_wh", warehouse_schema=True) as warehouse_url, \
            AirflowCluster(root, warehouse_url, landing, executor="CeleryExecutor") as c:
        c.start_services()
        for name in WORKERS:
            c.start_worker(name)
        for name in WORKERS:
            c.wait_log(name, "ready.")
        c.wait_dag_parsed()
        yield c


def assert_reconciled(warehouse_url: str, day: date) -> None:
    """The date's latest load is PUBLISHED and every file of it reconciles exactly."""
    with psycopg.connect(warehouse_url, autocommit=True) as db:
        published = db.execute(
            "select load_id from audit.load_runs_latest where business_date = %s and status = 'PUBLISHED'",
            (day,)).fetchall()
        assert len(published) == 1, (day, published)
        files = db.execute(
            "select file_name, manifest_rows, rows_read, rows_loaded, rows_quarantined"
            " from audit.file_reconciliation where load_id = %s", (published[0][0],)).fetchall()
    assert files, day
    for name, manifest_rows, rows_read, rows_loaded, rows_quarantined in files:
        assert manifest_rows == rows_read == rows_loaded + rows_quarantined, (day, name, manifest_rows,
                                                                               rows_read, rows_loaded,
                                                                               rows_quarantined)


def _wait_for_running_dbt_task(cluster: AirflowCluster, run_id: str, timeout: float) -> tuple[str, str]:
    """(task id, worker) of a dbt model task of ``run_id`` running on one of the workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster.check_alive()
        rows = cluster.query(
            "select task_id, hostname from task_instance where dag_id = %s and run_id = %s and state = 'running'"
            " and task_id like 'build_star_schema.%%' and hostname = any(%s) order by start_date",
            (DAG_ID, run_id, list(WORKERS)))
        if rows:
            return rows[0]
        time.sleep(1)
    raise AssertionError(f"no dbt task of {run_id} ran within {timeout} s\n{cluster.task_table(run_id)}")


def test_two_dates_on_two_workers_survive_a_killed_worker(cluster):
    started = time.monotonic()
    run_ids = [cluster.trigger(day.isoformat()) for day in DATES]
    first, second = run_ids

    # 1. the first date: every task succeeds, spread over both workers
    states = cluster.wait_runs_finished([first], timeout=RUN_TIMEOUT)
    assert states[first] == "success", cluster.task_table(first)
    hosts = {h for (h,) in cluster.query(
        "select distinct hostname from task_instance where dag_id = %s and run_id = %s", (DAG_ID, first))}
    assert hosts == set(WORKERS), (hosts, cluster.task_table(first))
    first_done = time.monotonic() - started

    # 2. the second date: the worker running a dbt model dies (SIGKILL of its whole session)
    task_id, victim = _wait_for_running_dbt_task(cluster, second, timeout=10 * 60)
    survivor = next(w for w in WORKERS if w != victim)
    cluster.kill(victim)
    killed_at = time.monotonic()

    states = cluster.wait_runs_finished([second], timeout=RUN_TIMEOUT)
    assert states[second] == "success", cluster.task_table(second)
    try_number, hostname = cluster.query(
        "select try_number, hostname from task_instance where dag_id = %s and run_id = %s and task_id = %s",
        (DAG_ID, second, task_id))[0]
    assert try_number >= 2 and hostname == survivor, (task_id, try_number, hostname, cluster.task_table(second))

    # 3. the warehouse: both dates published, every file reconciles exactly
    for day in DATES:
        assert_reconciled(cluster.warehouse_url, day)
    print(f"first date {first_done:.0f} s on {sorted(hosts)}; {task_id} killed on {victim}, retried on"
          f" {hostname}; second date done {time.monotonic() - killed_at:.0f} s after the kill")
