"""Every DAG imports fast and clean; the daily DAG is wired as the pipeline expects.

Rendering the daily DAG needs the Cosmos manifest: the session fixture builds it
(``dbt parse`` into ``dbt_project/target_cosmos``) when the dbt project changed,
as ``cdw run`` does before it calls Airflow. Nothing here touches a database.
"""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest

from cdw import airflow_home as cdw_airflow
from cdw.business_date import BadBusinessDate, parse_business_date, resolve_business_date
from cdw.settings import get_settings

DAGS_DIR = cdw_airflow.DAGS_DIR
DAG_ID = cdw_airflow.DAG_ID
BANK_ZONE = get_settings().timezone
#: Parse-time budget of one DAG file, measured as Airflow's DAG processor parses it
#: (Airflow and the file's imports already loaded).
PARSE_BUDGET_SECONDS = 0.5


class _NoNetwork(AssertionError):
    pass


def _refuse(*args, **kwargs):
    raise _NoNetwork("a DAG file touched the network, a database or a subprocess at import")


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture(scope="module")
def manifest() -> Path:
    return cdw_airflow.ensure_cosmos_manifest()


@pytest.fixture(scope="module")
def parsed(manifest):
    """The dags folder parsed twice: a warm-up (Airflow's plugins, the files' imports), then measured
    with sockets, psycopg and subprocesses refused."""
    _dagbag()  # warm-up, as in a running DAG processor
    import psycopg

    with (
        mock.patch.object(socket.socket, "connect", _refuse),
        mock.patch.object(socket, "create_connection", _refuse),
        mock.patch.object(psycopg, "connect", _refuse),
        mock.patch.object(subprocess, "Popen", _refuse),
    ):
        started = time.perf_counter()
        bag = _dagbag()
        wall = time.perf_counter() - started
    return bag, wall


@pytest.fixture(scope="module")
def dag(parsed):
    return parsed[0].dags[DAG_ID]


def test_every_dag_imports_without_errors(parsed):
    bag, _ = parsed
    assert bag.import_errors == {}, bag.import_errors
    assert DAG_ID in bag.dags
    dag_files = {p.name for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_")}
    parsed_files = {Path(d.fileloc).name for d in bag.dags.values()}
    assert dag_files <= parsed_files, f"files without a DAG: {dag_files - parsed_files}"


def test_dag_files_raise_no_warnings_of_their_own(parsed):
    """Deprecations in our DAG code or its Cosmos arguments (not in Airflow's own providers)."""
    bag, _ = parsed
    for path, warnings in bag.captured_warnings.items():
        ours = [w for w in warnings if "/site-packages/airflow/" not in w.split(":", 1)[0]]
        assert ours == [], (path, ours)


def test_dag_files_parse_well_under_a_second(parsed):
    bag, wall = parsed
    for stat in bag.dagbag_stats:
        assert stat.duration.total_seconds() < PARSE_BUDGET_SECONDS, stat
    assert wall < 2 * PARSE_BUDGET_SECONDS


def test_every_task_has_an_owner_retries_and_the_failure_policy(parsed):
    from cdw.alerts import AlertNotifier, TransientFaultsOnly

    bag, _ = parsed
    for dag in bag.dags.values():
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", task.task_id
            assert task.retries >= 1, task.task_id
            assert task.retry_exponential_backoff > 0, task.task_id
            if dag.dag_id == DAG_ID:
                assert isinstance(task.retry_policy, TransientFaultsOnly), task.task_id
                callbacks = task.on_failure_callback
                callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
                assert any(isinstance(c, AlertNotifier) for c in callbacks), task.task_id


def test_schedule_is_a_data_interval_timetable_in_the_bank_zone(dag):
    from airflow.sdk import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("30 2 * * *", BANK_ZONE)
    assert dag.max_active_runs == 1
    assert dag.doc_md and "business date" in dag.doc_md.lower()


def test_scheduled_run_processes_the_day_its_interval_starts_on(dag):
    """The run that starts at 02:30 bank time on 3 March closes the interval of business date 2 March."""
    from zoneinfo import ZoneInfo

    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    zone = ZoneInfo(BANK_ZONE)
    timetable = coerce_to_core_timetable(dag.timetable)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=datetime(2026, 3, 2, 2, 30, tzinfo=zone), latest=None, catchup=True),
    )
    assert info.run_after.astimezone(zone) == datetime(2026, 3, 3, 2, 30, tzinfo=zone)
    resolved, source = resolve_business_date(None, info.data_interval.start, timezone_name=BANK_ZONE)
    assert (resolved, source) == (date(2026, 3, 2), "data_interval")


