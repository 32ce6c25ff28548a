"""Hand-made landing drops for tests: a small valid drop, then one change at a time."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from datetime import date
from pathlib import Path

from cdw.landing import contract

DAY = date(2026, 3, 2)


def valid_records(day: date = DAY) -> dict[str, list[dict]]:
    """A drop in which every record is valid (10 ledger entries, 4 calls)."""
    d = day.isoformat()
    customers = [
        dict(customer_id=f"C{i}", full_name=name, gender=g, birth_date="1980-05-01", education="BACHELOR",
             city=city, phone=f"+86138000000{i:02d}", email=None, segment="MASS", join_date="2020-01-01",
             kyc_status="VERIFIED")
        for i, (name, g, city) in enumerate([("王伟", "M", "上海"), ("李娜", "F", "北京"), ("张敏", "F", "成都")], 1)
    ]
    accounts = [
        dict(account_id=f"A{i}", customer_id=f"C{(i - 1) % 3 + 1}", product="CURRENT", currency="CNY",
             open_date="2020-01-01", close_date=None, status="ACTIVE", branch_id="B001")
        for i in range(1, 5)
    ]
    agents = [dict(agent_id=f"AG{i}", agent_name=n, team="RETAIL-A", site="Shanghai", hire_date="2019-01-01")
              for i, n in enumerate(["赵强", "钱芳"], 1)]
    transactions = []
    balance = {a["account_id"]: 1000.0 for a in accounts}
    for i in range(10):
        acct = f"A{i % 4 + 1}"
        balance[acct] += 10.0 + i
        transactions.append(dict(
            txn_id=f"{d}-T{i:04d}", account_id=acct, txn_ts=f"{d}T{9 + i:02d}:15:02+08:00",
            amount=f"{10 + i}.00", currency="CNY", direction="CREDIT", txn_type="DEPOSIT",
            channel="ATM", branch_id=None, balance_after=f"{balance[acct]:.2f}", counterparty_account=None,
            counterparty_bank=None, reverses_txn_id=None))
    calls = []
    for i in range(4):
        t = f"{d}T{10 + i:02d}:00"
        calls.append(dict(
            call_id=f"{d}-K{i}", direction="INBOUND", customer_id="C1", caller_number="+8613800000001",
            service="RETAIL", priority=0, ivr_entry_ts=f"{t}:00+08:00", ivr_exit_ts=f"{t}:30+08:00",
            queue_entry_ts=f"{t}:30+08:00", queue_exit_ts=f"{t}:50+08:00", answer_ts=f"{t}:50+08:00",
            end_ts=f"{d}T{10 + i:02d}:05:00+08:00", outcome="ANSWERED", agent_id="AG1", hold_seconds=10,
            wrap_up_seconds=30, reason_code="INQUIRY", resolved=True, csat_score=5, campaign_id=None))
    return {"customers": customers, "accounts": accounts, "agents": agents,
            "transactions": transactions, "calls": calls}


def csv_bytes(entity: str, rows: list[dict], columns: list[str] | None = None) -> bytes:
    columns = columns or list(contract.BY_ENTITY[entity].column_names)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buf.getvalue().encode("utf-8")


def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def write_drop(root: Path, records: dict[str, list[dict]] | None = None, *, day: date = DAY,
               raw_files: dict[str, bytes] | None = None, gz: tuple[str, ...] = (),
               manifest_extra: dict | None = None, rows_override: dict[str, int] | None = None,
               encoding: dict[str, str] | None = None, manifest: bool = True) -> Path:
    """Write ``root/<day>/`` with a correct manifest; ``raw_files`` replaces a file's bytes as given."""
    records = valid_records(day) if records is None else records
    drop = root / day.isoformat()
    drop.mkdir(parents=True, exist_ok=True)
    files = {}
    for entity, rows in records.items():
        src = contract.BY_ENTITY[entity]
        name = src.base_name + (".gz" if entity in gz else "")
        if raw_files and name in raw_files:
            data = raw_files[name]
        else:
            data = csv_bytes(entity, rows) if src.fmt == "csv" else jsonl_bytes(rows)
            if encoding and entity in encoding:
                data = data.decode("utf-8").encode(encoding[entity])
            if entity in gz:
                data = gzip.compress(data, mtime=0)
        (drop / name).write_bytes(data)
        meta = {"rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()}
        if encoding and entity in encoding:
            meta["encoding"] = encoding[entity]
        if rows_override and name in rows_override:
            meta["rows"] = rows_override[name]
        files[name] = meta
    if manifest:
        doc = {"business_date": day.isoformat(), "timezone": "Asia/Shanghai",
               "generated_at": f"{day.isoformat()}T23:10:00+08:00", "files": files}
        doc.update(manifest_extra or {})
        (drop / contract.MANIFEST_NAME).write_text(json.dumps(doc), encoding="utf-8")
    return drop
