"""The data-quality report in a real (headless) Chromium: what auditors see equals the audit trail.

Two loads on a copy of the built star schema (tests/integration/test_quality.py): 2026-03-03
refused by the gate (a ledger entry lost from the star), and a hand-made 2026-03-04 drop with
records set aside, built by dbt and published. Chromium renders ``load-<id>.html`` and
``index.html``; the figures in the rendered DOM are compared with the audit tables, and the
screenshots are kept under test-output/.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_quality are parameters of the tests)
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from html import unescape

import psycopg
import pytest
from tests.integration.test_quality import (  # noqa: F401 (fixtures)
    BUILD_NO_TESTS,
    D2,
    DEFECTS,
    built_star,
    generated_landing,
    star,
)
from tests.landing_builder import valid_records, write_drop

from cdw.load import load_date
from cdw.publication import PublicationRefused, build_marts, publish
from cdw.report import write_report

pytestmark = pytest.mark.slow

D3 = date(2026, 3, 4)
SECRET_ACCOUNT = "6222020200112233"
SECRET_CALLER = "+8613912345678"


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
    """The DOM Chromium builds from the page (and a full-page screenshot)."""
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    subprocess.run([*base, f"--screenshot={screenshot}", "--window-size=1280,2000", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert screenshot.exists() and screenshot.stat().st_size > 10_000
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True,
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


def test_report_shows_the_audit_trail(star, chromium, test_output, tmp_path, monkeypatch):
    url, loads = star
    # 2026-03-03: refused by the gate
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DEFECTS["reconciliation"][0])
    with pytest.raises(PublicationRefused):
        publish(D2, loads[D2], url=url, build=False)

    # 2026-03-04: two records set aside (personal data in both), the rest built and published
    records = valid_records(D3)
    records["transactions"][0].update(amount="abc", counterparty_account=SECRET_ACCOUNT)
    records["calls"][0].update(priority=7, caller_number=SECRET_CALLER)
    landing = tmp_path / "landing"
    write_drop(landing, records, day=D3)
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "0.5")
    load_id = load_date(landing, D3, url=url).load_id
    run_results = build_marts(D3, url=url, target_path=str(tmp_path / "target"), args=BUILD_NO_TESTS)
    publish(D3, load_id, url=url, build=False)

    out = tmp_path / "reports"
    write_report(loads[D2], url=url, out_dir=out)
    page = write_report(load_id, url=url, out_dir=out, run_results=run_results)
    assert page.name == f"load-{load_id}.html"
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
