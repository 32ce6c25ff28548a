"""Who read personal data in clear: the log auditors read, for ``cdw personal-data-reads`` and the site.

A person reads personal data in clear only through the functions of ``sql/personal_data.sql``
(``restricted.read_customer``, ``read_account_statement``, ``read_set_aside_record``); each
call appends a row to ``audit.personal_data_reads`` (who, when, what, why). This module reads
that log; it shows the ids a reader asked for, never the data they got back.

``read_id`` comes from a sequence, which a rollback does not give back: a read whose
transaction did not commit (the caller rolled back after seeing the rows, or the server
crashed) leaves a gap. :func:`missing_read_ids` names the gaps, for an auditor to ask about.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, select_autoescape

from cdw import warehouse

TABLE = "audit.personal_data_reads"
PAGE = "personal-data-reads.html"
COLUMNS = ("read_id", "read_at", "reader", "reader_groups", "client_addr", "application_name", "read_function",
           "relation", "personal_columns", "subject", "rows_returned", "reason", "case_reference")


def reads(conn, since: date | None = None) -> list[dict]:
    """The log's rows, oldest first; ``since``: from that date's midnight in the bank's zone. ``read_at``
    is given in the bank's zone. A login that may not read ``audit`` gets the server's refusal."""
    zone = warehouse.bank_timezone(conn)
    cur = conn.execute(
        "select read_id, read_at, reader, reader_groups, host(client_addr) as client_addr, application_name,"
        " read_function, relation, personal_columns, subject, rows_returned, reason, case_reference"
        " from audit.personal_data_reads"
        " where %(since)s::date is null or read_at >= (%(since)s::date)::timestamp at time zone %(zone)s"
        " order by read_id", {"since": since, "zone": zone})
    names = [d.name for d in cur.description]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    for row in rows:
        row["read_at"] = row["read_at"].astimezone(ZoneInfo(zone))
    return rows


def missing_read_ids(rows: list[dict]) -> list[int]:
    """``read_id``s absent between the first and the last of ``rows``: reads that did not commit."""
    ids = sorted(r["read_id"] for r in rows)
    present = set(ids)
    return [i for i in range(ids[0], ids[-1] + 1) if i not in present] if ids else []


def subject_text(subject: dict) -> str:
    """``customer_id=C00042``: the ids a read asked for, in the order the function takes them."""
    return " ".join(f"{key}={value}" for key, value in subject.items())


def text_line(row: dict) -> str:
    """One line per read (a reason's line breaks folded), for a terminal or a grep."""
    groups = ",".join(row["reader_groups"]) or "no cdw group"
    case = f"; case {row['case_reference']}" if row["case_reference"] else ""
    return (f"{row['read_at'].isoformat()} read {row['read_id']} by {row['reader']} ({groups})"
            f" {row['read_function']} {subject_text(row['subject'])}: {row['rows_returned']} row(s)"
            f"; why: {' '.join(row['reason'].split())}{case}")


def summary(rows: list[dict], since: date | None) -> str:
    span = f" since {since}" if since else ""
    missing = missing_read_ids(rows)
    gap = (f"; read ids {', '.join(map(str, missing))} missing: reads whose transaction did not commit"
           if missing else "")
    return f"{len(rows)} personal-data read(s){span}{gap}"


def as_json(rows: list[dict]) -> str:
    """The rows as one line of JSON (timestamps ISO 8601 with the bank's offset)."""
    def default(value):
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value)
    return json.dumps(rows, default=default, ensure_ascii=False)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Who read personal data</title><style>{{ css }}</style></head>
<body>
<p class="meta"><a href="index.html">All loads</a></p>
<h1>Who read personal data in clear</h1>
<p>Every call of a reading function (<code>restricted.read_customer</code>, <code>read_account_statement</code>,
<code>read_set_aside_record</code>), from <code>audit.personal_data_reads</code>: who, when, the ids asked for
and why. The data read is not shown.</p>
{% if missing %}<p class="reason" id="missing">Read ids {{ missing|join(', ') }} are missing: reads whose
transaction did not commit (rolled back after the rows were seen, or a server crash).</p>{% endif %}
{% if not rows %}<p id="no-reads">No read recorded.</p>{% else %}
<table id="reads"><tr><th>read</th><th>when</th><th>who</th><th>groups</th><th>function</th><th>asked for</th>
<th>rows</th><th>why</th><th>case</th></tr>
{% for r in rows %}<tr data-read="{{ r.read_id }}"><td class="n">{{ r.read_id }}</td><td>{{ r.read_at.isoformat() }}</td>
<td>{{ r.reader }}</td><td>{{ r.reader_groups|join(', ') }}</td><td><code>{{ r.read_function }}</code></td>
<td><code>{{ subject_text(r.subject) }}</code></td><td class="n">{{ r.rows_returned }}</td><td>{{ r.reason }}</td>
<td>{{ r.case_reference or '' }}</td></tr>
{% endfor %}</table>{% endif %}
<p class="meta">{{ summary }}. Generated {{ generated_at }}.</p></body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render_page(rows: list[dict], css: str = "", generated_at: datetime | None = None) -> str:
    """A self-contained HTML page of the log (for the site, and beside the reports' index)."""
    return _ENV.from_string(_PAGE).render(rows=rows, missing=missing_read_ids(rows), css=css,
                                          subject_text=subject_text, summary=summary(rows, None),
                                          generated_at=generated_at or datetime.now(UTC).replace(microsecond=0))


def write_page(conn, out_dir: Path, css: str = "") -> Path:
    """``out_dir/personal-data-reads.html`` from the whole log."""
    page = Path(out_dir) / PAGE
    page.write_text(render_page(reads(conn), css), encoding="utf-8")
    return page
