"""The data-quality report and the served site in a real (headless) Chromium: what auditors see
equals the audit trail.

Set up once for the module, on a copy of the built star schema (tests/integration/test_quality.py,
2026-03-02 and 2026-03-03 loaded and built): 2026-03-03 refused by the gate (a ledger entry lost
from the star), and a hand-made 2026-03-04 drop with records set aside, built by dbt and
published; both validated with their GX Data Docs, both reports written where the pipeline
writes them (the warehouse's site directory). Chromium renders ``load-<id>.html``, ``index.html``
and the site ``cdw serve`` serves; the figures in the rendered DOM are compared with the audit
tables, and the screenshots are kept under test-output/.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_quality are parameters of the tests)
from __future__ import annotations

import http.client
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date
from html import unescape
from pathlib import Path

import psycopg
import pytest
from tests.conftest import database_from_template, drop_database
from tests.integration.test_quality import (  # noqa: F401 (fixtures)
    BUILD_NO_TESTS,
    D1,
    D2,
    DEFECTS,
    built_star,
    generated_landing,
)
from tests.landing_builder import valid_records, write_drop

from cdw import site
from cdw.load import load_date
from cdw.publication import PublicationRefused, build_marts, publish
from cdw.report import write_report

pytestmark = pytest.mark.slow

D3 = date(2026, 3, 4)
SECRET_ACCOUNT = "6222020200112233"
SECRET_CALLER = "+8613912345678"


@dataclass
class Audited:
    """The module's warehouse: its URL, {business date: load id}, the reports' directory, CDW_HOME."""

    url: str
    loads: dict[date, int]
    reports: Path
    home: Path


@pytest.fixture(scope="module")
def audited(pg_server, built_star, tmp_path_factory) -> Audited:
    """A copy of the built star with D2 refused and D3 (two records set aside) published, each
    validated (GX Data Docs) and reported as the DAG does; CDW_WAREHOUSE_URL and CDW_HOME point at
    it for the module (one set-up for the report and the site tests: a dbt build is not cheap)."""
    template, built = built_star
    name, url = database_from_template(pg_server, template)
    tmp = tmp_path_factory.mktemp("audited")
    loads = dict(built)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CDW_WAREHOUSE_URL", url)
            env.setenv("CDW_HOME", str(tmp / "home"))
            env.delenv("CDW_VOLUME_TOLERANCE", raising=False)
            # 2026-03-03: refused by the gate
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(DEFECTS["reconciliation"][0])
            with pytest.raises(PublicationRefused):
                publish(D2, loads[D2], url=url, build=False)

            # 2026-03-04: two records set aside (personal data in both), the rest built and published
            records = valid_records(D3)
            records["transactions"][0].update(amount="abc", counterparty_account=SECRET_ACCOUNT)
            records["calls"][0].update(priority=7, caller_number=SECRET_CALLER)
            landing = tmp / "landing"
            write_drop(landing, records, day=D3)
            env.setenv("CDW_QUARANTINE_THRESHOLD", "0.5")
            loads[D3] = load_date(landing, D3, url=url).load_id
            run_results = build_marts(D3, url=url, target_path=str(tmp / "target"), args=BUILD_NO_TESTS)
            publish(D3, loads[D3], url=url, build=False)

            write_report(loads[D2], url=url)
            page = write_report(loads[D3], url=url, run_results=run_results)
            yield Audited(url, loads, page.parent, tmp / "home")
    finally:
        drop_database(pg_server, name)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed with apt-get when missing (skipped only when apt itself cannot run)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and apt-get is not available to install it")
    try:
        subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, capture_output=True, timeout=1200,
                       env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, PermissionError) as exc:
        pytest.skip(f"chromium is missing and apt-get could not install it: {exc}")
    found = shutil.which("chromium")
    assert found, "apt-get install chromium succeeded but no chromium on PATH"
    return found


def render(chromium: str, page, screenshot, tmp_path) -> str:
    """The DOM Chromium builds from the page, a file or a URL (and a full-page screenshot)."""
    # no host but this one resolves: a page that needs the network shows it at once, not after a timeout
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    target = page if isinstance(page, str) else page.as_uri()
    subprocess.run([*base, f"--screenshot={screenshot}", "--window-size=1280,2000", target],
                   check=True, capture_output=True, timeout=120)
    assert screenshot.exists() and screenshot.stat().st_size > 10_000
    dom = subprocess.run([*base, "--dump-dom", target], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    assert "</html>" in dom
    return dom


def file_rows(dom: str) -> dict[str, tuple[int, int, int, int, str]]:
    """file name -> (manifest, read, loaded, set aside, check mark) as shown."""
    out = {}
    for name, body in re.findall(r'<tr data-file="([^"]+)">(.*?)</tr>', dom, flags=re.S):
        def cell(cls, body=body):
            return int(re.search(rf'<td class="n {cls}">(\d+)</td>', body).group(1))
        check = "✓" if 'class="ok">✓' in body else "✗"
        out[unescape(name)] = (cell("manifest"), cell("read"), cell("loaded"), cell("aside"), check)
    return out


def test_report_shows_the_audit_trail(audited, chromium, test_output, tmp_path):
    url, loads, out = audited.url, audited.loads, audited.reports
    load_id = loads[D3]
    page = out / f"load-{load_id}.html"
    assert page.name == f"load-{load_id}.html"
    assert out.parent == audited.home / "reports" and out.name.startswith("warehouse-")  # the warehouse's own
    assert not re.search(r"https?://", page.read_text()), "no external asset"

    with psycopg.connect(url) as conn:
        audit = {name: (m, r, lo, q) for name, m, r, lo, q in conn.execute(
            "select file_name, manifest_rows, rows_read, rows_loaded, rows_quarantined"
            " from audit.file_reconciliation where load_id = %s", (load_id,)).fetchall()}
        failed_reason = conn.execute("select failure_reason from audit.load_runs_latest where load_id = %s",
                                     (loads[D2],)).fetchone()[0]
        index_rows = conn.execute(
            "select l.load_id, l.status, coalesce(sum(f.rows_read), 0), coalesce(sum(f.rows_loaded), 0),"
            " coalesce(sum(f.rows_quarantined), 0) from audit.load_runs_latest l"
            " left join audit.file_reconciliation f using (load_id) group by 1, 2 order by 1 desc").fetchall()
        expectations = conn.execute(
            "select count(*) from audit.validation_results where load_id = %s", (load_id,)).fetchone()[0]

    # the published load
    dom = render(chromium, page, test_output / "report.png", tmp_path)
    shown = file_rows(dom)
    assert {name: v[:4] for name, v in shown.items()} == audit
    assert shown["transactions.csv"][3] == 1 and shown["calls.jsonl"][3] == 1
    assert {v[4] for v in shown.values()} == {"✓"}
    assert 'data-status="PUBLISHED"' in dom and ">PASS</span>" in dom
    assert "bad_value:amount" in dom and "out_of_range:priority" in dom
    assert SECRET_ACCOUNT not in dom and SECRET_CALLER not in dom and "***" in dom
    assert dom.count("<tr", dom.index('id="expectations"')) >= expectations  # every expectation listed
    assert "model.cdw.fct_transactions" in dom  # dbt results

    # the refused load
    refused_dom = render(chromium, out / f"load-{loads[D2]}.html", test_output / "report-failed.png", tmp_path)
    assert 'data-status="FAILED"' in refused_dom and ">FAIL</span>" in refused_dom
    assert "count and signed sum reconcile with raw" in unescape(refused_dom)
    assert unescape(failed_reason)[:80] in unescape(refused_dom)

    # the index: every load, newest first, with its figures and a link to its page
    index_dom = render(chromium, out / "index.html", test_output / "report-index.png", tmp_path)
    listed = [(int(i), s) for i, s in re.findall(r'<tr data-load="(\d+)">.*?</span> (\w+)</td>', index_dom,
                                                  flags=re.S)]
    assert listed == [(row[0], row[1]) for row in index_rows]
    for load, _status, read, loaded, aside in index_rows:
        body = re.search(rf'<tr data-load="{load}">(.*?)</tr>', index_dom, flags=re.S).group(1)
        assert re.search(rf'class="n read">{read}<', body) and re.search(rf'class="n loaded">{loaded}<', body)
        assert re.search(rf'class="n aside">{aside}<', body)
    assert f'href="load-{load_id}.html"' in index_dom and f'href="load-{loads[D2]}.html"' in index_dom


# ---------------------------------------------------------------- the served site


@pytest.fixture
def served(audited):
    """``cdw serve --port 0`` on the module's warehouse: its URL (the last line it printed); stopped
    with Ctrl-C at the end, which must exit 130 with one line."""
    cdw = Path(sys.executable).parent / "cdw"
    proc = subprocess.Popen([str(cdw), "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, proc.poll(), proc.stderr.read() if proc.poll() else "")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and out == ""
    assert err.strip().splitlines()[-1] == "error: interrupted (Ctrl-C or SIGTERM)"


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def _raw_status(base: str, method: str, path: str) -> int:
    """The status of a request sent exactly as written (a browser or urllib would tidy ``/../`` away)."""
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def _marks(dom: str, chart: str, kind: str) -> list[tuple[str, str, float]]:
    """(date, series, value) of every bar (rect) or point (circle) of one chart."""
    svg = re.search(rf'<svg id="{chart}".*?</svg>', dom, flags=re.S)
    assert svg, f"no chart {chart}"
    marks = []
    for attrs in re.findall(rf'<{kind} class="(?:bar|point)"([^>]*)>', svg.group(0)):
        found = dict(re.findall(r'data-(\w+)="([^"]*)"', attrs))
        marks.append((found["date"], unescape(found.get("series", "")), float(found["value"])))
    return marks


def test_site_serves_trends_every_load_and_the_gx_history(audited, served, chromium, test_output, tmp_path):
    url, loads = audited.url, audited.loads
    with psycopg.connect(url) as conn:
        rows_loaded = dict(conn.execute(
            "select l.business_date, sum(f.rows_loaded) from audit.load_runs_latest l"
            " join audit.file_reconciliation f using (load_id) group by 1").fetchall())
        set_aside = conn.execute(
            "select business_date, reason, count(*) from audit.quarantined_records, unnest(reasons) as reason"
            " where load_id = %s group by 1, 2", (loads[D3],)).fetchall()
        # each load was validated once (by its publication)
        failed_by_date = dict(conn.execute(
            "select l.business_date, count(*) from audit.validation_results v join audit.load_runs_latest l"
            " using (load_id) where not v.success group by 1").fetchall())
        kpi_dates = [d for (d,) in conn.execute(
            "select calendar_date from analytics.call_center_daily group by 1"
            " having sum(offered - short_abandoned) > 0 order by 1").fetchall()]
        every_load = [(i, d) for i, d in conn.execute(
            "select load_id, business_date from audit.load_runs_latest order by business_date desc, load_id desc")]

    dom = render(chromium, served, test_output / "site-overview.png", tmp_path)
    # one bar per business date of rows loaded; set aside by reason on the date that had them
    assert sorted(_marks(dom, "chart-rows-loaded", "rect")) == sorted(
        (d.isoformat(), "rows loaded", float(n)) for d, n in rows_loaded.items())
    assert sorted(_marks(dom, "chart-set-aside", "rect")) == sorted(
        (d.isoformat(), reason, float(n)) for d, reason, n in set_aside)
    assert {reason for _, reason, _ in set_aside} == {"bad_value:amount", "out_of_range:priority"}
    # failed expectations per date, the refused date among them
    failed: dict[str, float] = {}
    for day, _severity, value in _marks(dom, "chart-expectations-failed", "rect"):
        failed[day] = failed.get(day, 0) + value
    assert failed == {d.isoformat(): float(n) for d, n in failed_by_date.items()} and failed[D2.isoformat()] >= 1
    # published once: one point of delay, on that date
    assert [d for d, _, _ in _marks(dom, "chart-publication-delay", "circle")] == [D3.isoformat()]
    assert [d for d, _, _ in _marks(dom, "chart-service-level", "circle")] == [d.isoformat() for d in kpi_dates]
    assert len(_marks(dom, "chart-calls-offered", "rect")) >= len(kpi_dates) > 0

    # every load, newest business date first, each with its report when one was written
    listed = [(int(i), date.fromisoformat(d)) for i, d in
              re.findall(r'<tr data-load="(\d+)" data-date="([\d-]+)">', dom)]
    assert listed == every_load
    assert {D1, D2, D3} <= {d for _, d in listed}
    assert SECRET_ACCOUNT not in dom and SECRET_CALLER not in dom and "***" not in dom  # aggregates only

    # follow the link to the published load's report
    report = re.search(rf'<tr data-load="{loads[D3]}".*?href="([^"]+)">report</a>', dom, flags=re.S).group(1)
    status, page = _get(served + report)
    assert status == 200 and b'data-status="PUBLISHED"' in page and SECRET_CALLER.encode() not in page

    # the earlier load's GX pages are still there after the later load's validation
    gx_link = re.search(rf'<tr data-load="{loads[D2]}".*?class="gx" href="([^"]+)"', dom, flags=re.S).group(1)
    listing = render(chromium, served + gx_link, test_output / "site-gx-of-load.png", tmp_path)
    pages = re.findall(r'href="\.\./(gx_docs/validations/[^"]+)"', listing)
    run = site.gx_run_name(D2, loads[D2])
    assert pages and all(f"/{run}/" in p for p in pages)
    assert re.search(r'<tr data-suite="fct_transactions[^"]*" data-verdict="failed">', listing)  # why it was refused
    gx_page = render(chromium, served + unescape(pages[0]), test_output / "site-gx-page.png", tmp_path)
    assert run in gx_page
    assert site.gx_run_name(D3, loads[D3]) not in listing  # only that load's
    status, index = _get(served + "gx_docs/index.html")
    assert status == 200 and run.encode() in index and site.gx_run_name(D3, loads[D3]).encode() in index

    # read-only, inside the site only
    assert _get(served, method="POST")[0] == 405
    assert _get(served, method="HEAD") == (200, b"")
    for path in ("/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/gx_docs/../../../etc/passwd"):
        assert _raw_status(served, "GET", path) == 403, path
