"""The site's overview page: trends per business date, and every load with its pages.

Computed from the audit trail (and the published ``analytics.call_center_daily``) each time it
is asked for, so it is never stale. Aggregates only: counts, reasons (rule and field names,
never values), ratios, delays; no record, masked or not, reaches it.

Each date is counted by its latest load (a rerun replaces a failed load's figures, as it
replaces its data), over the last ``CHART_DATES`` business dates:

* rows loaded: ``audit.file_reconciliation.rows_loaded`` summed over the load's files;
* records set aside by reason: ``audit.quarantined_records``, one count per reason a record
  has (a record with two reasons counts under both);
* expectations failed: the load's latest validation run in ``audit.validation_results``,
  critical (or raised) and warning apart;
* publication delay: the date's first ``audit.publications.published_at`` minus the end of the
  business date (midnight after it, in the bank's zone);
* service level and calls offered: summed over services from ``analytics.call_center_daily``
  (service level = answered within threshold / (offered - short abandoned), as the mart defines it).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg
from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from cdw import charts, site, warehouse

CHART_DATES = 90
TOP_REASONS = 8  # further reasons are drawn together as "other reasons"


def _rows(conn, query: str, params=()) -> list[dict]:
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def collect(conn: psycopg.Connection, site_path: Path | None) -> dict:
    """Everything the overview shows, read from the audit trail and the published mart."""
    zone = warehouse.bank_timezone(conn)
    charted = _rows(conn, """
        with latest as (
            select distinct on (business_date) load_id, business_date
            from audit.load_runs_latest order by business_date desc, load_id desc
        )
        select business_date, load_id from (select * from latest order by business_date desc limit %s) as last
        order by business_date""", (CHART_DATES,))
    dates = [r["business_date"].isoformat() for r in charted]
    params = {"loads": [r["load_id"] for r in charted], "zone": zone, "dates": CHART_DATES}
    rows_loaded = {r["business_date"].isoformat(): float(r["rows"]) for r in _rows(conn, """
        select business_date, coalesce(sum(rows_loaded), 0) as rows from audit.file_reconciliation
        where load_id = any(%(loads)s) group by 1""", params)}
    set_aside: dict[str, dict[str, float]] = defaultdict(dict)
    reasons = _rows(conn, """
        select q.business_date, reason, count(*) as records
        from audit.quarantined_records q, unnest(q.reasons) as reason
        where q.load_id = any(%(loads)s) group by 1, 2""", params)
    ranked = defaultdict(int)
    for r in reasons:
        ranked[r["reason"]] += r["records"]
    kept = sorted(ranked, key=lambda reason: (-ranked[reason], reason))[:TOP_REASONS]
    for r in reasons:
        name = r["reason"] if r["reason"] in kept else "other reasons"
        day = r["business_date"].isoformat()
        set_aside[name][day] = set_aside[name].get(day, 0) + float(r["records"])
    failed = {"critical": {}, "warning": {}}
    for r in _rows(conn, """
        with runs as (
            select load_id, details ->> 'run' as run, max(recorded_at) as at
            from audit.validation_results where load_id = any(%(loads)s) group by 1, 2
        ),
        last_run as (select distinct on (load_id) load_id, run from runs order by load_id, at desc)
        select l.business_date,
               count(*) filter (where not v.success and (v.severity = 'critical'
                                or coalesce((v.details ->> 'raised')::boolean, false))) as critical,
               count(*) filter (where not v.success and v.severity is distinct from 'critical'
                                and not coalesce((v.details ->> 'raised')::boolean, false)) as warning
        from last_run r join audit.load_runs_latest l using (load_id)
        join audit.validation_results v on v.load_id = r.load_id and (v.details ->> 'run') is not distinct from r.run
        group by 1""", params):
        failed["critical"][r["business_date"].isoformat()] = float(r["critical"])
        failed["warning"][r["business_date"].isoformat()] = float(r["warning"])
    delays = {r["business_date"].isoformat(): r["hours"] for r in _rows(conn, """
        select business_date, extract(epoch from min(published_at)
               - ((business_date + 1)::timestamp at time zone %(zone)s)) / 3600.0 as hours
        from audit.publications where business_date = any(%(dates)s::date[]) group by 1""",
        {**params, "dates": dates})}
    delay_unit, delay_scale = ("hours", 1.0) if max(delays.values(), default=0) < 72 else ("days", 24.0)
    kpis = _kpis(conn)
    loads = _loads(conn, site_path)
    return dict(
        zone=zone,
        dates=dates,
        rows_loaded=rows_loaded,
        set_aside=dict(set_aside),
        failed=failed,
        delays={day: float(h) / delay_scale for day, h in delays.items()},
        delay_unit=delay_unit,
        kpis=kpis,
        loads=loads,
        links=_links(site_path),
        generated_at=datetime.now(UTC).replace(microsecond=0),
    )


def _kpis(conn) -> dict:
    """Per calendar date of the published mart; nothing before the first publication."""
    if conn.execute("select to_regclass('analytics.call_center_daily')").fetchone()[0] is None:
        return {"dates": [], "service_level": {}, "offered": {}}
    rows = _rows(conn, """
        select calendar_date, sum(offered) as offered,
               sum(answered_within_threshold)::numeric / nullif(sum(offered - short_abandoned), 0) as service_level
        from analytics.call_center_daily group by 1 order by 1 desc limit %s""", (CHART_DATES,))
    rows.reverse()
    return {
        "dates": [r["calendar_date"].isoformat() for r in rows],
        "service_level": {r["calendar_date"].isoformat(): None if r["service_level"] is None
                          else float(r["service_level"]) * 100 for r in rows},
        "offered": {r["calendar_date"].isoformat(): float(r["offered"] or 0) for r in rows},
    }


def _loads(conn, site_path: Path | None) -> list[dict]:
    """Every load, newest business date first and within it newest load first, with its pages."""
    loads = _rows(conn, """
        select l.load_id, l.business_date, l.status,
               coalesce(sum(f.rows_loaded), 0) as rows_loaded, coalesce(sum(f.rows_quarantined), 0) as set_aside
        from audit.load_runs_latest l left join audit.file_reconciliation f using (load_id)
        group by l.load_id, l.business_date, l.status
        order by l.business_date desc, l.load_id desc""")
    runs = gx_runs(site_path)
    for load in loads:
        page = site.load_page_name(load["load_id"])
        load["report"] = page if site_path is not None and (site_path / page).exists() else None
        load["gx"] = site.gx_run_name(load["business_date"], load["load_id"]) in runs
    return loads


def gx_runs(site_path: Path | None) -> set[str]:
    """Run names that have GX pages (one walk of the Data Docs' folders, not one per load)."""
    if site_path is None:
        return set()
    found = set()
    for _dir, subdirs, _files in os.walk(site_path / site.GX_DOCS / "validations"):
        found.update(d for d in subdirs if "-load-" in d)
    return found


def _links(site_path: Path | None) -> dict:
    def exists(relative: str) -> str | None:
        return relative if site_path is not None and (site_path / relative).exists() else None
    return {"index": exists("index.html"), "gx_docs": exists(f"{site.GX_DOCS}/index.html"),
            "dbt_docs": exists(f"{site.DBT_DOCS}/index.html"),
            "personal_data_reads": exists("personal-data-reads.html")}


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;margin:24px;color:#1d2430;max-width:1100px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0 12px} th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7} td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#57606a} .PUBLISHED{color:#1a7f37;font-weight:700} .FAILED,.SUPERSEDED{color:#cf222e;font-weight:700}
.RUNNING,.LOADED{color:#9a6700;font-weight:700} figure{margin:0 0 18px} figcaption{font-weight:600;margin:0 0 4px}
.legend{margin:2px 0 0 70px;color:#57606a;font-size:12px} .key{margin-right:12px;white-space:nowrap}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
.empty{color:#57606a;font-style:italic}
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer data warehouse — overview</title>
<style>{{ css }}</style></head><body>
<h1>Customer data warehouse — overview</h1>
<p class="meta">Business dates in {{ o.zone }}; each date counted by its latest load; the last {{ max_dates }}
business dates. Computed from the audit trail at {{ o.generated_at }}.</p>
<p id="links">{% if o.links.index %}<a href="{{ o.links.index }}">Data-quality reports (every load)</a>{% endif %}
{% if o.links.gx_docs %} · <a href="{{ o.links.gx_docs }}" id="gx-docs">Great Expectations Data Docs</a>{% endif %}
{% if o.links.dbt_docs %} · <a href="{{ o.links.dbt_docs }}" id="dbt-docs">dbt docs of analytics</a>{% endif %}
{% if o.links.personal_data_reads %} · <a href="{{ o.links.personal_data_reads }}" id="personal-data-reads">Who read personal data</a>{% endif %}</p>

<h2>Trends per business date</h2>
{% if not o.dates %}<p class="empty">No load recorded yet.</p>{% else %}
<figure><figcaption>Rows loaded</figcaption>{{ rows_loaded }}</figure>
<figure><figcaption>Records set aside, by reason</figcaption>{% if o.set_aside %}{{ set_aside }}{% else %}<p class="empty">None set aside.</p>{% endif %}</figure>
<figure><figcaption>Expectations failed (latest validation of each date's load)</figcaption>{{ failed }}</figure>
<figure><figcaption>Publication delay after the end of the business date</figcaption>{% if o.delays %}{{ delays }}{% else %}<p class="empty">Nothing published yet.</p>{% endif %}</figure>
{% endif %}
<h2>Contact-centre KPIs (published, analytics.call_center_daily)</h2>
{% if not o.kpis.dates %}<p class="empty">Nothing published yet.</p>{% else %}
<figure><figcaption>Service level (answered within threshold, % of offered less short abandoned)</figcaption>{{ service_level }}</figure>
<figure><figcaption>Calls offered</figcaption>{{ offered }}</figure>
{% endif %}

<h2>Loads, newest first</h2>
{% if not o.loads %}<p class="empty">No load recorded yet.</p>{% else %}
<table id="loads"><tr><th>business date</th><th>load</th><th>status</th><th>rows loaded</th><th>set aside</th><th>pages</th></tr>
{% for date, group in o.loads|groupby('business_date')|reverse %}{% for l in group|sort(attribute='load_id', reverse=True) %}
<tr data-load="{{ l.load_id }}" data-date="{{ date }}">{% if loop.first %}<th rowspan="{{ group|length }}">{{ date }}</th>{% endif %}
<td class="n">{{ l.load_id }}</td><td><span class="{{ l.status }}">{{ l.status }}</span></td>
<td class="n">{{ l.rows_loaded }}</td><td class="n">{{ l.set_aside }}</td>
<td>{% if l.report %}<a class="report" href="{{ l.report }}">report</a>{% endif %}
{% if l.gx %} · <a class="gx" href="gx/load-{{ l.load_id }}">GX Data Docs</a>{% endif %}</td></tr>
{% endfor %}{% endfor %}</table>{% endif %}
</body></html>
"""

_GX_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GX Data Docs of load {{ load_id }}</title>
<style>{{ css }}</style></head><body>
<p class="meta"><a href="../">Overview</a></p>
<h1>GX Data Docs of load {{ load_id }} (business date {{ business_date }})</h1>
{% if not pages %}<p class="empty">No Data Docs rendered for this load.</p>{% else %}
<table id="gx-pages"><tr><th>suite</th><th>run name</th><th>validated at (UTC)</th><th>GX verdict</th><th>batch</th></tr>
{% for p in pages %}<tr data-suite="{{ p.suite }}" data-verdict="{{ p.verdict }}"><td>{{ p.suite }}</td><td>{{ p.run }}</td><td>{{ p.at }}</td>
<td class="{{ 'FAILED' if p.verdict == 'failed' else '' }}">{{ p.verdict }}</td><td><a href="../{{ p.href }}">{{ p.batch }}</a></td></tr>
{% endfor %}</table>{% endif %}
</body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render(o: dict) -> str:
    dates = o["dates"]
    figures = dict(
        rows_loaded=charts.bar_chart("chart-rows-loaded", "Rows loaded per business date", "rows", dates,
                                     {"rows loaded": o["rows_loaded"]}),
        set_aside=charts.bar_chart("chart-set-aside", "Records set aside per business date, by reason", "records",
                                   dates, o["set_aside"]),
        failed=charts.bar_chart("chart-expectations-failed", "Expectations failed per business date",
                                "expectations", dates, {"critical": o["failed"]["critical"],
                                                        "warning": o["failed"]["warning"]},
                                colors={"critical": "#cf222e", "warning": "#9a6700"}),
        delays=charts.line_chart("chart-publication-delay", "Publication delay per business date",
                                 o["delay_unit"], dates, o["delays"]),
        service_level=charts.line_chart("chart-service-level", "Service level per calendar date", "%",
                                        o["kpis"]["dates"], o["kpis"]["service_level"], color="#1a7f37"),
        offered=charts.bar_chart("chart-calls-offered", "Calls offered per calendar date", "calls",
                                 o["kpis"]["dates"], {"calls offered": o["kpis"]["offered"]}),
    )
    return _ENV.from_string(_PAGE).render(o=o, css=CSS, max_dates=CHART_DATES,
                                          **{name: Markup(svg) for name, svg in figures.items()})  # noqa: S704 (SVG built with escape())


def render_gx_pages(site_path: Path, load_id: int, business_date) -> str:
    """The GX validation pages of one load, every validation run of it, each with GX's verdict
    (from the stored result beside it in ``gx_results``)."""
    pages = []
    docs, results = site_path / site.GX_DOCS, site_path / site.GX_RESULTS
    for page in site.gx_pages_of_load(site_path, business_date, load_id):
        relative = page.relative_to(docs / "validations")
        try:
            stored = json.loads((results / relative).with_suffix(".json").read_text(encoding="utf-8"))
            verdict = "passed" if stored.get("success") else "failed"
        except (OSError, ValueError):
            verdict = "?"
        pages.append(dict(suite=".".join(relative.parts[:-3]), run=relative.parts[-3], at=relative.parts[-2],
                          batch=page.stem, verdict=verdict,
                          href="/".join(quote(part) for part in [site.GX_DOCS, *page.relative_to(docs).parts])))
    pages.sort(key=lambda p: (p["verdict"] != "failed", p["suite"]))
    pages.sort(key=lambda p: p["at"], reverse=True)  # newest run first; within a run, failures first
    return _ENV.from_string(_GX_PAGE).render(css=CSS, load_id=load_id, business_date=business_date, pages=pages)
