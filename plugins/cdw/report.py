"""The auditors' data-quality report: one static HTML page per load, and an index of all loads.

:func:`write_report` renders ``<out_dir>/load-<id>.html`` (default: the warehouse's own site
directory, ``CDW_HOME/reports/warehouse-<id>``, :mod:`cdw.site`) from the audit trail alone
(``audit.load_runs``, ``file_reconciliation``, ``quarantined_records``,
``validation_results``, ``dbt_results``; a ``run_results.json`` given is recorded in
``dbt_results`` first, see :mod:`cdw.dbt_results`); then rewrites
``<out_dir>/index.html`` (every load, newest first) and ``personal-data-reads.html`` (who read
personal data in clear, ``cdw.personal_data``). Pages are self-contained: inline CSS,
no script, no external asset, so they can be archived or mailed as they are.

Personal data never reaches the page: examples of records set aside are masked as the
loader masks them (``cdw.landing.masking``: whatever is not known to be safe to show; a CSV
record's header is read from the drop, when it is still there), each masked value shown as
``***``; a record whose file or header is unknown shows every run of letters and digits
masked except its first two characters.
"""

from __future__ import annotations

import csv
import gzip
import re
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, select_autoescape

from cdw import dbt_results, personal_data, site, warehouse
from cdw.landing import contract, masking
from cdw.version import code_version

EXAMPLES_PER_REASON = 3
MASK = "***"
_RUN = re.compile(r"[^\W_]+")  # runs of letters and digits (any script)


# ---------------------------------------------------------------- masking


def mask_run(text: str) -> str:
    """Keep the first two characters of every run of letters/digits, mask the rest."""
    return _RUN.sub(lambda m: m.group(0)[:2] + "*" * max(len(m.group(0)) - 2, 0), text)


def mask_record(file_name: str, raw_record: str, header: list[str] | None) -> str:
    """A record set aside, safe to show: the loader's masking (``cdw.landing.masking``, safe by
    default) applied again, since older loads' trail may hold more in clear; a masked value
    shows nothing of itself here (``***``), not even its first character."""
    src = contract.source_for_file_name(file_name)
    if src is None or (src.fmt == "csv" and not header):
        return mask_run(raw_record)
    return masking.mask_record(src, raw_record, header, value_mask=lambda value: MASK if value else value)


def _csv_header(landing_path: str | None, file_name: str) -> list[str] | None:
    """The header line of a CSV file of the drop, if the drop is still there."""
    if not landing_path:
        return None
    path = Path(landing_path) / file_name
    try:
        opener = gzip.open if file_name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as f:
            return next(csv.reader([f.readline()]))
    except (OSError, StopIteration, EOFError, csv.Error):
        return None


# ---------------------------------------------------------------- data


def _rows(conn, query: str, params=()) -> list[dict]:
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _status_label(status: str | None) -> str:
    return "PASS" if status == "PUBLISHED" else "FAIL" if status in ("FAILED", "SUPERSEDED") else "PENDING"


