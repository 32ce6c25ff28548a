# ruff: noqa: F811  (the chromium fixture, imported from the browser tests, is a parameter of a test)
"""``cdw.pipeline.run_dates`` end to end: generated drops → Airflow DAG (``airflow dags test``) → warehouse.

Slow (about two minutes a date): a fresh Airflow home is migrated, and every
dbt model runs as its own task. Runs once per PostgreSQL server under test.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from cdw import airflow_home as cdw_airflow
from cdw import site
from cdw.cli import main as cli_main
from cdw.dbt_results import built_nodes, project_tests
from tests.browser.test_report_browser import chromium  # noqa: F401 (a fixture of the served-site check)

pytestmark = [pytest.mark.slow, pytest.mark.single_server]

START, END = date(2026, 3, 2), date(2026, 3, 3)


def _generate(out, start=START, end=END, **options):
    from cdw.generate import generate_landing

    generate_landing(out, start, end, customers=200, transactions_per_day=400, calls_per_day=120, agents=10,
                     **options)


@pytest.fixture(scope="module")
def cdw_home(tmp_path_factory):
    """One CDW_HOME (Airflow home, logs) for the module: Airflow's database is migrated once."""
    return tmp_path_factory.mktemp("cdw_home")


def _log_tails(report) -> str:
    return "\n\n".join(
        f"--- {o.business_date}: {o.log_path}\n" + "\n".join(o.log_path.read_text().splitlines()[-40:])
        for o in report.outcomes if not o.ok
    )


# A bank in Prague backfilling 1994: a Saturday with the contact center closed, then the
# Sunday clocks went forward (a 23-hour day). CDW_TIMEZONE unset: only the manifests say Prague.
PRAGUE = "Europe/Prague"
PRAGUE_START, PRAGUE_END = date(1994, 3, 26), date(1994, 3, 27)