def test_tasks_are_wired_in_pipeline_order(dag):
    from cdw.assets import ANALYTICS

    task = dag.get_task
    assert task("resolve_business_date").upstream_task_ids == set()
    assert task("wait_for_drop").upstream_task_ids == {"resolve_business_date"}
    assert task("load_raw").upstream_task_ids == {"resolve_business_date", "wait_for_drop"}
    dbt_tasks = [t for t in dag.tasks if t.task_id.startswith("build_star_schema.")]
    roots = [t for t in dbt_tasks if not t.upstream_task_ids & {d.task_id for d in dbt_tasks}]
    leaves = [t for t in dbt_tasks if not t.downstream_task_ids & {d.task_id for d in dbt_tasks}]
    assert roots and all("load_raw" in t.upstream_task_ids for t in roots)
    assert {t.task_id for t in leaves} <= task("quality_gate").upstream_task_ids
    assert "quality_gate" in task("publish").upstream_task_ids
    assert "publish" in task("report").upstream_task_ids
    assert ANALYTICS in task("publish").outlets
    for name in ("load_raw", "quality_gate", "publish", *[t.task_id for t in dbt_tasks]):
        assert task(name).pool == cdw_airflow.WAREHOUSE_POOL, name


def test_drop_sensor_reschedules_and_times_out(dag):
    sensor = dag.get_task("wait_for_drop")
    assert sensor.mode == "reschedule"
    assert 0 < sensor.timeout <= 24 * 3600
    assert sensor.poke_interval >= 60


def _models_in_project() -> set[str]:
    return {p.stem for p in (cdw_airflow.DBT_PROJECT_DIR / "models").rglob("*.sql")}


def test_cosmos_renders_one_build_task_per_model(dag, manifest):
    models = _models_in_project()
    assert models, "no dbt models found"
    rendered = {t.task_id for t in dag.tasks if t.task_id.startswith("build_star_schema.")}
    expected_models = {f"build_star_schema.{m}_model_build" for m in models}
    assert expected_models <= rendered, f"models without a task: {sorted(expected_models - rendered)}"
    others = rendered - expected_models
    # besides models, only seeds are rendered (as their own build tasks)
    assert all(t.endswith("_seed_build") for t in others), sorted(others)
    for task_id in expected_models:
        op = dag.get_task(task_id)
        assert type(op).__name__ == "DbtBuildLocalOperator", (task_id, type(op).__name__)
        assert op.env["CDW_BUSINESS_DATE"] == "{{ ti.xcom_pull(task_ids='resolve_business_date') }}"
        assert not op.vars  # a daily --vars would force a full re-parse in every task
        assert cdw_airflow.dbt_env_interceptor in op.interceptors
        assert op.callback is cdw_airflow.record_dbt_results  # results into audit.dbt_results



def test_cosmos_build_tasks_run_the_dbt_unit_tests(dag, manifest, tmp_path, monkeypatch):
    """dbt unit tests run only in a `dbt build` that selects them (TestBehavior.BUILD; AFTER_EACH
    skips them). The tasks of the models with unit tests run `dbt build` with the same flags but
    their model's --select; dbt itself, given those flags as `dbt ls` on the Cosmos manifest (no
    parse, no database, one invocation for all of them), selects every unit test of the manifest.
    (dbt 1.11 selects a model's unit tests with the model whatever --indirect-selection says; an
    exclusion or another command would lose them.)"""
    import json

    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest, WritableManifest

    unit_tests = json.loads(manifest.read_text())["unit_tests"]
    models = sorted({unit["model"] for unit in unit_tests.values()})
    assert len(unit_tests) >= 5 and {"int_customers_versioned", "call_center_interval"} <= set(models), models
    flags, selected = set(), []
    for model in models:
        command, _env = dag.get_task(f"build_star_schema.{model}_model_build").build_cmd(context={})
        assert command[1] == "build" and "unit_test" not in command, command
        at = command.index("--select")
        assert command[at + 1].startswith("fqn:") and command[at + 1].endswith(f".{model}"), command
        selected.append(command[at + 1])
        flags.add(tuple(command[2:at] + command[at + 2:]))
    assert len(flags) == 1, flags  # the same flags in every task: one `dbt ls` answers for all
    for key, placeholder in (("CDW_PG_HOST", "localhost"), ("CDW_PG_USER", "cdw"), ("CDW_PG_DBNAME", "cdw")):
        monkeypatch.setenv(key, placeholder)
    runner = dbtRunner(manifest=Manifest.from_writable_manifest(WritableManifest.read_and_check_versions(str(manifest))))
    listed = runner.invoke(
        ["ls", *flags.pop(), "--select", *selected, "--resource-type", "unit_test", "--output", "json",
         "--output-keys", "unique_id", "--quiet", "--project-dir", str(cdw_airflow.DBT_PROJECT_DIR),
         "--profiles-dir", str(cdw_airflow.DBT_PROJECT_DIR), "--target-path", str(tmp_path), "--log-path", str(tmp_path)]
    )
    assert listed.success, listed.exception
    assert {json.loads(line)["unique_id"] for line in listed.result} == set(unit_tests)

