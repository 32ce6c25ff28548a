"""Realistic landing drops of the bank's source systems (``cdw generate``).

One drop per business date, laid out as ``shared/contracts/landing.md`` says; with
``defects=True`` a known mix of bad records and file faults, and ``_expected.json``
with what the loader must make of each date.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from cdw.landing import contract as c

from . import defects as dfx
from . import reference as ref
from .calls import CALL_FIELDS, call_volume_factor, day_calls
from .clock import Clock, sub_minute_offset
from .ledger import post_day, volume_factor
from .population import ACCOUNT_COLUMNS, AGENT_COLUMNS, CUSTOMER_COLUMNS, build_bank, evolve
from .rows import TXN_COLUMNS, ledger_chunks, ledger_row
from .writer import Raw, sha256_of, write_csv, write_jsonl, write_manifest

__all__ = ["GenerateResult", "generate_landing"]

MAX_DAYS = 3660
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
# 4-digit years (ids, ISO text) and room for customers born up to ~100 years before the first date
FIRST_DATE, LAST_DATE = date(1000, 1, 1), date(9998, 12, 31)
DEFECT_DATES_MIN = 8  # the last 7 dates carry one file fault each, at least one date before them
_OWN_FILES = [
    "transactions.csv", "transactions.csv.gz", "calls.jsonl", "calls.jsonl.gz", "customers.csv",
    "customers.csv.gz", "accounts.csv", "accounts.csv.gz", "agents.csv", "agents.csv.gz",
    c.MANIFEST_NAME, c.MANIFEST_NAME + ".tmp",
]  # fmt: skip
_UNDECODABLE_MARK = "\ue000"  # replaced by invalid UTF-8 bytes after writing


@dataclass
class GenerateResult:
    summary: str
    dates: list[date]
    expected: dict = field(default_factory=dict)


def closed_days_of(items: Iterable) -> tuple[frozenset[date], frozenset[int]]:
    """(dates, weekday numbers 0=MON) of the contact centre's closed days, from dates and MON..SUN."""
    dates, weekdays = set(), set()
    for item in items:
        if isinstance(item, date) and not isinstance(item, datetime):
            dates.add(item)
        elif isinstance(item, str) and item.upper() in WEEKDAYS:
            weekdays.add(WEEKDAYS.index(item.upper()))
        else:
            raise ValueError(f"closed day {item!r} is neither a date nor a weekday MON..SUN")
    return frozenset(dates), frozenset(weekdays)


