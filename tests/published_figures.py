"""Published figures worked out independently of the warehouse: straight from the landing files,
in Python, by the definitions of shared/contracts/warehouse.md.

Tests compare what the pipeline published with these; nothing here uses the project's own
SQL, dbt models or loader, so a fault there cannot cancel out.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ANSWER_THRESHOLD_SECONDS = 20
SHORT_ABANDON_SECONDS = 5


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8-sig")


def _file(drop: Path, base: str) -> Path:
    return next(p for p in (drop / base, drop / f"{base}.gz") if p.exists())


def ledger_entries(drops: list[Path]) -> list[dict]:
    rows = []
    for drop in drops:
        rows += list(csv.DictReader(io.StringIO(_text(_file(drop, "transactions.csv")))))
    return rows


def calls(drops: list[Path]) -> list[dict]:
    out = []
    for drop in drops:
        out += [json.loads(line) for line in _text(_file(drop, "calls.jsonl")).splitlines() if line.strip()]
    return out


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def ledger_by_date(drops: list[Path], zone: str) -> dict[date, tuple[int, Decimal]]:
    """(ledger entries, sum of amount) per calendar date of txn_ts in the bank's zone."""
    tz = ZoneInfo(zone)
    out: dict[date, list] = defaultdict(lambda: [0, Decimal(0)])
    for row in ledger_entries(drops):
        day = _ts(row["txn_ts"]).astimezone(tz).date()
        out[day][0] += 1
        out[day][1] += Decimal(row["amount"])
    return {d: (n, total) for d, (n, total) in out.items()}


def call_center_daily(drops: list[Path], zone: str) -> dict[tuple[date, str], dict]:
    """warehouse.md's call_center_daily per (calendar date of ivr_entry_ts in the zone, service)."""
    tz = ZoneInfo(zone)
    groups: dict[tuple[date, str], list[dict]] = defaultdict(list)
    for call in calls(drops):
        if call["direction"] == "INBOUND":
            groups[(_ts(call["ivr_entry_ts"]).astimezone(tz).date(), call["service"])].append(call)
    return {key: _kpis(members) for key, members in groups.items()}


def _wait(call: dict) -> float:
    queued = _ts(call["queue_entry_ts"])
    return 0.0 if queued is None else (_ts(call["answer_ts"]) - queued).total_seconds()


def _ratio(numerator, denominator):
    return None if denominator == 0 else Decimal(numerator) / Decimal(denominator)


def _mean(values: list[float]):
    return None if not values else sum(values) / len(values)


def _kpis(members: list[dict]) -> dict:
    offered = [c for c in members if c["queue_entry_ts"] or c["outcome"] == "ANSWERED"]
    answered = [c for c in offered if c["outcome"] == "ANSWERED"]
    abandoned = [c for c in offered if c["outcome"] == "ABANDONED"]
    short = [c for c in abandoned if c["queue_exit_ts"] and
             (_ts(c["queue_exit_ts"]) - _ts(c["queue_entry_ts"])).total_seconds() < SHORT_ABANDON_SECONDS]
    within = [c for c in answered if _wait(c) <= ANSWER_THRESHOLD_SECONDS]
    marked = [c for c in answered if c.get("resolved") is not None]
    rated = [c["csat_score"] for c in members if c.get("csat_score") is not None]
    handle = [(_ts(c["end_ts"]) - _ts(c["answer_ts"])).total_seconds() + (c.get("wrap_up_seconds") or 0)
              for c in answered]
    return {
        "offered": len(offered),
        "answered": len(answered),
        "abandoned": len(abandoned),
        "short_abandoned": len(short),
        "ivr_only": sum(1 for c in members if c["outcome"] == "IVR_ONLY"),
        "answered_within_threshold": len(within),
        "service_level": _ratio(len(within), len(offered) - len(short)),
        "abandon_rate": _ratio(len(abandoned) - len(short), len(offered) - len(short)),
        "asa_seconds": _mean([_wait(c) for c in answered]),
        "aht_seconds": _mean(handle),
        "fcr_rate": _ratio(sum(1 for c in marked if c["resolved"]), len(marked)),
        "csat_avg": _mean(rated),
    }


def half_hours_in_local_day(day: date, zone: str) -> int:
    """How many 30-minute intervals the local calendar day has: 48, 46 (spring forward), 50 (fall back)."""
    tz = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return int((end.astimezone(ZoneInfo("UTC")) - start.astimezone(ZoneInfo("UTC"))).total_seconds() // 1800)


def assert_call_center_daily(published: dict[tuple[date, str], dict], expected: dict[tuple[date, str], dict]):
    """Counts exactly, ratios and means to 1e-6."""
    assert set(published) == set(expected), (sorted(set(published) ^ set(expected)))
    for key, want in expected.items():
        got = published[key]
        for column, value in want.items():
            if value is None or got[column] is None:
                assert got[column] is None and value is None, (key, column, got[column], value)
            elif isinstance(value, int):
                assert got[column] == value, (key, column, got[column], value)
            else:
                assert abs(float(got[column]) - float(value)) < 1e-6, (key, column, got[column], value)


def published_call_center_daily(conn) -> dict[tuple[date, str], dict]:
    columns = ["offered", "answered", "abandoned", "short_abandoned", "ivr_only", "answered_within_threshold",
               "service_level", "abandon_rate", "asa_seconds", "aht_seconds", "fcr_rate", "csat_avg"]
    rows = conn.execute(f"select calendar_date, service, {', '.join(columns)} from analytics.call_center_daily")
    return {(r[0], r[1]): dict(zip(columns, r[2:], strict=True)) for r in rows.fetchall()}


def published_ledger_by_date(conn) -> dict[date, tuple[int, Decimal]]:
    """(ledger entries, sum of amount) per calendar date as published in analytics."""
    return {d: (n, total) for d, n, total in conn.execute(
        "select d.calendar_date, count(*), sum(f.amount) from analytics.fct_transactions f"
        " join analytics.dim_date d using (date_key) group by 1").fetchall()}