def collect(conn, load_id: int, run_results: Path | None = None) -> dict:
    events = _rows(conn, "select * from audit.load_runs where load_id = %s order by event_id", (load_id,))
    if not events:
        raise ValueError(f"load {load_id} is not in audit.load_runs")
    latest = events[-1]
    files = _rows(conn, "select * from audit.file_reconciliation where load_id = %s order by file_name", (load_id,))
    # a load that failed before its commit loaded nothing: its files record 0 loaded
    committed = any(e["status"] == "LOADED" for e in events)
    for f in files:
        f["reconciles"] = f["manifest_rows"] == f["rows_read"] and (
            f["rows_read"] == (f["rows_loaded"] or 0) + (f["rows_quarantined"] or 0) if committed
            else not f["rows_loaded"])
    reasons = _rows(conn, """
        select file_name, reason, count(*) as records
        from audit.quarantined_records, unnest(reasons) as reason
        where load_id = %s group by file_name, reason order by file_name, records desc, reason""", (load_id,))
    headers: dict[str, list[str] | None] = {}
    for group in reasons:
        name = group["file_name"]
        if name not in headers:
            src = contract.source_for_file_name(name)
            headers[name] = _csv_header(latest.get("landing_path"), name) if src and src.fmt == "csv" else None
        examples = _rows(conn, """
            select line_number, raw_record from audit.quarantined_records
            where load_id = %s and file_name = %s and %s = any(reasons)
            order by line_number limit %s""", (load_id, name, group["reason"], EXAMPLES_PER_REASON))
        group["examples"] = [dict(line_number=e["line_number"],
                                  record=mask_record(name, e["raw_record"], headers[name])) for e in examples]
    validations = _rows(conn, """
        with runs as (
            select details ->> 'run' as run, max(recorded_at) as at from audit.validation_results
            where load_id = %s group by 1
        )
        select suite_name, expectation, severity, success, observed_value, details, recorded_at
        from audit.validation_results
        where load_id = %s and details ->> 'run' is not distinct from (select run from runs order by at desc limit 1)
        order by success, case severity when 'critical' then 0 when 'warning' then 1 else 2 end,
                 suite_name, expectation""", (load_id, load_id))
    for v in validations:
        v["exception"] = (v["details"] or {}).get("exception")
        v["note"] = ((v["details"] or {}).get("meta") or {}).get("note")
    if run_results and Path(run_results).exists():
        # a build run outside the DAG (cdw.publication.build_marts): into the trail, read back below
        dbt_results.record_run_results(conn, load_id, latest["business_date"], Path(run_results))
    return dict(
        load_id=load_id,
        business_date=latest["business_date"],
        status=latest["status"],
        label=_status_label(latest["status"]),
        failure_reason=next((e["failure_reason"] for e in reversed(events) if e["failure_reason"]), None)
        if latest["status"] != "PUBLISHED" else None,
        events=events,
        files=files,
        totals=dict(
            manifest_rows=sum(f["manifest_rows"] or 0 for f in files),
            rows_read=sum(f["rows_read"] or 0 for f in files),
            rows_loaded=sum(f["rows_loaded"] or 0 for f in files),
            rows_quarantined=sum(f["rows_quarantined"] or 0 for f in files),
        ),
        reasons=reasons,
        validations=validations,
        critical_failures=sum(1 for v in validations if not v["success"] and v["severity"] == "critical"),
        warnings=sum(1 for v in validations if not v["success"] and v["severity"] != "critical"),
        dbt=collect_dbt(conn, load_id, built=committed,
                        build_completed=bool(validations) or latest["status"] == "PUBLISHED"),
        load_code_version=latest["code_version"],
        report_code_version=code_version(),
        generated_at=datetime.now(UTC).replace(microsecond=0),
    )


def _status_order(status: str) -> tuple[int, str]:
    order = ("success", "pass", "warn", "fail", "error", "skipped")
    return (order.index(status) if status in order else len(order), status)


def collect_dbt(conn, load_id: int, *, built: bool, build_completed: bool,
                manifest: Path | None = None) -> dict:
    """The report's dbt build section: each node's latest result in ``audit.dbt_results``, counted
    by resource type and status; every test (or model) that failed, warned or errored; and the
    nodes the DAG builds that have no recorded result (``manifest``: the one Cosmos renders the
    DAG from).

    ``built``: the raw load committed, so dbt ran (or should have); ``build_completed``: the gate
    ran or the load was published, so every model ran and a missing result was not recorded.
    Then the project's tests without a result are listed too: a build that selects models
    does not run every test (tests of sources, some tests across models), and auditors see which.
    """
    results = dbt_results.latest_results(conn, load_id)
    for r in results:
        r["name"] = dbt_results.node_name(r["unique_id"])
        r["message"] = dbt_results.safe_message(r["message"]) or ""
        r["tested"] = ", ".join(dbt_results.node_name(n) for n in r["tested_nodes"] or [])
    types = sorted({r["resource_type"] for r in results},
                   key=lambda t: ((dbt_results.RESOURCE_TYPES + (t,)).index(t), t))
    statuses = sorted({r["status"] for r in results}, key=_status_order)
    counts = {t: {s: sum(1 for r in results if r["resource_type"] == t and r["status"] == s) for s in statuses}
              for t in types}
    severity = {"error": 0, "fail": 1, "warn": 2}
    problems = sorted((r for r in results if r["status"] not in dbt_results.OK_STATUSES),
                      key=lambda r: (severity.get(r["status"], 0), r["resource_type"], r["name"]))
    unrecorded, expected = None, None
    manifest = manifest or _cosmos_manifest()
    if built and manifest.is_file():
        expected = dbt_results.built_nodes(manifest)
        unrecorded = sorted(expected - {r["unique_id"] for r in results})
    tests_without_result = None
    if build_completed and results and manifest.is_file():
        # every model ran: a test without a result was run by no build of the load (or not recorded)
        tests_without_result = sorted(dbt_results.project_tests(manifest) - {r["unique_id"] for r in results})
    return dict(results=results, types=types, statuses=statuses, counts=counts,
                totals={s: sum(c[s] for c in counts.values()) for s in statuses},
                problems=problems, built=built, build_completed=build_completed, unrecorded=unrecorded,
                expected=expected, tests_without_result=tests_without_result)