def test_run_dates_publishes_every_date(warehouse_url, db, cdw_home, tmp_path, monkeypatch, chromium):
    from cdw.pipeline import run_dates
    from tests import published_figures as expected

    landing = tmp_path / "landing"
    _generate(landing, PRAGUE_START, PRAGUE_END, timezone=PRAGUE, closed_days=["SAT"])
    monkeypatch.setenv("CDW_HOME", str(cdw_home))
    monkeypatch.delenv("CDW_TIMEZONE", raising=False)
    progress: list[str] = []

    report = run_dates(landing, PRAGUE_START, PRAGUE_END, progress=progress.append)

    assert report.ok, _log_tails(report)
    assert report.summary() == "2 dates: 2 published, 0 failed"
    date_lines = [line for line in progress if line.startswith("[")]
    assert len(date_lines) == 2 and all("published" in line for line in date_lines), progress
    for outcome in report.outcomes:
        assert outcome.log_path.is_file() and outcome.log_path.parent == cdw_home / "logs"

    latest = dict(db.execute(
        "select business_date, status from audit.load_runs_latest where status = 'PUBLISHED'"
    ).fetchall())
    assert latest == {PRAGUE_START: "PUBLISHED", PRAGUE_END: "PUBLISHED"}
    assert db.execute("select timezone, source from audit.warehouse_timezone").fetchall() == [(PRAGUE, "manifest")]

    # the published figures, worked out from the drop files in Prague time
    drops = [landing / d.isoformat() for d in (PRAGUE_START, PRAGUE_END)]
    ledger = expected.ledger_by_date(drops, PRAGUE)
    assert set(ledger) == {PRAGUE_START, PRAGUE_END}
    assert expected.published_ledger_by_date(db) == ledger
    daily = expected.call_center_daily(drops, PRAGUE)
    assert daily and {d for d, _ in daily} == {PRAGUE_END}  # the closed Saturday has no calls
    expected.assert_call_center_daily(expected.published_call_center_daily(db), daily)
    assert db.execute("select count(*) from analytics.fct_calls where business_date = %s",
                      (PRAGUE_START,)).fetchone()[0] == 0
    # 30-minute intervals of the 23-hour day: at most 46, each an instant of its own, summing to the day
    intervals = db.execute(
        "select calendar_date, service, count(*), count(distinct interval_start_ts), sum(offered)"
        " from analytics.call_center_interval group by 1, 2").fetchall()
    assert {(d, s) for d, s, *_ in intervals} == set(daily)
    for day, service, n, distinct, offered in intervals:
        assert n == distinct <= expected.half_hours_in_local_day(day, PRAGUE) == 46
        assert offered == daily[(day, service)]["offered"]
    for table in ("dim_customer", "dim_account", "dim_channel", "dim_agent", "dim_date"):
        assert db.execute(f"select count(*) from analytics.{table}").fetchone()[0] > 0, table

    # every Cosmos task recorded its dbt results, and each load's report shows them
    built = built_nodes(cdw_airflow.COSMOS_MANIFEST)
    for business_date, load_id in db.execute("select business_date, load_id from audit.load_runs_latest").fetchall():
        rows = db.execute("select unique_id, resource_type, status, task_id, try_number, business_date"
                          " from audit.dbt_results where load_id = %s", (load_id,)).fetchall()
        passed = {(kind, status) for _, kind, status, *_ in rows}
        assert passed == {("model", "success"), ("seed", "success"), ("test", "pass"), ("unit_test", "pass")}, passed
        assert {uid for uid, *_ in rows} >= built  # every model and seed the DAG builds
        assert all(task.startswith("build_star_schema.") and tries >= 1 and day == business_date
                   for _, _, _, task, tries, day in rows)
        page = (site.site_dir(db, create=False) / site.load_page_name(load_id)).read_text(encoding="utf-8")
        counts = page[page.index('id="dbt-counts"'):page.index("</table>", page.index('id="dbt-counts"'))]
        for kind, status in passed:
            shown = re.search(rf'<tr data-type="{kind}">.*?data-status="{status}">(\d+)<', counts, flags=re.S)
            assert shown and int(shown.group(1)) == sum(1 for _, k, s, *_ in rows if (k, s) == (kind, status))
        assert 'id="dbt-all-passed"' in page and "dbt-unrecorded" not in page and "No dbt result" not in page
        # tests of the project no task ran (of sources, say) are named, not passed over
        without_result = project_tests(cdw_airflow.COSMOS_MANIFEST) - {uid for uid, *_ in rows}
        assert ('id="dbt-tests-without-result"' in page) == bool(without_result)
        assert all(f"<code>{uid}</code>" in page for uid in without_result)

    # `cdw report --date` writes a date's report again, its dbt build read from the audit trail
    page = site.site_dir(db, create=False) / site.load_page_name(load_id)
    page.unlink()
    assert cli_main(["report", "--date", business_date.isoformat()]) == 0
    assert 'id="dbt-counts"' in page.read_text(encoding="utf-8")

    _the_served_site_shows_this_run(db, chromium, tmp_path)