def _check_args(out, start, end, customers, agents, tpd, cpd, timezone, defects, closed) -> ZoneInfo:
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ValueError(f"{name} must be a date, got {value!r}")
        if not FIRST_DATE <= value <= LAST_DATE:
            raise ValueError(
                f"{name} {value} is outside the dates the generator writes, {FIRST_DATE}..{LAST_DATE}"
            )
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} business dates at a time, asked for {days}")
    for name, value, least in (
        ("customers", customers, 1),
        ("agents", agents, 1),
        ("transactions_per_day", tpd, 0),
        ("calls_per_day", cpd, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be a whole number of at least {least}, got {value!r}")
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {timezone!r} (an IANA name such as Asia/Shanghai)") from None
    for k in range(days + 1):  # local mean time (before ~1900-1970) has offsets with seconds
        off = sub_minute_offset(tz, start + timedelta(days=k))
        if off is not None:
            raise ValueError(
                f"{timezone} has a UTC offset of {off} on {start + timedelta(days=k)} (local mean time), "
                "which timestamps with +hh:mm offsets cannot express; choose later dates"
            )
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"output {out} exists and is not a directory")
    if defects:
        if days < DEFECT_DATES_MIN:
            raise ValueError(
                f"defects need at least {DEFECT_DATES_MIN} business dates (7 file faults on the last 7 "
                f"dates and record defects before them), got {days}"
            )
        if closed_on := [d for d in (start + timedelta(days=k) for k in range(days)) if _closed(d, closed)]:
            raise ValueError(
                f"defects need calls on every date (call defects, a calls file fault), but the contact "
                f"centre is closed on {closed_on[0]}"
                + (f" and {len(closed_on) - 1} more" if len(closed_on) > 1 else "")
            )
        if tpd < 1500 or cpd < 200 or customers < 200:
            raise ValueError(
                "defects need transactions_per_day >= 1500, calls_per_day >= 200 and customers >= 200 "
                "so that every defect fits under the 1 % set-aside threshold"
            )
    return tz


def _closed(day: date, closed: tuple[frozenset[date], frozenset[int]]) -> bool:
    return day in closed[0] or day.weekday() in closed[1]


def _spread(records: list, extras: list, rng: np.random.Generator) -> list:
    """Extras at random places; exact copies (duplicate ids) after everything else."""
    out = list(records)
    tail = []
    for rec in extras:
        if getattr(rec, "_dup", False):
            tail.append(rec)
        else:
            out.insert(int(rng.integers(0, len(out) + 1)), rec)
    return out + tail


class _Dup(list):
    _dup = True


class _DupDict(dict):
    _dup = True


def _mark_dups(entity: str, picks: list[int], records: list) -> list:
    out = []
    for i, rec in zip(picks, records, strict=True):
        if dfx.CATALOGUE[entity][i][0].startswith("duplicate_id"):
            rec = _DupDict(rec) if isinstance(rec, dict) else _Dup(rec)
        out.append(rec)
    return out


def _counts(rows: int, reasons: Counter) -> dict:
    bad = sum(reasons.values())
    return {
        "rows_read": rows,
        "rows_loaded": rows - bad,
        "rows_quarantined": bad,
        "reasons": dict(sorted(reasons.items())),
    }


def generate_landing(
    out: Path,
    start: date,
    end: date,
    *,
    seed: int = 42,
    customers: int = 2000,
    agents: int = 60,
    transactions_per_day: int = 6000,
    calls_per_day: int = 900,
    timezone: str = c.DEFAULT_TIMEZONE,
    gzip: bool = True,
    defects: bool = False,
    closed_days: Iterable = (),
    progress=lambda msg: None,
) -> GenerateResult:
    """Write one drop per business date from ``start`` to ``end`` into ``out``.

    ``closed_days``: dates and weekday names (MON..SUN) on which the contact centre is closed:
    the calls file is empty, the ledger and master data are as on any day."""
    closed = closed_days_of(closed_days)
    tz = _check_args(
        out, start, end, customers, agents, transactions_per_day, calls_per_day, timezone, defects, closed
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dates = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    n_dates = len(dates)
    rng = np.random.default_rng(seed)
    drng = np.random.default_rng([seed, 7])  # defects draw from their own stream

    progress(f"building the bank: {customers} customers, {agents} agents")
    bank = build_bank(rng, start, customers, agents)

    n_early = n_dates - 7 if defects else n_dates
    faults = {n_early + j: f for j, f in enumerate(dfx.FAULTS)} if defects else {}
    gb18030_index = n_early - 1 if defects else None
    cursor = Counter()
    serial = itertools.count(1)
    covered: set[str] = set()
    expected = {
        "generator": {
            "seed": seed,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "customers": customers,
            "agents": agents,
            "transactions_per_day": transactions_per_day,
            "calls_per_day": calls_per_day,
            "timezone": timezone,
            "gzip": gzip,
            "defects": defects,
        },
        "dates": {},
    }
    if closed[0] or closed[1]:
        expected["generator"]["closed_days"] = [d.isoformat() for d in sorted(closed[0])] + [
            WEEKDAYS[w] for w in sorted(closed[1])
        ]
    total_tx = total_calls = 0

    for k, day in enumerate(dates):
        fault, fault_entity = faults.get(k, (None, None))
        evolve(bank, rng, day, roster_may_change=not defects or k < n_early - 1)
        clock = Clock(tz, day)
        # a volume of 0 is a day without entries or calls; a date the zone skips has no instant
        n_tx = max(1, round(transactions_per_day * volume_factor(day))) if transactions_per_day else 0
        n_calls = max(1, round(calls_per_day * call_volume_factor(day))) if calls_per_day else 0
        if clock.length == 0:
            n_tx = n_calls = 0
        ledger, _ = post_day(bank, rng, day, n_tx, clock)
        roster = bank.roster(day)
        calls = day_calls(bank, rng, day, n_calls, roster, clock)
        if _closed(day, closed):  # drawn all the same: the other days stay as they would be
            calls = []
        total_tx += len(ledger)
        total_calls += len(calls)

        folder = out / day.isoformat()
        folder.mkdir(exist_ok=True)
        for name in _OWN_FILES:
            (folder / name).unlink(missing_ok=True)

        snapshots = {
            "customers": (CUSTOMER_COLUMNS, bank.customer_rows()),
            "accounts": (ACCOUNT_COLUMNS, bank.account_rows()),
        }
        if day.weekday() < 5 or k == 0:  # no roster changes at weekends: Friday's snapshot stands
            snapshots["agents"] = (AGENT_COLUMNS, [a.row() for a in roster])

        # ---- record-level defects of this date -----------------------------------------
        extras: dict[str, list] = {}
        reasons: dict[str, Counter] = {}
        if defects and (k < n_early or fault == c.FAULT_THRESHOLD):
            sample_idx = {
                "plain": np.flatnonzero((ledger.channel != ref.BRANCH) & (ledger.reverses < 0)),
                "branch": np.flatnonzero((ledger.channel == ref.BRANCH) & (ledger.reverses < 0)),
                "any": np.arange(len(ledger)),
            }

            def tx_base(kind, _idx=sample_idx, _ledger=ledger, _clock=clock, _day=day):
                pool = _idx[kind] if len(_idx[kind]) else _idx["plain"]
                return ledger_row(_ledger, bank, _clock, _day, int(pool[drng.integers(len(pool))]))

            ctx = dfx.Context(
                rng=drng,
                day=day,
                clock=clock,
                tx_base=tx_base,
                calls=calls,
                customers=snapshots["customers"][1],
                accounts=snapshots["accounts"][1],
                agents=snapshots["agents"][1] if "agents" in snapshots else [],
                serial=serial,
            )
            clean = {"transactions": len(ledger), "calls": len(calls)}
            clean.update({e: len(rows) for e, (_, rows) in snapshots.items()})
            for entity, catalogue in dfx.CATALOGUE.items():
                if entity not in clean:
                    continue
                if fault == c.FAULT_THRESHOLD:
                    if entity != fault_entity:
                        continue
                    bulk = [i for i, (r, _) in enumerate(catalogue) if r in dfx.THRESHOLD_CALLS]
                    n_bad = max(3, clean[entity] // 20)
                    picks = [bulk[j % len(bulk)] for j in range(n_bad)]
                else:
                    target = min(len(catalogue), math.ceil(len(catalogue) * (k + 1) / n_early))
                    take = min(dfx.capacity(clean[entity]), max(0, target - cursor[entity]))
                    picks = [(cursor[entity] + j) % len(catalogue) for j in range(take)]
                    cursor[entity] += take
                if picks:
                    recs, cnt = dfx.make(ctx, entity, picks)
                    extras[entity] = _mark_dups(entity, picks, recs)
                    reasons[entity] = cnt
                    if fault != c.FAULT_THRESHOLD:
                        covered.update(r.split(":")[0] for r in cnt)

        # ---- write the files -------------------------------------------------------------
        manifest_files: dict[str, dict] = {}
        file_counts: dict[str, dict] = {}
        fault_file = None

        def register(
            name,
            rows,
            *,
            encoding=None,
            entity,
            _mf=manifest_files,
            _fc=file_counts,
            _folder=folder,
            _r=reasons,
        ):
            entry = {"rows": rows, "sha256": sha256_of(_folder / name)}
            if encoding:
                entry["encoding"] = encoding
            _mf[name] = entry
            _fc[name] = _counts(rows, _r.get(entity, Counter()))

        for entity, (header, rows) in snapshots.items():
            name = f"{entity}.csv"
            encoding = "gb18030" if entity == "customers" and k == gb18030_index else None
            rows = _spread(rows, extras.get(entity, []), drng)
            if fault == c.FAULT_UNDECODABLE and entity == fault_entity:
                rows = [list(r) for r in rows]
                victim = rows[int(drng.integers(len(rows)))]
                victim[1] = victim[1][:1] + _UNDECODABLE_MARK + victim[1][1:]
            n = write_csv(folder / name, header, [rows], encoding=encoding or "utf-8")
            if fault == c.FAULT_UNDECODABLE and entity == fault_entity:
                data = (folder / name).read_bytes().replace(_UNDECODABLE_MARK.encode(), b"\xff\xfe")
                (folder / name).write_bytes(data)
                fault_file = name
            register(name, n, encoding=encoding, entity=entity)

        tx_gzip = gzip or fault == c.FAULT_TRUNCATED
        tx_name = "transactions.csv.gz" if tx_gzip else "transactions.csv"
        drop = "currency" if fault == c.FAULT_MISSING_COLUMNS else None
        header = [col for col in TXN_COLUMNS if col != drop]
        tx_extra = [
            r if isinstance(r, Raw) else [r[col] for col in TXN_COLUMNS]
            for r in extras.get("transactions", [])
        ]
        chunks = itertools.chain(
            ledger_chunks(ledger, bank, clock, day, drop=drop), [tx_extra] if tx_extra else []
        )
        n = write_csv(folder / tx_name, header, chunks, gzip=tx_gzip)
        if fault == c.FAULT_TRUNCATED:
            data = (folder / tx_name).read_bytes()
            (folder / tx_name).write_bytes(data[: len(data) // 2])  # cut inside the deflate stream
        register(tx_name, n, entity="transactions")
        if fault in (c.FAULT_ROW_COUNT, c.FAULT_MISSING_COLUMNS, c.FAULT_TRUNCATED):
            fault_file = tx_name
        if fault == c.FAULT_ROW_COUNT:
            manifest_files[tx_name]["rows"] = n - 1  # counted before the last entry was posted

        calls_name = "calls.jsonl.gz" if gzip else "calls.jsonl"
        records = _spread(calls, extras.get("calls", []), drng)
        records = [r if isinstance(r, Raw) else {f: r.get(f) for f in CALL_FIELDS} for r in records]
        n = write_jsonl(folder / calls_name, records, gzip=gzip)
        register(calls_name, n, entity="calls")
        if fault == c.FAULT_CHECKSUM:
            real = manifest_files[calls_name]["sha256"]
            manifest_files[calls_name]["sha256"] = hashlib.sha256(("corrupted " + real).encode()).hexdigest()
        if fault in (c.FAULT_CHECKSUM, c.FAULT_THRESHOLD):
            fault_file = calls_name

        if fault != c.FAULT_MISSING_MANIFEST:
            order = [f for f in ("transactions", "calls", "customers", "accounts", "agents")]
            ordered = {
                name: manifest_files[name] for e in order for name in manifest_files if name.startswith(e)
            }
            write_manifest(
                folder,
                {
                    "business_date": day.isoformat(),
                    "timezone": timezone,
                    "generated_at": clock.at_wall(day + timedelta(days=1), time(1, 10)),  # next morning
                    "files": ordered,
                },
            )
        else:
            fault_file = c.MANIFEST_NAME

        if fault is None:
            expected["dates"][day.isoformat()] = {"status": "LOADED", "files": file_counts}
        else:
            entry = {"status": "FAILED", "fault": {"file": fault_file, "code": fault}}
            if fault == c.FAULT_THRESHOLD:
                entry["files"] = {fault_file: file_counts[fault_file]}
            expected["dates"][day.isoformat()] = entry
        bad = sum(sum(r.values()) for r in reasons.values())
        progress(
            f"{day}: {len(ledger)} ledger entries, {len(calls)} calls, {len(bank.customers)} customers, "
            f"{len(bank.acc_id)} accounts"
            + (f", {bad} defective records" if bad else "")
            + (f", fault {fault}" if fault else "")
        )

    if defects:
        missing = sorted(set(c.RULES) - covered)
        if missing:
            raise ValueError(
                f"scale too small to place a defect of every rule (missing: {', '.join(missing)})"
            )
        (out / "_expected.json").write_text(
            json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    else:
        (out / "_expected.json").unlink(missing_ok=True)
    summary = (
        f"wrote {n_dates} drops {start}..{end} to {out}: {total_tx} ledger entries, {total_calls} calls"
        + (f"; defects on {n_early} dates, file faults on the last 7" if defects else "")
    )
    return GenerateResult(summary=summary, dates=dates, expected=expected)
