# ruff: noqa: F811  (pytest fixtures imported from test_quality are parameters of the tests)
"""The operators' and analysts' commands against a real warehouse: ``cdw report``, ``cdw dbt``,
``cdw setup-roles --analyst/--auditor``.

Uses the star schema built once per server by tests/integration/test_quality.py (two dates
loaded by the real loader, marts built by dbt into ``build``), a fresh copy per test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cdw import warehouse
from cdw.publication import publish
from tests.integration.test_publication import _as, _denied
from tests.integration.test_quality import (  # noqa: F401 (fixtures shared with the quality tests)
    D1,
    D2,
    built_star,
    generated_landing,
    star,
)

pytestmark = pytest.mark.slow
CDW = str(Path(sys.executable).parent / "cdw")


def cdw(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([CDW, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=600)


def test_report_of_a_date_is_written_again_and_a_date_without_load_fails(star):
    url, loads = star
    done = cdw("report", "--date", D1.isoformat())
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith(f"{D1} load {loads[D1]} LOADED") and "report " in line
    path = Path(line.rsplit("report ", 1)[1])
    assert path.is_file() and f"load {loads[D1]}" in path.read_text().lower()
    assert path.parent.name.startswith("warehouse-") and path.parent.parent == Path(os.environ["CDW_HOME"]) / "reports"

    missing = cdw("report", "--date", "1999-01-01")
    assert missing.returncode == 1
    assert "no load recorded" in missing.stdout


def test_dbt_runs_with_the_pipeline_environment_into_build_never_analytics(star):
    url, _ = star
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop table build.dim_channel cascade")
    done = cdw("dbt", "--date", D2.isoformat(), "--", "run", "--select", "dim_channel")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Completed successfully" in done.stdout  # dbt's own output, on the terminal
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from build.dim_channel").fetchone()[0] > 0
        assert conn.execute("select to_regclass('analytics.dim_channel')").fetchone()[0] is None
        # it acted as the pipeline's role, as the DAG's dbt does
        assert conn.execute("select tableowner from pg_tables where schemaname = 'build'"
                            " and tablename = 'dim_channel'").fetchone()[0] == "cdw_loader"

    assert cdw("dbt", "--", "no-such-dbt-command").returncode == 2  # dbt's own status


@pytest.fixture
def logins(pg_server):
    suffix = uuid.uuid4().hex[:8]
    names = {"analyst": f"cdw_test_bi_{suffix}", "auditor": f"cdw_test_audit_{suffix}"}
    yield names
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def test_setup_roles_makes_read_only_logins_for_analysts_and_auditors(star, logins):
    url, loads = star
    publish(D1, loads[D1], url=url, build=False)
    done = cdw("setup-roles", "--analyst", logins["analyst"], "--auditor", logins["auditor"],
               CDW_LOGIN_PASSWORD="test-only-pw")
    assert done.returncode == 0, done.stderr
    assert logins["analyst"] in done.stdout and "member of cdw_analyst only" in done.stderr
    again = cdw("setup-roles", "--analyst", logins["analyst"])  # idempotent
    assert again.returncode == 0 and "updated" in again.stderr

    with _as(url, logins["analyst"]) as bi:
        # a BI tool's first look: the published tables, with their search path
        assert bi.execute("show search_path").fetchone()[0] == "analytics"
        assert bi.execute("select count(*) from fct_calls").fetchone()[0] > 0
        for statement in ("select * from raw.transactions", "select * from audit.load_runs",
                          "select * from build.fct_calls", "select * from staging.stg_contact_center__calls",
                          "delete from analytics.fct_calls", "create table analytics.mine (x int)"):
            assert _denied(bi, statement), statement
        assert bi.execute("select rolname from pg_roles where pg_has_role(current_user, oid, 'member')"
                          " and rolname in ('cdw_loader', 'cdw_analyst', 'cdw_auditor')").fetchall() == [("cdw_analyst",)]
    # what a BI tool shows beside each table and column: the dbt descriptions (persist_docs),
    # kept up to date by every publication
    comments = "select obj_description('fct_calls'::regclass, 'pg_class'), col_description('fct_calls'::regclass,"\
               " (select attnum from pg_attribute where attrelid = 'fct_calls'::regclass and attname = 'call_id'))"
    with _as(url, logins["analyst"]) as bi:
        table_comment, column_comment = bi.execute(comments).fetchone()
        assert table_comment and column_comment and "call" in column_comment.lower()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("comment on column build.fct_calls.call_id is 'The call''s id, as the switch gives it.'")
    publish(D2, loads[D2], url=url, build=False)
    with _as(url, logins["analyst"]) as bi:
        assert bi.execute(comments).fetchone() == (table_comment, "The call's id, as the switch gives it.")

    with _as(url, logins["auditor"]) as auditor:
        assert auditor.execute("select count(*) from audit.load_runs").fetchone()[0] > 0
        assert auditor.execute("select count(*) from analytics.fct_calls").fetchone()[0] > 0
        for statement in ("select * from raw.customers", "delete from audit.load_runs"):
            assert _denied(auditor, statement), statement

    superuser = warehouse.parse_url(url).user
    refused = cdw("setup-roles", "--analyst", superuser)
    assert refused.returncode == 1 and "superuser" in refused.stderr


KPI_COLUMNS = ("offered", "answered", "abandoned", "short_abandoned", "ivr_only", "answered_within_threshold",
               "service_level", "abandon_rate", "asa_seconds", "aht_seconds", "fcr_rate", "csat_avg",
               "csat_top2_share", "csat_responses")


def _rounded(row) -> tuple:
    return tuple(round(float(v), 9) if v is not None and not isinstance(v, (int, str)) else v for v in row)


def test_analysts_get_kpis_over_several_days_as_warehouse_md_defines_them(star, logins):
    """A month's service level is not the mean of the daily ones: analytics.call_center_kpis computes it."""
    url, loads = star
    publish(D1, loads[D1], url=url, build=False)
    publish(D2, loads[D2], url=url, build=False)
    assert cdw("setup-roles", "--analyst", logins["analyst"], CDW_LOGIN_PASSWORD="test-only-pw").returncode == 0
    columns = ", ".join(KPI_COLUMNS)
    with _as(url, logins["analyst"]) as bi:
        daily = {}
        for day in (D1, D2):
            daily[day] = bi.execute(f"select service, {columns} from call_center_daily where calendar_date = %s"
                                    " order by service", (day,)).fetchall()
            assert daily[day], day
            one_day = bi.execute(f"select service, {columns} from call_center_kpis(%s, %s)", (day, day)).fetchall()
            assert [_rounded(r) for r in one_day] == [_rounded(r) for r in daily[day]]

        both = {r[0]: dict(zip(("days_with_calls", *KPI_COLUMNS), r[1:], strict=True)) for r in bi.execute(
            f"select service, days_with_calls, {columns} from call_center_kpis(%s, %s)", (D1, D2))}
        by_service: dict[str, list[dict]] = {}
        for day in (D1, D2):
            for r in daily[day]:
                by_service.setdefault(r[0], []).append(dict(zip(KPI_COLUMNS, r[1:], strict=True)))
        assert set(both) == set(by_service)
        for service, days in by_service.items():
            kpis = both[service]
            total = {c: sum(d[c] for d in days) for c in ("offered", "answered", "short_abandoned",
                                                          "answered_within_threshold", "csat_responses")}
            assert kpis["days_with_calls"] == len(days) and kpis["offered"] == total["offered"]
            if total["offered"] - total["short_abandoned"]:
                assert float(kpis["service_level"]) == pytest.approx(
                    total["answered_within_threshold"] / (total["offered"] - total["short_abandoned"]))
            if total["answered"]:  # means weighted by the calls they are means of
                assert float(kpis["aht_seconds"]) == pytest.approx(
                    sum(float(d["aht_seconds"]) * d["answered"] for d in days if d["answered"]) / total["answered"])
            if total["csat_responses"]:
                assert float(kpis["csat_avg"]) == pytest.approx(sum(
                    float(d["csat_avg"]) * d["csat_responses"] for d in days if d["csat_responses"])
                    / total["csat_responses"])
        with pytest.raises(psycopg.errors.RaiseException, match="must be a date on or before last_date"):
            bi.execute("select * from call_center_kpis(%s, %s)", (D2, D1))  # an empty span is a mistake
