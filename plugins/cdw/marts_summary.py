"""A few lines summarising the management marts (dbt_project/models/marts/management).

:func:`summarise` reads the published marts and returns short human-readable lines
(value quadrants, dormant accounts, complaints, outliers, churn candidates, campaign
conversion, understaffed intervals) for the main command to print after a build.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from cdw.warehouse import warehouse_url


def _pct(part, whole) -> str:
    return "n/a" if not whole else f"{100.0 * float(part) / float(whole):.1f} %"


def summarise(url: str | None = None, schema: str = "analytics") -> list[str]:
    """Short lines on the management marts in ``schema`` of the warehouse at ``url``.

    A mart that is missing (not built yet) gives a line saying so instead of failing.
    """
    url = url or warehouse_url()
    lines: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:

        def query(text: str):
            try:
                return conn.execute(sql.SQL(text).format(s=sql.Identifier(schema))).fetchall()
            except psycopg.errors.UndefinedTable:
                return None

        rows = query("select value_quadrant, count(*), max(as_of_date) from {s}.customer_360 group by 1")
        if rows is None:
            return [f"management marts: not built in schema {schema}"]
        counts = {q: n for q, n, _ in rows}
        as_of = max((d for _, _, d in rows if d is not None), default=None)
        lines.append(
            f"customers as of {as_of}: "
            + ", ".join(f"{q} {counts.get(q, 0)}" for q in ("KEY", "DEVELOP", "MAINTAIN", "REVIEW"))
        )
        ((mismatch, prospects),) = query(
            "select count(*) filter (where is_segment_mismatch), count(*) filter (where is_wealth_prospect)"
            " from {s}.customer_360"
        )
        lines.append(f"segment/tier mismatches {mismatch}, wealth-management prospects {prospects}")
        activity = query(
            "select calendar_date, open_accounts, dormant_accounts, effective_customers"
            " from {s}.customer_activity_daily order by calendar_date desc limit 1"
        )
        if activity:
            day, open_accounts, dormant, effective = activity[0]
            lines.append(
                f"{day}: dormant accounts {dormant} of {open_accounts} open ({_pct(dormant, open_accounts)}), "
                f"effective customers {effective}"
            )
        ((complaints, repeats, resolved),) = query(
            "select coalesce(sum(complaints), 0), coalesce(sum(repeat_complaints), 0),"
            " coalesce(sum(resolved_first_contact), 0) from {s}.complaints_daily"
        )
        lines.append(
            f"complaints {complaints} ({repeats} repeat, {_pct(resolved, complaints)} resolved at first contact)"
        )
        ((outliers, accounts),) = query(
            "select count(*), count(distinct account_id) from {s}.unusual_account_activity"
        )
        lines.append(f"unusual account-days {outliers} on {accounts} accounts")
        ((churn,),) = query("select count(*) from {s}.churn_risk")
        lines.append(f"churn-risk customers {churn}")
        ((attempted, connected, converted),) = query(
            "select coalesce(sum(attempted), 0), coalesce(sum(connected), 0), coalesce(sum(converted), 0)"
            " from {s}.campaign_daily"
        )
        lines.append(
            f"campaign calls {attempted}: connected {_pct(connected, attempted)}, "
            f"converted {converted} ({_pct(converted, connected)} of connected)"
        )
        ((intervals, under, over),) = query(
            "select count(*), count(*) filter (where staffing_gap < 0), count(*) filter (where staffing_gap > 0)"
            " from {s}.call_center_interval"
        )
        lines.append(f"call-centre intervals {intervals}: understaffed {under}, overstaffed {over}")
    return lines