def _the_served_site_shows_this_run(db, chromium, tmp_path):
    """`cdw serve --dbt-docs` after a real DAG run: every load's report, its GX pages, the dbt docs of
    analytics with their descriptions, the trends; no personal value of the drop on any page."""
    import signal
    import subprocess
    import sys
    import urllib.request
    from html import unescape
    from pathlib import Path

    from tests.browser.test_report_browser import render

    personal = _personal_values(db)
    assert len(personal) > 100
    cdw = str(Path(sys.executable).parent / "cdw")
    proc = subprocess.Popen([cdw, "serve", "--port", "0", "--dbt-docs"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, proc.poll())

        def get(path: str) -> str:
            with urllib.request.urlopen(url + path.lstrip("/"), timeout=60) as answer:
                return answer.read().decode("utf-8", errors="replace")

        overview = render(chromium, url, tmp_path / "overview.png", tmp_path)
        pages = {"/": overview}
        loads = db.execute("select distinct load_id, business_date from audit.load_runs order by 1").fetchall()
        assert len(loads) == 2
        for load_id, business_date in loads:
            row = re.search(rf'<tr data-load="{load_id}" data-date="{business_date}">(.*?)</tr>', overview,
                            flags=re.S)
            assert row, f"load {load_id} of {business_date} is not listed"
            report = re.search(r'href="([^"]+)">report</a>', row.group(1)).group(1)
            gx = re.search(r'class="gx" href="([^"]+)"', row.group(1)).group(1)
            pages[report] = get(report)
            assert f'data-load="{load_id}"' in pages[report] or f"load {load_id}" in pages[report].lower()
            pages[gx] = get(gx)
            gx_pages = re.findall(r'href="\.\./(gx_docs/validations/[^"]+)"', pages[gx])
            assert gx_pages and all(f"/{site.gx_run_name(business_date, load_id)}/" in p for p in gx_pages)
            for gx_page in gx_pages:  # the first load's pages are still there after the second load
                pages[gx_page] = get(unescape(gx_page))
        for chart in ("chart-rows-loaded", "chart-publication-delay", "chart-service-level"):
            assert f'<svg id="{chart}"' in overview, chart

        assert 'id="personal-data-reads"' in overview  # the auditor's page of who read personal data
        pages["personal-data-reads.html"] = get("personal-data-reads.html")

        docs = get("dbt_docs/index.html")
        pages["dbt_docs/index.html"] = docs
        assert re.search(r'"schema":\s*"analytics"', docs)
        assert "One row per call (any direction)." in docs  # fct_calls' description from its YAML

        for path, page in pages.items():
            leaked = sorted(v for v in personal if v in page)
            assert not leaked, f"{path} shows personal values of the drop: {leaked[:5]}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 130


def test_a_dag_run_that_runs_no_task_is_a_failed_date(warehouse_url, db, cdw_home, tmp_path, monkeypatch,
                                                      capsys):
    """Airflow marks a run before the DAG's start_date successful without running a task: `cdw run`
    must read the audit trail, find no load of the date, and say the date failed."""
    from cdw.cli import main

    landing = tmp_path / "landing"
    _generate(landing, START, START)
    monkeypatch.setenv("CDW_HOME", str(cdw_home))
    monkeypatch.setenv("CDW_SCHEDULE_START", "2099-01-01")  # every run of the DAG falls before it

    status = main(["run", "--landing", str(landing), "--start", START.isoformat(), "--end", START.isoformat()])

    out, err = capsys.readouterr()
    assert status == 1
    assert out.strip().splitlines()[-1] == f"1 date: 0 published, 1 failed ({START})"
    assert f"{START} FAILED" in err and "no load of this date in audit.load_runs" in err, err
    assert db.execute("select count(*) from audit.load_runs").fetchone()[0] == 0


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
    # the report task runs after any failure and fails the run too, but one alert per failed
    # date: the task that stopped it is the one named
    assert outcome.failed_tasks == ["wait_for_drop"]
    assert "_manifest.json" in outcome.error and str(START) in outcome.error
    assert outcome.seconds < 300


def test_ctrl_c_stops_cdw_run_and_its_dag_run(warehouse_url, db, cdw_home, tmp_path):
    """Ctrl-C in a terminal signals cdw's process group; the DAG run, in a session of its own so that a
    timeout can stop it whole, must be stopped by cdw too, and the date never published."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    landing = tmp_path / "landing"
    _generate(landing, START, START)
    env = {**os.environ, "CDW_HOME": str(cdw_home), "CDW_WAREHOUSE_URL": warehouse_url}
    cdw = str(Path(sys.executable).parent / "cdw")
    proc = subprocess.Popen([cdw, "run", "--landing", str(landing), "--start", str(START), "--end", str(START)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not db.execute("select count(*) from audit.load_runs").fetchone()[0]:  # the DAG run is loading
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.5)
        assert _dag_runs_of(cdw_home), "the DAG run is not found among this CDW_HOME's processes"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    assert _dag_runs_of(cdw_home) == [], "the DAG run goes on after Ctrl-C"
    time.sleep(15)  # long enough for a DAG run left behind to finish its load
    assert db.execute("select count(*) from audit.load_runs where status = 'PUBLISHED'").fetchone()[0] == 0


def _dag_runs_of(cdw_home) -> list[int]:
    """Processes of ``airflow dags test`` started for this CDW_HOME (other tests may run DAGs beside this one)."""
    from pathlib import Path

    mine = f"CDW_HOME={cdw_home}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if b"dags test customer_warehouse_daily" in cmdline and mine in environ:
            found.append(int(proc.name))
    return found


def _analytics_snapshot(db) -> dict[str, list[tuple]]:
    """Full contents of every analytics table, in a stable order."""
    tables = [r[0] for r in db.execute(
        "select table_name from information_schema.tables where table_schema = 'analytics' order by 1")]
    return {t: sorted(db.execute(f'select * from analytics."{t}"').fetchall(), key=repr) for t in tables}


def _corrupt_ledger(drop, share: float) -> None:
    """Set aside-worthy amounts (0) in a share of the ledger entries; the manifest stays consistent."""
    import csv
    import gzip
    import hashlib
    import io
    import json

    path = next(drop.glob("transactions.csv*"))
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode()
    rows = list(csv.reader(io.StringIO(text)))
    amount = rows[0].index("amount")
    for row in rows[1:: max(1, round(1 / share))]:
        row[amount] = "0"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    data = out.getvalue().encode()
    data = gzip.compress(data, mtime=0) if path.suffix == ".gz" else data
    path.write_bytes(data)
    manifest = json.loads((drop / "_manifest.json").read_text())
    manifest["files"][path.name]["sha256"] = hashlib.sha256(data).hexdigest()
    (drop / "_manifest.json").write_text(json.dumps(manifest))


def test_a_critical_defect_fails_keeps_analytics_alerts_and_a_redelivery_succeeds(
        warehouse_url, db, cdw_home, tmp_path, monkeypatch):
    import shutil
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from cdw.pipeline import run_dates

    alerts: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            alerts.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CDW_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/alerts")
    monkeypatch.setenv("CDW_HOME", str(cdw_home))
    landing = tmp_path / "landing"
    _generate(landing)
    pristine = tmp_path / "pristine"
    shutil.copytree(landing / END.isoformat(), pristine)
    try:
        assert run_dates(landing, START, START).ok
        before = _analytics_snapshot(db)

        _corrupt_ledger(landing / END.isoformat(), share=0.05)  # 5 % set aside: over the 1 % threshold
        failed = run_dates(landing, END, END)
        assert not failed.ok and failed.summary().endswith(f"({END})")
        assert _analytics_snapshot(db) == before  # analytics exactly as it was
        assert any(END.isoformat().encode() in a and b"quarantine_threshold_exceeded" in a for a in alerts)
        recorded = db.execute("select message from audit.alerts where business_date = %s", (END,)).fetchall()
        assert recorded and all("CDW ALERT" in m for (m,) in recorded)
        assert len(recorded) == 1, "one alert per failed date (the report task adds none)"

        shutil.rmtree(landing / END.isoformat())
        shutil.copytree(pristine, landing / END.isoformat())  # the corrected re-delivery
        redelivered = run_dates(landing, END, END)
        assert redelivered.ok, _log_tails(redelivered)
        assert db.execute("select status from audit.load_runs_latest where business_date = %s"
                          " order by load_id desc limit 1", (END,)).fetchone()[0] == "PUBLISHED"
        assert db.execute("select count(*) from analytics.fct_transactions where business_date = %s",
                          (END,)).fetchone()[0] > 0

        # personal data in clear nowhere an operator or auditor looks: logs, task output,
        # alerts, reports, the audit trail (the re-delivery put every value of the drops in raw)
        personal = _personal_values(db)
        assert len(personal) > 100
        leaks = [f"{path}: {value}" for path in _files_people_read(cdw_home)
                 for value in _found(path.read_text(encoding="utf-8", errors="replace"), personal)]
        leaks += [f"alert: {v}" for a in alerts for v in _found(a.decode("utf-8", "replace"), personal)]
        for (message,) in db.execute("select message from audit.alerts union all"
                                     " select coalesce(failure_reason, '') from audit.load_runs union all"
                                     " select raw_record from audit.quarantined_records").fetchall():
            leaks += [f"audit: {v}" for v in _found(message, personal)]
        assert not leaks, leaks[:10]
    finally:
        server.shutdown()


def _personal_values(db) -> set[str]:
    """Phone numbers, e-mails, caller numbers and counterparty accounts of every loaded record
    (long enough never to turn up by chance)."""
    values = set()
    for table, column in (("customers", "phone"), ("customers", "email"), ("calls", "caller_number"),
                          ("transactions", "counterparty_account")):
        values |= {v for (v,) in db.execute(f"select distinct {column} from raw.{table}"
                                            f" where length({column}) >= 8").fetchall()}
    return values


def _files_people_read(home):
    """The run logs, Airflow's task logs and the data-quality reports under CDW_HOME."""
    return [p for p in home.rglob("*") if p.is_file() and p.suffix in (".log", ".html", ".json", ".txt", ".md")]


def _found(text: str, values: set[str]) -> list[str]:
    return [v for v in values if v in text]