def _cosmos_manifest() -> Path:
    from cdw.airflow_home import COSMOS_MANIFEST

    return COSMOS_MANIFEST


# ---------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;margin:24px;color:#1d2430}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0 12px;min-width:50%} th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7} td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:3px 12px;border-radius:12px;font-weight:700;color:#fff}
.PASS{background:#1a7f37} .FAIL{background:#cf222e} .PENDING{background:#9a6700}
.ok{color:#1a7f37;font-weight:700;white-space:nowrap} .bad{color:#cf222e;font-weight:700} .warn{color:#9a6700;font-weight:700}
code,pre{font:12px ui-monospace,Menlo,Consolas,monospace} pre{white-space:pre-wrap;word-break:break-all;margin:0}
.meta{color:#57606a} .reason{background:#fff1f0;border:1px solid #ffc1bd;padding:8px;border-radius:6px}
"""

_LOAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Load {{ r.load_id }} – {{ r.business_date }} – {{ r.label }}</title>
<style>{{ css }}</style></head><body>
<p class="meta"><a href="index.html">All loads</a></p>
<h1>Business date {{ r.business_date }} — load {{ r.load_id }}
 <span class="badge {{ r.label }}" id="status" data-status="{{ r.status }}">{{ r.label }}</span></h1>
<p>Status: <strong id="load-status">{{ r.status }}</strong>
{%- if r.status == 'PUBLISHED' %} (published to analytics){% else %} (not published){% endif %}</p>
{% if r.failure_reason %}<p class="reason" id="failure-reason"><strong>Reason:</strong> {{ r.failure_reason }}</p>{% endif %}

<h2>Files of the drop</h2>
<table id="files"><tr><th>file</th><th>sha256</th><th>manifest rows</th><th>read</th><th>loaded</th><th>set aside</th><th>reconciles</th></tr>
{% for f in r.files %}<tr data-file="{{ f.file_name }}"><td>{{ f.file_name }}</td><td><code>{{ f.sha256 }}</code></td>
<td class="n manifest">{{ f.manifest_rows }}</td><td class="n read">{{ f.rows_read }}</td><td class="n loaded">{{ f.rows_loaded }}</td>
<td class="n aside">{{ f.rows_quarantined }}</td><td class="check">{% if f.reconciles %}<span class="ok">✓</span>{% else %}<span class="bad">✗</span>{% endif %}</td></tr>
{% endfor %}<tr><th>total</th><th></th><th class="n">{{ r.totals.manifest_rows }}</th><th class="n">{{ r.totals.rows_read }}</th>
<th class="n">{{ r.totals.rows_loaded }}</th><th class="n">{{ r.totals.rows_quarantined }}</th><th></th></tr></table>

<h2>Records set aside</h2>
{% if not r.reasons %}<p>None.</p>{% else %}
<table id="set-aside"><tr><th>file</th><th>reason</th><th>records</th><th>examples (personal data masked)</th></tr>
{% for g in r.reasons %}<tr><td>{{ g.file_name }}</td><td><code>{{ g.reason }}</code></td><td class="n">{{ g.records }}</td>
<td>{% for e in g.examples %}<pre>line {{ e.line_number }}: {{ e.record }}</pre>{% endfor %}</td></tr>
{% endfor %}</table>{% endif %}

<h2>Expectations ({{ r.validations|length }}: {{ r.critical_failures }} critical failure(s), {{ r.warnings }} warning(s))</h2>
{% if not r.validations %}<p>No validation recorded for this load.</p>{% else %}
<table id="expectations"><tr><th>suite</th><th>expectation</th><th>severity</th><th>result</th><th>observed</th></tr>
{% for v in r.validations %}<tr><td>{{ v.suite_name }}</td><td>{{ v.expectation }}{% if v.note %}<br><span class="meta">{{ v.note }}</span>{% endif %}</td>
<td>{{ v.severity }}</td><td>{% if v.success %}<span class="ok">✓ pass</span>{% elif v.severity == 'critical' %}<span class="bad">✗ fail</span>{% else %}<span class="warn">! fail</span>{% endif %}</td>
<td><pre>{{ (v.observed_value or '')|truncate(300) }}{% if v.exception %} — raised: {{ v.exception|truncate(300) }}{% endif %}</pre></td></tr>
{% endfor %}</table>{% endif %}

<h2 id="dbt-build">dbt build</h2>
{% set d = r.dbt %}
{% if not d.built and not d.results %}<p id="dbt-none">dbt did not run for this load: its raw load did not complete.</p>
{% elif not d.results %}<p class="reason" id="dbt-none"><strong>No dbt result recorded for this load.</strong></p>
{% else %}
<p>Each node's latest result (a retried task's last try), from <code>audit.dbt_results</code>.</p>
<table id="dbt-counts"><tr><th>resource type</th>{% for s in d.statuses %}<th>{{ s }}</th>{% endfor %}<th>total</th></tr>
{% for t in d.types %}<tr data-type="{{ t }}"><td>{{ t }}</td>{% for s in d.statuses %}<td class="n" data-status="{{ s }}">{{ d.counts[t][s] }}</td>{% endfor %}
<td class="n">{{ d.counts[t].values()|sum }}</td></tr>
{% endfor %}<tr><th>total</th>{% for s in d.statuses %}<th class="n">{{ d.totals[s] }}</th>{% endfor %}<th class="n">{{ d.results|length }}</th></tr></table>
{% if d.problems %}<h3>Failed, warned or errored ({{ d.problems|length }})</h3>
<table id="dbt-problems"><tr><th>name</th><th>type</th><th>status</th><th>tests</th><th>failures</th><th>message</th></tr>
{% for p in d.problems %}<tr data-node="{{ p.unique_id }}"><td><code>{{ p.name }}</code></td><td>{{ p.resource_type }}</td>
<td>{% if p.status == 'warn' %}<span class="warn">! warn</span>{% else %}<span class="bad">✗ {{ p.status }}</span>{% endif %}</td>
<td>{{ p.tested }}</td><td class="n failures">{{ p.failures if p.failures is not none else '' }}</td><td><pre>{{ p.message|truncate(600) }}</pre></td></tr>
{% endfor %}</table>{% elif d.types|select('in', ['test', 'unit_test'])|list %}<p id="dbt-all-passed"><span class="ok">✓</span> No test failed, warned or errored; no model errored.</p>
{% else %}<p id="dbt-no-tests">No model errored; no test ran in this load's builds.</p>{% endif %}
{% endif %}
{% if d.unrecorded %}<p class="reason" id="dbt-unrecorded"><strong>No recorded result for {{ d.unrecorded|length }} of the {{ d.expected|length }} models and seeds the DAG builds</strong>
{%- if d.build_completed %} (they ran, since the gate ran after them, but their results could not be recorded: see their task logs){% else %}
 (not run, because a model before them failed or the run stopped, or their results could not be recorded: see their task logs){% endif %}:
{% for n in d.unrecorded %}<code>{{ n }}</code>{% if not loop.last %}, {% endif %}{% endfor %}.</p>{% endif %}
{% if d.tests_without_result %}<p class="reason" id="dbt-tests-without-result"><strong>{{ d.tests_without_result|length }} of the project's data and unit tests have no result for this load</strong>
(no build of the load ran them, or their results could not be recorded).</p>
<details><summary>Tests without a result ({{ d.tests_without_result|length }})</summary><p>
{% for n in d.tests_without_result %}<code>{{ n }}</code>{% if not loop.last %}, {% endif %}{% endfor %}.</p></details>{% endif %}
{% if d.results %}<details><summary>Every node ({{ d.results|length }})</summary>
<table id="dbt"><tr><th>node</th><th>type</th><th>status</th><th>failures</th><th>seconds</th><th>task</th></tr>
{% for n in d.results %}<tr><td><code>{{ n.unique_id }}</code></td><td>{{ n.resource_type }}</td><td>{{ n.status }}</td>
<td class="n">{{ n.failures if n.failures is not none else '' }}</td><td class="n">{{ '%.2f'|format(n.execution_seconds or 0) }}</td>
<td>{{ n.task_id or '' }}{% if n.try_number %} (try {{ n.try_number }}){% endif %}</td></tr>
{% endfor %}</table></details>{% endif %}

<h2>Run</h2>
<table id="events"><tr><th>status</th><th>started</th><th>finished</th><th>recorded</th><th>code version</th></tr>
{% for e in r.events %}<tr><td>{{ e.status }}</td><td>{{ e.started_at }}</td><td>{{ e.finished_at or '' }}</td><td>{{ e.recorded_at }}</td><td><code>{{ e.code_version }}</code></td></tr>
{% endfor %}</table>
<p class="meta">Report generated {{ r.generated_at }} by code version <code>{{ r.report_code_version }}</code>.</p>
</body></html>
"""

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data-quality reports</title><style>{{ css }}</style></head><body>
<h1>Data-quality reports — all loads</h1>
<p class="meta"><a href="personal-data-reads.html" id="personal-data-reads">Who read personal data</a></p>
<table id="loads"><tr><th>load</th><th>business date</th><th>status</th><th>rows read</th><th>loaded</th><th>set aside</th><th>report</th></tr>
{% for l in loads %}<tr data-load="{{ l.load_id }}"><td class="n">{{ l.load_id }}</td><td>{{ l.business_date }}</td>
<td><span class="badge {{ l.label }}">{{ l.label }}</span> {{ l.status }}</td><td class="n read">{{ l.rows_read }}</td>
<td class="n loaded">{{ l.rows_loaded }}</td><td class="n aside">{{ l.rows_quarantined }}</td>
<td>{% if l.link %}<a href="{{ l.link }}">{{ l.link }}</a>{% endif %}</td></tr>
{% endfor %}</table>
<p class="meta">Generated {{ generated_at }}.</p></body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def write_report(load_id: int, *, url: str | None = None, out_dir: Path | None = None,
                 run_results: Path | None = None) -> Path:
    """Render ``load-<id>.html`` and refresh ``index.html`` in ``out_dir`` (default: the warehouse's
    site directory, :func:`cdw.site.site_dir`); a load's page is its own, never another's."""
    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        out_dir = Path(out_dir) if out_dir else site.site_dir(conn)
        out_dir.mkdir(parents=True, exist_ok=True)
        data = collect(conn, int(load_id), run_results)
        page = out_dir / site.load_page_name(load_id)
        page.write_text(_ENV.from_string(_LOAD).render(r=data, css=_CSS), encoding="utf-8")
        write_index(conn, out_dir)
    return page


def write_index(conn, out_dir: Path) -> Path:
    loads = _rows(conn, """
        select l.load_id, l.business_date, l.status,
               coalesce(sum(f.rows_read), 0) as rows_read, coalesce(sum(f.rows_loaded), 0) as rows_loaded,
               coalesce(sum(f.rows_quarantined), 0) as rows_quarantined
        from audit.load_runs_latest l left join audit.file_reconciliation f using (load_id)
        group by l.load_id, l.business_date, l.status order by l.load_id desc""")
    for row in loads:
        row["label"] = _status_label(row["status"])
        name = site.load_page_name(row["load_id"])
        row["link"] = name if (out_dir / name).exists() else None
    personal_data.write_page(conn, out_dir, _CSS)  # linked from the index
    index = out_dir / "index.html"
    index.write_text(_ENV.from_string(_INDEX).render(loads=loads, css=_CSS,
                                                      generated_at=datetime.now(UTC).replace(microsecond=0)),
                     encoding="utf-8")
    return index
