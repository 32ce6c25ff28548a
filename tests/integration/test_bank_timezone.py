"""One zone per warehouse: the first load records it, every later drop must agree (landing.md).

Real PostgreSQL, the real loader; no dbt (the dbt and gate side of the recorded zone
is covered by tests/integration/test_real_banks.py).
"""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from cdw import warehouse
from cdw.landing import contract
from cdw.load import LoadFailed, load_date
from tests.landing_builder import valid_records, write_drop

DAY = date(1994, 1, 27)


def _prague_records(day: date) -> dict[str, list[dict]]:
    """The builder's valid drop, its timestamps moved from +08:00 to Prague's winter +01:00 and
    the ledger's last entry to 23:40 local time: on the business date in Prague, the next
    calendar date in Shanghai (so a check in the wrong zone would set it aside)."""
    records = valid_records(day)
    for row in records["transactions"]:
        row["txn_ts"] = row["txn_ts"].replace("+08:00", "+01:00")
    records["transactions"][-1]["txn_ts"] = f"{day.isoformat()}T23:40:00+01:00"
    for row in records["calls"]:
        for key, value in row.items():
            if key.endswith("_ts") and value:
                row[key] = value.replace("+08:00", "+01:00")
    for row in records["customers"]:
        row["join_date"] = "1990-01-01"
    for row in records["accounts"]:
        row["open_date"] = "1990-01-01"
    for row in records["agents"]:
        row["hire_date"] = "1990-01-01"
    return records


def _zone_rows(db) -> list[tuple]:
    return db.execute("select timezone, source, load_id, business_date from audit.warehouse_timezone").fetchall()


def test_the_first_load_records_the_manifests_zone_and_later_drops_must_agree(tmp_path, db, monkeypatch):
    monkeypatch.delenv("CDW_TIMEZONE", raising=False)
    write_drop(tmp_path, _prague_records(DAY), day=DAY, manifest_extra={"timezone": "Europe/Prague"})
    first = load_date(tmp_path, DAY)

    assert _zone_rows(db) == [("Europe/Prague", "manifest", first.load_id, DAY)]
    # judged in Prague: the 23:40 entry is on the business date, nothing set aside
    assert sum(f.rows_quarantined for f in first.files) == 0
    assert db.execute("select count(*) from raw.transactions where business_date = %s", (DAY,)).fetchone()[0] == 10

    # a drop naming another zone fails as bad_manifest, naming both zones; nothing of it loads
    other = DAY + timedelta(days=1)
    write_drop(tmp_path, _prague_records(other), day=other, manifest_extra={"timezone": "Asia/Shanghai"})
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, other)
    assert failure.value.code == contract.FAULT_BAD_MANIFEST
    assert "'Asia/Shanghai'" in str(failure.value) and "'Europe/Prague'" in str(failure.value)
    assert db.execute("select count(*) from raw.transactions where business_date = %s", (other,)).fetchone()[0] == 0
    assert db.execute("select status, failure_reason like '%%Europe/Prague%%' from audit.load_runs_latest"
                      " where business_date = %s", (other,)).fetchall() == [("FAILED", True)]

    # a drop naming no zone is judged in the recorded one, whatever CDW_TIMEZONE says
    monkeypatch.setenv("CDW_TIMEZONE", "Asia/Shanghai")
    write_drop(tmp_path, _prague_records(other), day=other, manifest_extra={"timezone": None})
    second = load_date(tmp_path, other)
    assert sum(f.rows_quarantined for f in second.files) == 0
    assert _zone_rows(db) == [("Europe/Prague", "manifest", first.load_id, DAY)]


def test_without_a_zone_in_the_manifest_the_first_load_records_cdw_timezone(tmp_path, db, monkeypatch):
    monkeypatch.setenv("CDW_TIMEZONE", "Europe/Prague")
    write_drop(tmp_path, _prague_records(DAY), day=DAY, manifest_extra={"timezone": None})
    result = load_date(tmp_path, DAY)
    assert _zone_rows(db) == [("Europe/Prague", "CDW_TIMEZONE", result.load_id, DAY)]


def test_a_failed_first_load_records_no_zone(tmp_path, db, monkeypatch):
    monkeypatch.delenv("CDW_TIMEZONE", raising=False)
    write_drop(tmp_path, _prague_records(DAY), day=DAY, manifest_extra={"timezone": "Europe/Prague"},
               rows_override={"calls.jsonl": 99})
    with pytest.raises(LoadFailed):
        load_date(tmp_path, DAY)
    assert _zone_rows(db) == []
    # the next first load may then name any zone
    write_drop(tmp_path, valid_records(DAY), day=DAY)
    load_date(tmp_path, DAY)
    assert [r[:2] for r in _zone_rows(db)] == [("Asia/Shanghai", "manifest")]


def test_the_recorded_zone_is_never_changed_nor_doubled(tmp_path, db, warehouse_url):
    write_drop(tmp_path, valid_records(DAY), day=DAY)
    load_date(tmp_path, DAY)
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("update audit.warehouse_timezone set timezone = 'UTC'")
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("insert into audit.warehouse_timezone (timezone, source, load_id, business_date)"
                   " values ('UTC', 'manifest', 0, date '2000-01-01')")
    with warehouse.connect(warehouse_url, autocommit=True) as conn:
        assert warehouse.bank_timezone(conn) == "Asia/Shanghai"