def test_cosmos_manifest_is_rebuilt_only_when_the_project_changes(manifest):
    before = manifest.stat().st_mtime_ns
    assert cdw_airflow.ensure_cosmos_manifest() == manifest
    assert manifest.stat().st_mtime_ns == before


# ---- the business-date rule (no Airflow) ---------------------------------------------


@pytest.mark.parametrize(
    ("param", "interval_start", "now", "expected", "source"),
    [
        # the param wins over everything
        ("2026-03-02", datetime(2026, 5, 1, 18, 30, tzinfo=UTC), None, date(2026, 3, 2), "param"),
        (date(2026, 3, 2), None, None, date(2026, 3, 2), "param"),
        # interval start 02:30 Shanghai on 2 March = 18:30 UTC on 1 March: the UTC date is wrong
        (None, datetime(2026, 3, 1, 18, 30, tzinfo=UTC), None, date(2026, 3, 2), "data_interval"),
        ("", datetime(2026, 3, 1, 18, 30, tzinfo=UTC), None, date(2026, 3, 2), "data_interval"),
        # manual run, no logical date: 01:00 Shanghai on 3 March (17:00 UTC on 2 March) -> 2 March
        (None, None, datetime(2026, 3, 2, 17, 0, tzinfo=UTC), date(2026, 3, 2), "previous_day"),
        # 23:30 Shanghai on 3 March (15:30 UTC) -> still 2 March
        (None, None, datetime(2026, 3, 3, 15, 30, tzinfo=UTC), date(2026, 3, 2), "previous_day"),
        # 00:30 Shanghai on 4 March (16:30 UTC on 3 March) -> 3 March
        (None, None, datetime(2026, 3, 3, 16, 30, tzinfo=UTC), date(2026, 3, 3), "previous_day"),
    ],
)
def test_business_date_resolution(param, interval_start, now, expected, source):
    assert resolve_business_date(param, interval_start, timezone_name="Asia/Shanghai", now=now) == (expected, source)


def test_business_date_follows_the_configured_zone():
    start = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)  # 02:30 in New York (EST)
    assert resolve_business_date(None, start, timezone_name="America/New_York")[0] == date(2026, 3, 2)
    assert resolve_business_date(None, start, timezone_name="Asia/Shanghai")[0] == date(2026, 3, 2)
    late = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 23:00 on 1 March in New York
    assert resolve_business_date(None, late, timezone_name="America/New_York")[0] == date(2026, 3, 1)


def test_manual_run_without_logical_date_uses_yesterday_in_the_bank_zone():
    resolved, source = resolve_business_date(None, None, timezone_name=BANK_ZONE)
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(BANK_ZONE)).date()
    assert source == "previous_day" and resolved in (today - timedelta(days=1), today - timedelta(days=2))


@pytest.mark.parametrize("bad", ["2026-3-2", "02/03/2026", "2026-02-30", "yesterday", "2026-03-02T00:00"])
def test_bad_business_date_param_is_refused(bad):
    with pytest.raises(BadBusinessDate):
        parse_business_date(bad)


def test_timestamp_is_not_a_business_date():
    with pytest.raises(BadBusinessDate):
        parse_business_date(datetime(2026, 3, 2, tzinfo=UTC))
    with pytest.raises(ValueError):
        resolve_business_date(None, datetime(2026, 3, 2), timezone_name=BANK_ZONE)  # naive


def test_drop_poke(tmp_path, monkeypatch):
    monkeypatch.setenv("CDW_LANDING_ROOT", str(tmp_path))
    assert cdw_airflow.poke_drop("2026-03-02", timedelta(0), timedelta(hours=6)) is None
    with pytest.raises(cdw_airflow.DropMissing, match=r"2026-03-02.*_manifest\.json"):
        cdw_airflow.poke_drop("2026-03-02", timedelta(hours=6), timedelta(hours=6))
    (tmp_path / "2026-03-02").mkdir()
    (tmp_path / "2026-03-02" / "_manifest.json").write_text("{}")
    assert cdw_airflow.poke_drop("2026-03-02", timedelta(hours=7), timedelta(hours=6)).name == "_manifest.json"


def test_warehouse_connection_survives_a_socket_directory_host():
    import json

    from airflow.sdk import Connection

    url = "postgresql://postgres@/cdw?host=/work/Some Dir/.cdw/pgdata&port=5433"
    conn = Connection.from_json(cdw_airflow.connection_json(url), conn_id="cdw_warehouse")
    assert (conn.host, conn.port, conn.login, conn.schema) == ("/work/Some Dir/.cdw/pgdata", 5433, "postgres", "cdw")
    assert json.loads(cdw_airflow.connection_json(url))["conn_type"] == "postgres"
