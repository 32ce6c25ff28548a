"""
### customer_warehouse_daily

Loads one business date of the bank's customer-service data into the customer
data warehouse and publishes it: **drop → raw → dbt star schema → gate →
publish → report**.

| task | does |
|---|---|
| `resolve_business_date` | decides the date once (below); every later task reads it |
| `wait_for_drop` | waits for `<landing root>/<date>/_manifest.json` (written last by the sources) |
| `load_raw` | file checks and raw load (`cdw.load.load_date`) |
| `build_star_schema` | dbt build of the star schema into the private schema `build` with Cosmos: one task per model, its tests included; each records its dbt results in `audit.dbt_results` |
| `quality_gate` | the Great Expectations suites on raw and `build`; a critical failure stops here (`cdw.publish.quality_gate`) |
| `publish` | `analytics` made equal to `build` in one transaction, PUBLISHED recorded; updates the `cdw_analytics` Asset |
| `report` | the data-quality report of the date's load, whatever happened before; fails the run when the date was not published |

**Business date** (`cdw.business_date`): the `business_date` param when given
(`airflow dags test customer_warehouse_daily -c '{"business_date": "2026-03-02"}'`,
or *Trigger DAG w/ config*); else the data interval's start in the bank's zone
(the zone the warehouse recorded at its first load, which `CDW_TIMEZONE`, the
schedule's zone, must equal): a scheduled run at 02:30 bank time closes the
interval that began at 02:30 of the business date; else (a manual run without
logical date) the previous day in the bank's zone. Any date works, decades back
or ahead.

**Schedule**: daily at 02:30 bank time, after the usual delivery (~01:10), one
run per business date, one run at a time, from `CDW_SCHEDULE_START` (the DAG's
`start_date`; it bounds the scheduler only: a triggered run with a
`business_date`, `cdw run` and `airflow backfill create` take any date).
Catch-up follows Airflow's `[scheduler] catchup_by_default`
(`AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT`); without catch-up a scheduler that was
down skips the nights it missed, so a scheduled run that finds earlier dates never
loaded raises a `MissedBusinessDates` alert naming them and how to run them.

**Failures**: connection and timeout faults are retried with exponential
backoff; contract violations, failed dbt tests and a failed gate fail at once.
Every final failure logs a `CDW ALERT` line and, when configured, posts to
`CDW_ALERT_WEBHOOK_URL` and mails through `CDW_ALERT_SMTP_CONN_ID` (`cdw.alerts`).
Warehouse work runs in the `cdw_warehouse` pool.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, dag, get_current_context, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

from cdw import airflow_home as cdw_airflow
from cdw.alerts import RETRY_ARGS, AlertNotifier
from cdw.assets import ANALYTICS
from cdw.settings import get_settings

BANK_ZONE = get_settings().timezone
POOL = cdw_airflow.WAREHOUSE_POOL
DEFAULT_ARGS = {"owner": "customer-data-platform", **RETRY_ARGS, "on_failure_callback": AlertNotifier()}


@dag(
    dag_id=cdw_airflow.DAG_ID,
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone=BANK_ZONE),
    # the scheduler's first night only: runs with a business_date param, `cdw run` and
    # backfills process any date, however far back (they never fall before it)
    start_date=pendulum.parse(get_settings().schedule_start, tz=BANK_ZONE),
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["cdw", "daily"],
    params={
        "business_date": Param(None, type=["null", "string"], pattern=r"^\d{4}-\d{2}-\d{2}$",
                               description="Business date YYYY-MM-DD; empty: from the data interval"),
        "drop_wait_minutes": Param(360, type="integer", minimum=0,
                                   description="How long to wait for the drop; 0: fail at once if absent"),
    },
)
def customer_warehouse_daily():
    @task
    def resolve_business_date() -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from cdw.business_date import ScheduleZoneMismatch
        from cdw.business_date import resolve_business_date as resolve

        context = get_current_context()
        zone = cdw_airflow.task_bank_timezone()
        try:
            business_date, source = resolve(context["params"].get("business_date"),
                                            context.get("data_interval_start"), timezone_name=zone,
                                            schedule_timezone=BANK_ZONE)
        except ScheduleZoneMismatch as exc:
            raise AirflowFailException(str(exc)) from exc
        print(f"business date {business_date} (from the {source.replace('_', ' ')}, zone {zone})")
        if source == "data_interval":  # a scheduled run: say so if nights were skipped before it
            missed = cdw_airflow.task_missed_dates(business_date)
            if missed:
                AlertNotifier().missed_dates(context, business_date.isoformat(), missed)
        return business_date.isoformat()

    @task.sensor(mode="reschedule", poke_interval=300, timeout=24 * 3600)
    def wait_for_drop(business_date: str):
        from datetime import timedelta

        from airflow.sdk import PokeReturnValue, timezone
        from airflow.sdk.exceptions import AirflowSensorTimeout

        context = get_current_context()
        first_poke = context["ti"].get_first_reschedule_date(context) or timezone.utcnow()
        max_wait = timedelta(minutes=context["params"]["drop_wait_minutes"])
        try:
            manifest = cdw_airflow.poke_drop(business_date, timezone.utcnow() - first_poke, max_wait)
        except cdw_airflow.DropMissing as exc:
            raise AirflowSensorTimeout(str(exc)) from None
        if manifest is None:
            print(f"waiting for {cdw_airflow.drop_manifest(business_date)}")
        return PokeReturnValue(is_done=manifest is not None, xcom_value=str(manifest))

    @task(pool=POOL)
    def load_raw(business_date: str) -> int:
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException

        from cdw.load import LoadFailed, load_date

        try:
            result = load_date(get_settings().landing_root, date.fromisoformat(business_date),
                               url=cdw_airflow.task_warehouse_url(), progress=print)
        except LoadFailed as exc:  # the delivery breaks the contract: retrying cannot help
            raise AirflowFailException(f"{business_date}: {exc}") from exc
        for line in result.file_lines():
            print(line)
        print(result.summary())
        return result.load_id

    build_star_schema = DbtTaskGroup(
        group_id="build_star_schema",
        project_config=ProjectConfig(
            dbt_project_path=cdw_airflow.DBT_PROJECT_DIR,
            manifest_path=cdw_airflow.COSMOS_MANIFEST,
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name=cdw_airflow.DBT_PROFILE,
            target_name=cdw_airflow.DBT_TARGET,
            profiles_yml_filepath=cdw_airflow.DBT_PROJECT_DIR / "profiles.yml",
        ),
        # BUILDABLE: a test with several parents (relationships) runs with the last of them
        # to be built, not with the first (where the other table does not exist yet).
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.LOCAL,
                                         invocation_mode=InvocationMode.DBT_RUNNER,
                                         test_indirect_selection=TestIndirectSelection.BUILDABLE),
        # BUILD: one `dbt build` per model runs the model, its data tests and its unit tests
        # (AFTER_EACH skips unit tests), and a failed test stops everything downstream.
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD,
                                   emit_datasets=False),
        operator_args={
            # the date travels as an environment variable the project reads (macros/business_dates.sql):
            # a --vars that changes every day makes dbt re-parse the whole project in every task
            "env": {"CDW_BUSINESS_DATE": "{{ ti.xcom_pull(task_ids='resolve_business_date') }}"},
            "interceptors": [cdw_airflow.dbt_env_interceptor],
            # every node's result into the audit trail before Cosmos deletes run_results.json
            "callback": cdw_airflow.record_dbt_results,
            "pool": POOL,
        },
    )

    @task(pool=POOL)
    def quality_gate(business_date: str, load_id: int) -> str:
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException

        from cdw.publish import GateFailed
        from cdw.publish import quality_gate as gate

        try:
            verdict = gate(date.fromisoformat(business_date), load_id, url=cdw_airflow.task_warehouse_url())
        except GateFailed as exc:
            raise AirflowFailException(str(exc)) from exc
        print(verdict)
        return verdict

    @task(pool=POOL, outlets=[ANALYTICS])
    def publish(business_date: str, load_id: int) -> str:
        from datetime import date

        from cdw.publish import publish as publish_build

        line = publish_build(date.fromisoformat(business_date), load_id, url=cdw_airflow.task_warehouse_url())
        print(line)
        return line

    # runs whatever happened before it: auditors get a report for failed loads too;
    # it then fails the run when the date was not published, so the run's state tells the truth
    @task(trigger_rule=TriggerRule.ALL_DONE)
    def report(business_date: str) -> str:
        from datetime import date

        from cdw.alerts import DateNotPublished
        from cdw.publish import report as write_report

        published, line, _path = write_report(date.fromisoformat(business_date),
                                              url=cdw_airflow.task_warehouse_url())
        print(line)
        if not published:
            raise DateNotPublished(line)
        return line

    business_date = resolve_business_date()
    load_id = load_raw(business_date)
    wait_for_drop(business_date) >> load_id >> build_star_schema
    gate = quality_gate(business_date, load_id)
    build_star_schema >> gate >> publish(business_date, load_id) >> report(business_date)


customer_warehouse_daily()
