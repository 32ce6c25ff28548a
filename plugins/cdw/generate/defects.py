"""Known defects for testing the loader: record-level defects on extra records, file-level faults.

Every defective record is an EXTRA record that nothing references (so it cascades nowhere)
and carries exactly one defect, hence exactly one loader reason.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from cdw.landing import contract as c

from .calls import CALL_FIELDS
from .clock import Clock
from .population import luhn_digit
from .writer import Raw

MAX_SHARE = 0.01  # the loader's default set-aside threshold

# the file-level fault of each of the last 7 dates, in date order: (fault, entity)
FAULTS = [
    (c.FAULT_CHECKSUM, "calls"),
    (c.FAULT_ROW_COUNT, "transactions"),
    (c.FAULT_MISSING_COLUMNS, "transactions"),
    (c.FAULT_UNDECODABLE, "customers"),
    (c.FAULT_TRUNCATED, "transactions"),
    (c.FAULT_MISSING_MANIFEST, None),
    (c.FAULT_THRESHOLD, "calls"),
]


def _shift(ts: str, seconds: int) -> str:
    return (datetime.fromisoformat(ts) + timedelta(seconds=seconds)).isoformat()


def _secs(a: str, b: str) -> int:
    return int((datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds())


@dataclass
class Context:
    """What the defect makers of one date draw on."""

    rng: np.random.Generator
    day: date
    clock: Clock
    tx_base: object  # (kind) -> {column: text} of a valid ledger entry, kind "plain"/"branch"/"any"
    calls: list[dict]
    customers: list[list[str]]
    accounts: list[list[str]]
    agents: list[list[str]]
    serial: object  # itertools.count shared by all dates: unique extra ids
    used: set = field(default_factory=set)

    def n(self) -> int:
        return next(self.serial)

    # ---- ledger ------------------------------------------------------------------
    def tx(self, kind: str = "plain") -> dict:
        row = self.tx_base(kind)
        row["txn_id"] = f"T{self.day:%Y%m%d}9{self.n():08d}"
        return row

    # ---- calls -------------------------------------------------------------------
    def call(self, kind: str) -> dict:
        """A fresh copy of a valid call of the kind asked for, with a new call_id."""

        def ivr(r):
            return _secs(r["ivr_entry_ts"], r["ivr_exit_ts"])

        answered = [r for r in self.calls if r["outcome"] == "ANSWERED" and ivr(r) >= 5]
        pool = {
            "answered": answered,
            "abandoned": [r for r in self.calls if r["outcome"] == "ABANDONED"],
            "ivr_only": [r for r in self.calls if r["outcome"] == "IVR_ONLY" and ivr(r) >= 10],
        }[kind]
        if pool:
            rec = dict(pool[self.rng.integers(len(pool))])
        else:  # small day: derive it from an answered call
            rec = dict(answered[self.rng.integers(len(answered))] if answered else self.calls[0])
            for k in (
                "answer_ts",
                "agent_id",
                "hold_seconds",
                "wrap_up_seconds",
                "reason_code",
                "resolved",
                "csat_score",
            ):
                rec[k] = None
            rec["ivr_exit_ts"] = _shift(rec["ivr_entry_ts"], 30)
            if kind == "abandoned":
                rec["outcome"], rec["queue_entry_ts"] = "ABANDONED", rec["ivr_exit_ts"]
                rec["queue_exit_ts"] = rec["end_ts"] = _shift(rec["ivr_exit_ts"], 20)
            else:
                rec["outcome"], rec["queue_entry_ts"], rec["queue_exit_ts"] = "IVR_ONLY", None, None
                rec["end_ts"] = rec["ivr_exit_ts"]
        rec["call_id"] = f"CL{self.day:%Y%m%d}9{self.n():06d}"
        return rec

    def copy_of(self, rows: list, key) -> object:
        """An exact copy of a valid record not copied before (a duplicate id)."""
        for _ in range(50):
            i = int(self.rng.integers(len(rows)))
            if (key, i) not in self.used:
                break
        self.used.add((key, i))
        r = rows[i]
        return dict(r) if isinstance(r, dict) else list(r)


def _set(row: dict, **kv) -> dict:
    row.update(kv)
    return row


def _tx_bad_ts(x: Context) -> dict:
    row = x.tx()
    row["txn_ts"] = row["txn_ts"][:19].replace("T", " ")  # no offset, space separator
    return row


def _call_wrong_date(x: Context) -> dict:
    rec = x.call("answered")
    for k in ("ivr_entry_ts", "ivr_exit_ts", "queue_entry_ts", "queue_exit_ts", "answer_ts", "end_ts"):
        if rec[k]:
            rec[k] = _shift(rec[k], -86400)
    return rec


def _call_hold_too_long(x: Context) -> dict:
    rec = x.call("answered")
    rec["hold_seconds"] = _secs(rec["answer_ts"], rec["end_ts"]) + 30
    return rec


def _call_with_queue_name(x: Context) -> Raw:
    """A valid call plus a key the contract does not know (the writer keeps contract keys only)."""
    r = x.call("answered")
    return Raw(json.dumps({**{f: r.get(f) for f in CALL_FIELDS}, "queue_name": "RETAIL-VIP"}, ensure_ascii=False))


def _new_customer(x: Context) -> list[str]:
    row = list(x.customers[int(x.rng.integers(len(x.customers)))])
    row[0] = f"C9{x.n():08d}"
    return row


def _customer(x: Context, col: int, value: str) -> list[str]:
    row = _new_customer(x)
    row[col] = value
    return row


def _new_account(x: Context) -> list[str]:
    row = list(x.accounts[int(x.rng.integers(len(x.accounts)))])
    body = f"621799{x.n():09d}"
    row[0] = body + luhn_digit(body)
    row[5], row[6] = "", "ACTIVE"
    return row


def _account(x: Context, **kv) -> list[str]:
    row = _new_account(x)
    cols = [
        "account_id",
        "customer_id",
        "product",
        "currency",
        "open_date",
        "close_date",
        "status",
        "branch_id",
    ]
    for k, v in kv.items():
        row[cols.index(k)] = v
    return row


def _agent(x: Context, col: int, value: str) -> list[str]:
    row = list(x.agents[int(x.rng.integers(len(x.agents)))])
    row[0] = f"AG9{x.n():05d}"
    row[col] = value
    return row


# per file: (reason the loader must give, maker); the first ones cover every rule at small scale.
# Dates in them are years before the business date's (the same text for 2026 as ever): a record
# must break only its own rule, not also lie after the business date.
CATALOGUE = {
    "transactions": [
        ("unknown_reference:account_id", lambda x: _set(x.tx(), account_id=f"62179999{x.n():08d}")),
        ("not_positive:amount", lambda x: _set(x.tx(), amount="0.00")),
        (
            "wrong_business_date:txn_ts",
            lambda x: _set(x.tx(), txn_ts=x.clock.ts(-int(x.rng.integers(30, 3600)))),
        ),
        ("duplicate_id:txn_id", lambda x: x.tx_base("any")),
        ("malformed_record:line", lambda x: Raw(",".join(list(x.tx().values())[:-2]))),
        ("unknown_code:currency", lambda x: _set(x.tx(), currency="cny")),
        ("missing_value:account_id", lambda x: _set(x.tx(), account_id="")),
        ("bad_value:amount", lambda x: _set(x.tx(), amount="12.345")),
        ("missing_value:branch_id", lambda x: _set(x.tx("branch"), channel="BRANCH", branch_id="")),
        ("missing_value:reverses_txn_id", lambda x: _set(x.tx(), txn_type="REVERSAL", reverses_txn_id="")),
        ("unknown_code:channel", lambda x: _set(x.tx(), channel="KIOSK")),
        ("bad_value:txn_ts", _tx_bad_ts),
        ("unknown_code:direction", lambda x: _set(x.tx(), direction="CR")),
        ("bad_value:balance_after", lambda x: _set(x.tx(), balance_after="N/A")),
        ("bad_value:txn_id", lambda x: _set(x.tx(), txn_id=f"T{x.day:%Y%m%d}-{'X' * 30}-{x.n():06d}")),
    ],
    "calls": [
        ("out_of_range:csat_score", lambda x: _set(x.call("answered"), csat_score=6)),
        (
            "out_of_order:ivr_exit_ts",
            lambda x: (r := x.call("ivr_only")) and _set(r, ivr_exit_ts=_shift(r["ivr_entry_ts"], -3)),
        ),
        ("missing_value:agent_id", lambda x: _set(x.call("answered"), agent_id=None)),
        # JSON only: early, so that the smallest scale (4 defective calls) covers it
        ("unexpected_field:queue_name", _call_with_queue_name),
        ("unknown_reference:agent_id", lambda x: _set(x.call("answered"), agent_id="AG99999")),
        ("duplicate_id:call_id", lambda x: x.copy_of(x.calls, "calls")),
        ("malformed_record:line", lambda x: Raw(json.dumps(x.call("answered"), ensure_ascii=False)[:-15])),
        ("wrong_business_date:ivr_entry_ts", _call_wrong_date),
        ("missing_value:answer_ts", lambda x: _set(x.call("answered"), answer_ts=None, hold_seconds=0)),
        (
            "missing_value:queue_entry_ts",
            lambda x: _set(x.call("abandoned"), queue_entry_ts=None, queue_exit_ts=None),
        ),
        ("bad_value:priority", lambda x: (r := x.call("answered")) and _set(r, priority=str(r["priority"]))),
        ("bad_value:resolved", lambda x: _set(x.call("answered"), resolved="yes")),
        ("unknown_code:service", lambda x: _set(x.call("answered"), service="MORTGAGE")),
        (
            "out_of_order:queue_exit_ts",
            lambda x: (r := x.call("abandoned")) and _set(r, queue_exit_ts=_shift(r["queue_entry_ts"], -2)),
        ),
        (
            "out_of_order:answer_ts",
            lambda x: (r := x.call("answered")) and _set(r, answer_ts=_shift(r["queue_entry_ts"], -1)),
        ),
        (
            "out_of_order:end_ts",
            lambda x: (r := x.call("ivr_only")) and _set(r, end_ts=_shift(r["ivr_exit_ts"], -5)),
        ),
        ("out_of_range:hold_seconds", _call_hold_too_long),
        ("out_of_range:wrap_up_seconds", lambda x: _set(x.call("answered"), wrap_up_seconds=-5)),
        ("out_of_range:priority", lambda x: _set(x.call("answered"), priority=3)),
        ("bad_value:csat_score", lambda x: _set(x.call("answered"), csat_score=4.0)),
        ("malformed_record:line", lambda x: Raw("[1, 2, 3]")),
        (
            "bad_value:ivr_exit_ts",
            lambda x: (r := x.call("ivr_only")) and _set(r, ivr_exit_ts=r["ivr_exit_ts"][:19]),
        ),
        ("missing_value:call_id", lambda x: _set(x.call("answered"), call_id=None)),
        ("bad_value:hold_seconds", lambda x: _set(x.call("answered"), hold_seconds=True)),
        ("unknown_code:reason_code", lambda x: _set(x.call("answered"), reason_code="FRAUD")),
    ],
    "customers": [
        ("out_of_range:birth_date", lambda x: _customer(x, 3, (x.day + timedelta(days=30)).isoformat())),
        ("unknown_code:gender", lambda x: _customer(x, 2, "X")),
        ("duplicate_id:customer_id", lambda x: x.copy_of(x.customers, "customers")),
        ("malformed_record:line", lambda x: Raw(",".join(_new_customer(x)) + ",EXTRA")),
        ("missing_value:full_name", lambda x: _customer(x, 1, "")),
        ("bad_value:birth_date", lambda x: _customer(x, 3, f"{x.day.year - 41}-02-30")),
        ("unknown_code:segment", lambda x: _customer(x, 8, "VIP")),
        ("unknown_code:kyc_status", lambda x: _customer(x, 10, "verified")),
        (
            "out_of_range:birth_date",
            lambda x: _customer(x, 3, x.day.replace(year=x.day.year - 125, day=1).isoformat()),
        ),
        ("bad_value:join_date", lambda x: _customer(x, 9, f"{x.day.year - 7}/05/12")),
        ("missing_value:city", lambda x: _customer(x, 5, "")),
        ("unknown_code:education", lambda x: _customer(x, 4, "MASTER")),
        ("bad_value:customer_id", lambda x: _customer(x, 0, f"C{'0' * 31}{x.n():04d}")),
    ],
    "accounts": [
        (
            "out_of_order:close_date",
            lambda x: _account(
                x, open_date=f"{x.day.year - 2}-05-01", close_date=f"{x.day.year - 2}-04-01", status="CLOSED"
            ),
        ),
        ("unknown_reference:customer_id", lambda x: _account(x, customer_id=f"C8{x.n():08d}")),
        ("unknown_code:product", lambda x: _account(x, product="MORTGAGE")),
        ("duplicate_id:account_id", lambda x: x.copy_of(x.accounts, "accounts")),
        ("malformed_record:line", lambda x: Raw(",".join(_new_account(x)[:-1]))),
        ("missing_value:branch_id", lambda x: _account(x, branch_id="")),
        ("unknown_code:currency", lambda x: _account(x, currency="RMB")),
        ("bad_value:open_date", lambda x: _account(x, open_date=f"{x.day.year - 2}0501")),
        ("unknown_code:status", lambda x: _account(x, status="OPEN")),
    ],
    "agents": [
        ("duplicate_id:agent_id", lambda x: x.copy_of(x.agents, "agents")),
        ("missing_value:team", lambda x: _agent(x, 2, "")),
        ("bad_value:hire_date", lambda x: _agent(x, 4, f"{x.day.year - 3}-13-01")),
        ("malformed_record:line", lambda x: Raw(",".join(_agent(x, 3, "Shanghai")[:-1]))),
    ],
}

# defects used in bulk to push the calls file over the threshold (one reason each)
THRESHOLD_CALLS = [
    "out_of_range:csat_score", "unknown_code:service", "bad_value:priority", "missing_value:agent_id",
    "unknown_reference:agent_id", "out_of_range:wrap_up_seconds",
]  # fmt: skip


def capacity(clean_rows: int) -> int:
    """Most defective records a file of ``clean_rows`` good records takes and still loads."""
    return clean_rows // 99  # k / (clean + k) <= 1 %


def quota(entity: str, n_early: int) -> int:
    """Defects per early date so that the whole catalogue is spread over the early dates."""
    return max(1, math.ceil(len(CATALOGUE[entity]) / n_early))


def make(x: Context, entity: str, picks: list[int]) -> tuple[list, Counter]:
    """The defective records of catalogue entries ``picks`` and the reasons they will get."""
    records, counts = [], Counter()
    for i in picks:
        reason, maker = CATALOGUE[entity][i]
        records.append(maker(x))
        counts[reason] += 1
    return records, counts
