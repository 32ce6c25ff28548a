# ruff: noqa: F811  (pytest fixtures imported from test_quality are parameters of the tests)
"""dbt's results in the audit trail and in the load's report, from a real dbt build that fails a test.

Uses the star schema built once per server by tests/integration/test_quality.py (two
business dates loaded and built). A roster row naming an agent ``UNKNOWN`` (the id of the
unknown member ``dim_agent`` adds) makes ``dbt build --select dim_agent`` build the model and
fail its ``unique`` test on ``agent_id``; the build's run_results.json is recorded as the DAG's
Cosmos callback records it, and the report is written from the audit trail alone. (The DAG's
own recording of passing builds is checked by test_pipeline.py's whole-DAG run.)
"""

from __future__ import annotations

import re

import psycopg
import pytest

from cdw import airflow_home as cdw_airflow
from cdw.dbt import DbtFailed
from cdw.dbt_results import built_nodes, record_run_results
from cdw.publication import build_marts
from cdw.report import write_report
from tests.integration.test_quality import (  # noqa: F401 (fixtures shared with the quality tests)
    D2,
    built_star,
    generated_landing,
    star,
)

pytestmark = pytest.mark.slow

FAILING_TEST = "unique_dim_agent_agent_id"


def test_a_failed_dbt_test_is_recorded_and_reported(star, tmp_path):
    url, loads = star
    load_id = loads[D2]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create temp table roster as select * from raw.agents where business_date = %s limit 1", (D2,))
        agent_name = conn.execute("select agent_name from roster").fetchone()[0]
        conn.execute("update roster set agent_id = 'UNKNOWN'")
        conn.execute("insert into raw.agents select * from roster")
    target = tmp_path / "target"
    with pytest.raises(DbtFailed, match=FAILING_TEST):
        build_marts(D2, url=url, target_path=str(target), args=["build", "--select", "dim_agent"])

    with psycopg.connect(url, autocommit=True) as conn:
        recorded = record_run_results(conn, load_id, D2, target / "run_results.json")
        assert recorded > 3
        assert record_run_results(conn, load_id, D2, target / "run_results.json") == 0  # once per invocation
        rows = {uid: (kind, status, failures, tested, message) for uid, kind, status, failures, tested, message in
                conn.execute("select unique_id, resource_type, status, failures, tested_nodes, message"
                             " from audit.dbt_results where load_id = %s", (load_id,)).fetchall()}
    assert len(rows) == recorded
    assert rows["model.cdw.dim_agent"][:2] == ("model", "success")
    failed = [uid for uid, row in rows.items() if row[1] not in ("success", "pass", "skipped")]
    assert len(failed) == 1 and failed[0].startswith(f"test.cdw.{FAILING_TEST}."), rows
    # what dbt build skipped after the failure (fct_calls' relationship test to dim_agent) is no failure
    assert {row[1] for uid, row in rows.items() if uid.startswith("test.cdw.relationships_fct_calls_agent_key")} \
        <= {"skipped", "pass"}
    kind, status, failures, tested, message = rows[failed[0]]
    assert (kind, status, failures, tested) == ("test", "fail", 1, ["model.cdw.dim_agent"])
    assert message == "Got 1 result, configured to fail if != 0"

    cdw_airflow.ensure_cosmos_manifest()  # what the DAG renders from: the models it builds
    page = write_report(load_id, url=url, out_dir=tmp_path / "reports").read_text(encoding="utf-8")
    problems = page[page.index('id="dbt-problems"'):]
    problems = problems[:problems.index("</table>")]
    assert len(re.findall(r"<tr data-node=", problems)) == 1
    row = re.search(rf'<tr data-node="{re.escape(failed[0])}">(.*?)</tr>', problems, flags=re.S).group(1)
    assert f"<code>{FAILING_TEST}</code>" in row and "<td>dim_agent</td>" in row
    assert "✗ fail" in row and '<td class="n failures">1</td>' in row
    counts = page[page.index('id="dbt-counts"'):]
    assert re.search(r'<tr data-type="test">.*?data-status="fail">1<', counts[:counts.index("</table>")], re.S)
    # the other models of the DAG were not built here: the page says they have no result
    unrecorded = re.search(r'<p class="reason" id="dbt-unrecorded">(.*?)</p>', page, flags=re.S).group(1)
    built = built_nodes(cdw_airflow.COSMOS_MANIFEST)
    missing = built - {"model.cdw.dim_agent"}
    assert f"No recorded result for {len(missing)} of the {len(built)} models and seeds" in unrecorded
    assert all(f"<code>{uid}</code>" in unrecorded for uid in missing)
    # self-contained, nothing of the data
    assert "<script" not in page and not re.search(r"https?://", page)
    assert agent_name not in page
