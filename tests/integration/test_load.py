"""The raw load against a real PostgreSQL: record rules, file faults, idempotence, re-delivery."""

from __future__ import annotations

import gzip
import html
from datetime import date

import psycopg
import pytest
from psycopg import sql

from cdw import warehouse
from cdw.landing import contract
from cdw.load import LoadFailed, load_date
from tests.landing_builder import DAY, csv_bytes, jsonl_bytes, valid_records, write_drop

RAW_TABLES = [s.entity for s in contract.SOURCE_FILES]


def raw_state(db, day: date = DAY) -> dict[str, list[tuple]]:
    """Every raw row of the date, without the load id (which changes with every load)."""
    state = {}
    for entity in RAW_TABLES:
        cols = ", ".join(contract.BY_ENTITY[entity].column_names)
        state[entity] = db.execute(
            f"select {cols} from raw.{entity} where business_date = %s order by 1", (day,)).fetchall()
    return state


def quarantined(db, load_id: int) -> list[tuple]:
    return db.execute("select file_name, line_number, reasons from audit.quarantined_records"
                      " where load_id = %s order by file_name, line_number", (load_id,)).fetchall()


def statuses(db, day: date = DAY) -> list[tuple]:
    return db.execute("select load_id, status from audit.load_runs_latest where business_date = %s"
                      " order by load_id", (day,)).fetchall()


# ---- record rules: each breaks exactly one rule and gets exactly that reason -------------

# (entity, record index, changes, reasons)
RECORD_CASES = [
    ("transactions", 0, {"account_id": None}, ["missing_value:account_id"]),
    ("transactions", 0, {"amount": "12.345"}, ["bad_value:amount"]),
    ("transactions", 0, {"amount": "abc"}, ["bad_value:amount"]),
    ("transactions", 0, {"amount": "0.00"}, ["not_positive:amount"]),
    ("transactions", 0, {"amount": "-3.10"}, ["not_positive:amount"]),
    ("transactions", 0, {"currency": "cny"}, ["unknown_code:currency"]),
    ("transactions", 0, {"currency": "XXY"}, ["unknown_code:currency"]),
    ("transactions", 0, {"direction": "IN"}, ["unknown_code:direction"]),
    ("transactions", 0, {"txn_type": "GIFT"}, ["unknown_code:txn_type"]),
    ("transactions", 0, {"channel": "FAX"}, ["unknown_code:channel"]),
    ("transactions", 0, {"channel": "BRANCH"}, ["missing_value:branch_id"]),
    ("transactions", 0, {"txn_type": "REVERSAL"}, ["missing_value:reverses_txn_id"]),
    ("transactions", 0, {"txn_ts": "2026-03-02 09:15:02"}, ["bad_value:txn_ts"]),
    ("transactions", 0, {"txn_ts": "2026-03-02T09:15:02"}, ["bad_value:txn_ts"]),
    ("transactions", 0, {"txn_ts": "2026-02-30T09:15:02+08:00"}, ["bad_value:txn_ts"]),
    ("transactions", 0, {"txn_ts": "2026-03-02T09:15:02+99:00"}, ["bad_value:txn_ts"]),
    ("transactions", 0, {"txn_ts": "2026-03-01T23:59:59+08:00"}, ["wrong_business_date:txn_ts"]),
    # 2026-03-01 16:30 UTC is 2026-03-02 00:30 in Shanghai: on the business date
    ("transactions", 0, {"txn_ts": "2026-03-01T16:30:00Z"}, []),
    ("transactions", 0, {"account_id": "A999"}, ["unknown_reference:account_id"]),
    ("transactions", 0, {"txn_id": "x" * 41}, ["bad_value:txn_id"]),
    ("transactions", 1, {"txn_id": "2026-03-02-T0000"}, ["duplicate_id:txn_id"]),
    ("transactions", 0, {"balance_after": "-15.5"}, []),
    ("transactions", 0, {"amount": "1.5", "currency": None}, ["missing_value:currency"]),
    ("calls", 0, {"priority": 3}, ["out_of_range:priority"]),
    ("calls", 0, {"priority": "1"}, ["bad_value:priority"]),
    ("calls", 0, {"priority": True}, ["bad_value:priority"]),
    ("calls", 0, {"csat_score": 0}, ["out_of_range:csat_score"]),
    ("calls", 0, {"resolved": "yes"}, ["bad_value:resolved"]),
    ("calls", 0, {"service": "MORTGAGE"}, ["unknown_code:service"]),
    ("calls", 0, {"ivr_exit_ts": "2026-03-02T09:59:00+08:00"}, ["out_of_order:ivr_exit_ts"]),
    ("calls", 0, {"queue_exit_ts": "2026-03-02T10:00:10+08:00"}, ["out_of_order:queue_exit_ts"]),
    ("calls", 0, {"answer_ts": "2026-03-02T10:00:20+08:00"}, ["out_of_order:answer_ts"]),
    ("calls", 0, {"end_ts": "2026-03-02T10:00:40+08:00"}, ["out_of_order:end_ts"]),
    ("calls", 0, {"answer_ts": None}, ["missing_value:answer_ts"]),
    ("calls", 0, {"agent_id": None}, ["missing_value:agent_id"]),
    ("calls", 0, {"agent_id": "AG404"}, ["unknown_reference:agent_id"]),
    ("calls", 0, {"outcome": "ABANDONED", "answer_ts": None, "agent_id": None, "hold_seconds": None,
                  "queue_entry_ts": None, "queue_exit_ts": None}, ["missing_value:queue_entry_ts"]),
    ("calls", 0, {"hold_seconds": 400}, ["out_of_range:hold_seconds"]),
    ("calls", 0, {"hold_seconds": -1}, ["out_of_range:hold_seconds"]),
    ("calls", 0, {"ivr_entry_ts": "2026-03-01T10:00:00+08:00"}, ["wrong_business_date:ivr_entry_ts"]),
    ("calls", 1, {"call_id": "2026-03-02-K0"}, ["duplicate_id:call_id"]),
    ("customers", 3, {"birth_date": "2030-01-01"}, ["out_of_range:birth_date"]),
    ("customers", 3, {"birth_date": "1900-01-01"}, ["out_of_range:birth_date"]),
    ("customers", 3, {"birth_date": "1905-03-02"}, ["out_of_range:birth_date"]),  # 121 today
    ("customers", 3, {"birth_date": "1905-03-03"}, []),  # 120 until tomorrow
    ("customers", 3, {"gender": "X"}, ["unknown_code:gender"]),
    ("customers", 3, {"join_date": "2020-13-01"}, ["bad_value:join_date"]),
    ("accounts", 3, {"customer_id": "C999"}, ["unknown_reference:customer_id"]),
    ("accounts", 3, {"close_date": "2019-01-01", "status": "CLOSED"}, ["out_of_order:close_date"]),
    ("agents", 1, {"hire_date": None}, ["missing_value:hire_date"]),
]


@pytest.mark.parametrize(("entity", "index", "changes", "reasons"), RECORD_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[2])}-{'-'.join(c[3]) or 'valid'}" for c in RECORD_CASES])
def test_each_record_rule_sets_aside_with_its_reason(tmp_path, db, monkeypatch, entity, index, changes, reasons):
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "1")  # look at the record, not the share
    records = valid_records()
    if entity == "accounts":
        # no ledger entry may reference the account set aside, or it cascades
        records["transactions"] = [t for t in records["transactions"] if t["account_id"] != "A4"]
    if entity == "customers":  # a customer nobody references, so nothing cascades
        records["customers"].append(dict(records["customers"][0], customer_id="C4"))
    if entity == "agents":
        records["calls"] = [c for c in records["calls"] if c["agent_id"] != "AG2"]
    records[entity][index].update(changes)
    write_drop(tmp_path, records)
    result = load_date(tmp_path, DAY)
    rows = quarantined(db, result.load_id)
    file_name = contract.BY_ENTITY[entity].base_name
    if reasons:
        header = 1 if entity != "calls" else 0
        assert rows == [(file_name, index + 1 + header, reasons)]
    else:
        assert rows == []
    for f in result.files:
        assert f.rows_read == f.manifest_rows == f.rows_loaded + f.rows_quarantined


def test_malformed_lines_are_set_aside_with_their_text(tmp_path, db, monkeypatch):
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "1")
    records = valid_records()
    # a quoted field spanning two lines is valid; a short line and a blank line are not
    records["transactions"][1]["counterparty_account"] = "multi\nline"
    header, *rows = [csv_bytes("transactions", [r]).decode().split("\n", 1)[1]
                     for r in records["transactions"]]
    text = csv_bytes("transactions", []).decode()  # header line
    text += header + rows[0] + rows[1]  # lines 2, 3-4, 5
    text += "short,line\n" + rows[2] + "\n" + "".join(rows[3:])  # line 6, 7, blank 8, 9...
    txn_bytes = text.encode()
    calls = b'{"call_id": "x", "call_id": "y"}\nnot json\n[1, 2]\n'
    write_drop(tmp_path, records, raw_files={"transactions.csv": txn_bytes, "calls.jsonl": calls},
               rows_override={"transactions.csv": 12, "calls.jsonl": 3})
    result = load_date(tmp_path, DAY)
    rows = db.execute("select q.file_name, q.line_number, o.raw_record, q.reasons"
                      " from audit.quarantined_records q join restricted.quarantined_originals o"
                      " using (load_id, file_name, line_number) where load_id = %s order by 1, 2",
                      (result.load_id,)).fetchall()
    assert rows == [
        ("calls.jsonl", 1, '{"call_id": "x", "call_id": "y"}', ["malformed_record:line"]),
        ("calls.jsonl", 2, "not json", ["malformed_record:line"]),
        ("calls.jsonl", 3, "[1, 2]", ["malformed_record:line"]),
        ("transactions.csv", 6, "short,line", ["malformed_record:line"]),
        ("transactions.csv", 8, "", ["malformed_record:line"]),
    ]
    by_file = {f.file_name: f for f in result.files}
    assert by_file["transactions.csv"].rows_loaded == 10
    assert db.execute("select count(*) from raw.transactions where counterparty_account = %s",
                      ("multi\nline",)).fetchone()[0] == 1


def test_gb18030_and_bom_and_gzip(tmp_path, db):
    records = valid_records()
    drop = write_drop(tmp_path, records, encoding={"customers": "gb18030"}, gz=("transactions", "calls"))
    result = load_date(tmp_path, DAY)
    names = [r[0] for r in db.execute("select full_name from raw.customers order by customer_id")]
    assert names == ["王伟", "李娜", "张敏"]
    assert {f.file_name for f in result.files} >= {"transactions.csv.gz", "calls.jsonl.gz"}
    assert drop.exists()


def test_utf8_bom_is_accepted(tmp_path, db):
    records = valid_records()
    data = b"\xef\xbb\xbf" + csv_bytes("agents", records["agents"])
    write_drop(tmp_path, records, raw_files={"agents.csv": data})
    load_date(tmp_path, DAY)
    assert db.execute("select count(*) from raw.agents").fetchone()[0] == 2


# ---- file faults: the exact fault, and nothing of the date loaded ----------------------------


def _fault_drop(tmp_path, fault: str) -> None:
    records = valid_records()
    if fault == contract.FAULT_MISSING_MANIFEST:
        write_drop(tmp_path, records, manifest=False)
    elif fault == contract.FAULT_CHECKSUM:
        drop = write_drop(tmp_path, records)
        with (drop / "transactions.csv").open("ab") as fh:
            fh.write(b"x")
    elif fault == contract.FAULT_ROW_COUNT:
        write_drop(tmp_path, records, rows_override={"transactions.csv": 11})
    elif fault == contract.FAULT_MISSING_COLUMNS:
        cols = [c for c in contract.TRANSACTIONS.column_names if c != "currency"]
        write_drop(tmp_path, records, raw_files={"transactions.csv": csv_bytes("transactions",
                                                                                records["transactions"], cols)})
    elif fault == contract.FAULT_UNDECODABLE:
        data = csv_bytes("customers", records["customers"]).replace("李娜".encode(), b"\xff\xfe")
        write_drop(tmp_path, records, raw_files={"customers.csv": data})
    elif fault == contract.FAULT_TRUNCATED:
        data = gzip.compress(csv_bytes("transactions", records["transactions"] * 50), mtime=0)
        write_drop(tmp_path, records, gz=("transactions",), raw_files={"transactions.csv.gz": data[:-40]})
    elif fault == contract.FAULT_MISSING_FILE:
        drop = write_drop(tmp_path, records)
        (drop / "agents.csv").unlink()
    elif fault == contract.FAULT_UNSAFE_PATH:
        write_drop(tmp_path, records, manifest_extra={"files": {
            "../../etc/passwd": {"rows": 1, "sha256": "0" * 64},
            "transactions.csv": {"rows": 1, "sha256": "0" * 64}, "calls.jsonl": {"rows": 1, "sha256": "0" * 64}}})
    elif fault == contract.FAULT_BAD_MANIFEST:
        write_drop(tmp_path, records, manifest_extra={"business_date": "2026-03-01"})
    elif fault == contract.FAULT_THRESHOLD:
        records["transactions"][0]["amount"] = "0"
    else:
        raise AssertionError(fault)
    if fault == contract.FAULT_THRESHOLD:
        write_drop(tmp_path, records)


FAULT_CASES = [
    (contract.FAULT_MISSING_MANIFEST, "_manifest.json"),
    (contract.FAULT_CHECKSUM, "transactions.csv"),
    (contract.FAULT_ROW_COUNT, "transactions.csv"),
    (contract.FAULT_MISSING_COLUMNS, "transactions.csv"),
    (contract.FAULT_UNDECODABLE, "customers.csv"),
    (contract.FAULT_TRUNCATED, "transactions.csv.gz"),
    (contract.FAULT_MISSING_FILE, "agents.csv"),
    (contract.FAULT_UNSAFE_PATH, "../../etc/passwd"),
    (contract.FAULT_BAD_MANIFEST, "_manifest.json"),
    (contract.FAULT_THRESHOLD, "transactions.csv"),
]


@pytest.mark.parametrize(("fault", "file_name"), FAULT_CASES, ids=[c[0] for c in FAULT_CASES])
def test_each_file_fault_fails_the_date_and_loads_nothing(tmp_path, db, fault, file_name):
    # a good earlier load of the date must survive the faulty re-delivery untouched
    good_root = tmp_path / "good"
    write_drop(good_root)
    first = load_date(good_root, DAY)
    before = raw_state(db)

    bad_root = tmp_path / "bad"
    _fault_drop(bad_root, fault)
    with pytest.raises(LoadFailed) as failure:
        load_date(bad_root, DAY)
    message = str(failure.value)
    assert failure.value.code == fault
    assert message.startswith(f"{DAY} {file_name}: {fault}:")
    assert "\n" not in message
    assert raw_state(db) == before
    assert statuses(db)[-1][1] == "FAILED"
    assert (first.load_id, "LOADED") in statuses(db)
    reason = db.execute("select failure_reason from audit.load_runs where status = 'FAILED'").fetchone()[0]
    assert reason == message


def test_loading_the_same_drop_twice_gives_the_same_raw_state(tmp_path, db):
    write_drop(tmp_path)
    first = load_date(tmp_path, DAY)
    state = raw_state(db)
    second = load_date(tmp_path, DAY)
    assert raw_state(db) == state
    assert statuses(db) == [(first.load_id, "SUPERSEDED"), (second.load_id, "LOADED")]
    counts = db.execute("select file_name, manifest_rows, rows_read, rows_loaded, rows_quarantined"
                        " from audit.file_reconciliation where load_id = %s order by 1", (second.load_id,)).fetchall()
    assert [c[0] for c in counts] == sorted(["accounts.csv", "agents.csv", "calls.jsonl", "customers.csv",
                                             "transactions.csv"])
    assert all(c[1] == c[2] == c[3] + c[4] for c in counts)


def test_redelivery_replaces_the_date_and_keeps_other_dates(tmp_path, db):
    other = date(2026, 3, 3)
    write_drop(tmp_path, valid_records(other), day=other)
    write_drop(tmp_path)
    load_date(tmp_path, other)
    load_date(tmp_path, DAY)
    other_state = raw_state(db, other)

    corrected = valid_records()
    corrected["transactions"] = corrected["transactions"][:7]
    corrected["transactions"][0]["amount"] = "99.00"
    write_drop(tmp_path, corrected)
    load_date(tmp_path, DAY)
    assert db.execute("select count(*), sum(amount) filter (where txn_id = '2026-03-02-T0000')"
                      " from raw.transactions where business_date = %s", (DAY,)).fetchone() == (7, 99)
    assert raw_state(db, other) == other_state


def test_ids_loaded_for_another_date_are_set_aside(tmp_path, db, monkeypatch):
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "1")
    other = date(2026, 3, 3)
    write_drop(tmp_path)
    load_date(tmp_path, DAY)
    records = valid_records(other)
    records["transactions"][2]["txn_id"] = "2026-03-02-T0005"  # already a ledger entry of 03-02
    write_drop(tmp_path, records, day=other)
    result = load_date(tmp_path, other)
    assert quarantined(db, result.load_id) == [("transactions.csv", 4, ["duplicate_id:txn_id"])]
    f = next(f for f in result.files if f.file_name == "transactions.csv")
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (10, 9, 1)
    assert db.execute("select count(*) from raw.transactions where txn_id = '2026-03-02-T0005'").fetchone()[0] == 1


def test_ids_in_no_order_are_checked_against_other_dates_exactly(tmp_path, db, monkeypatch):
    """The check across dates reads block ranges by id: ids whose ranges overlap (not issued in
    increasing order) must still give exactly the repeated ones, no more."""
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "1")
    first = valid_records()
    for row, txn_id in zip(first["transactions"], "QZAMBYCXDW", strict=True):
        row["txn_id"] = f"{txn_id}-1"
    write_drop(tmp_path, first)
    load_date(tmp_path, DAY)
    other = date(2026, 3, 3)
    records = valid_records(other)
    ids = ["P-2", "A-2", "Z-1", "M-2", "B-2", "Y-2", "C-2", "X-2", "D-2", "W-2"]  # Z-1 is 03-02's
    for row, txn_id in zip(records["transactions"], ids, strict=True):
        row["txn_id"] = txn_id
    write_drop(tmp_path, records, day=other)
    result = load_date(tmp_path, other)
    assert quarantined(db, result.load_id) == [("transactions.csv", 4, ["duplicate_id:txn_id"])]
    assert db.execute("select count(*) from raw.transactions where business_date = %s", (other,)).fetchone()[0] == 9


@pytest.mark.parametrize("block_bytes", [None, 400], ids=["one-batch", "batches-of-two-records"])
def test_an_id_repeated_after_the_ids_stopped_increasing_is_set_aside(tmp_path, db, monkeypatch, block_bytes):
    """Ids increase for a while (only the last one is kept) and then repeat an early one: in one
    batch the sort in memory finds it; in small batches the early ids are gone and the raw table
    is asked. Both set aside exactly the repeat."""
    import cdw.load
    from cdw.landing import readers

    asked_raw = []
    in_raw = cdw.load._repeated_in_raw
    monkeypatch.setattr(cdw.load, "_repeated_in_raw", lambda *a: asked_raw.append(a) or in_raw(*a))
    if block_bytes:
        monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", block_bytes)
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "1")
    records = valid_records()
    ids = ["T01", "T02", "T03", "T04", "T05", "T06", "T07", "T02", "T09", "T10"]  # T02 again, 8th
    for row, txn_id in zip(records["transactions"], ids, strict=True):
        row["txn_id"] = txn_id
    write_drop(tmp_path, records)
    result = load_date(tmp_path, DAY)
    assert quarantined(db, result.load_id) == [("transactions.csv", 9, ["duplicate_id:txn_id"])]
    assert db.execute("select txn_id, count(*) from raw.transactions group by 1 having count(*) > 1").fetchall() == []
    assert bool(asked_raw) == bool(block_bytes)


def test_id_ranges_are_recorded_per_date_and_rebuilt_for_dates_loaded_before_them(tmp_path, db):
    write_drop(tmp_path)
    load_date(tmp_path, DAY)
    recorded = db.execute("select entity, business_date, lowest_id, highest_id from raw.id_ranges"
                          " order by 1").fetchall()
    expected = [(entity, DAY, *db.execute(f'select min({column} collate "C"), max({column} collate "C")'
                                          f" from raw.{entity}").fetchone())
                for entity, column in (("calls", "call_id"), ("transactions", "txn_id"))]
    assert recorded == expected
    # a warehouse loaded before the ranges existed: the schema setup fills them from raw
    db.execute("delete from raw.id_ranges")
    db.execute(warehouse.raw_table_ddl())
    assert db.execute("select entity, business_date, lowest_id, highest_id from raw.id_ranges"
                      " order by 1").fetchall() == expected


def test_a_snapshot_absent_from_the_drop_stands_from_the_previous_date(tmp_path, db):
    write_drop(tmp_path)
    load_date(tmp_path, DAY)
    nxt = date(2026, 3, 3)
    records = valid_records(nxt)
    del records["agents"], records["accounts"]
    write_drop(tmp_path, records, day=nxt)
    result = load_date(tmp_path, nxt)
    assert sum(f.rows_quarantined for f in result.files) == 0
    assert db.execute("select count(*) from raw.agents where business_date = %s", (nxt,)).fetchone()[0] == 0


def test_auditors_see_set_aside_records_with_personal_data_masked(tmp_path, db, monkeypatch):
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "1")
    records = valid_records()
    records["customers"].append(dict(records["customers"][0], customer_id="C9", full_name="欧阳娜娜",
                                     phone="+8613912345678", email="nana@example.cn", gender="X"))
    records["calls"][0]["priority"] = 7
    write_drop(tmp_path, records)
    result = load_date(tmp_path, DAY)
    audit = dict(db.execute("select file_name, raw_record from audit.quarantined_records where load_id = %s",
                            (result.load_id,)).fetchall())
    clear = dict(db.execute("select file_name, raw_record from restricted.quarantined_originals"
                            " where load_id = %s", (result.load_id,)).fetchall())
    for secret in ("欧阳娜娜", "13912345678", "nana@example.cn"):
        assert secret not in audit["customers.csv"] and secret in clear["customers.csv"]
    assert "8613800000001" not in audit["calls.jsonl"] and "8613800000001" in clear["calls.jsonl"]
    assert ",X," in audit["customers.csv"]  # what is wrong stays visible
    assert '"priority": 7' in audit["calls.jsonl"]


def test_with_pipeline_role_none_the_load_acts_as_the_login_itself(tmp_path, db, monkeypatch):
    """CDW_PIPELINE_ROLE=none: for a warehouse whose owner cannot create roles."""
    with warehouse.connect(pipeline=True) as conn:
        assert conn.execute("select current_user").fetchone() == ("cdw_loader",)
    monkeypatch.setenv("CDW_PIPELINE_ROLE", "none")
    with warehouse.connect(pipeline=True) as conn:
        assert conn.execute("select current_user = session_user").fetchone() == (True,)
    write_drop(tmp_path)
    result = load_date(tmp_path, DAY)
    assert statuses(db) == [(result.load_id, "LOADED")]
    loaded = {f.file_name: f.rows_loaded for f in result.files}
    assert db.execute("select count(*) from raw.transactions where load_id = %s",
                      (result.load_id,)).fetchone() == (loaded["transactions.csv"],)
    assert loaded["transactions.csv"] > 0


def _blocks_read_for_a_date(db, entity: str, day: date) -> tuple[int, int]:
    """Heap blocks a read of one business date of raw.<entity> visits through its BRIN index,
    and the table's blocks (a range not yet summarised is visited whole)."""
    with db.transaction(force_rollback=True):
        db.execute("set local enable_seqscan = off")
        plan = db.execute(sql.SQL("explain (analyze, format json) select count(*) from raw.{}"
                                  " where business_date = %s").format(sql.Identifier(entity)), (day,)).fetchone()[0]
    node = plan[0]["Plan"]
    while node["Node Type"] != "Bitmap Heap Scan":
        node = node["Plans"][0]
    visited = node.get("Lossy Heap Blocks", 0) + node.get("Exact Heap Blocks", 0)
    pages = db.execute("select pg_relation_size(%s::regclass) / current_setting('block_size')::int",
                       (f"raw.{entity}",)).fetchone()[0]
    return visited, pages


def test_after_a_load_the_raw_tables_are_analysed_and_their_date_index_summarised(tmp_path, db):
    """Without it a date's read scans all history (an unsummarised BRIN range is read whole)
    until a VACUUM runs: on a server with autovacuum off, never. The load acts as cdw_loader,
    which does not own the raw tables."""
    write_drop(tmp_path)
    load_date(tmp_path, DAY)
    other = date(2026, 3, 3)
    write_drop(tmp_path, valid_records(other), day=other)
    load_date(tmp_path, other)
    for src in contract.SOURCE_FILES:
        analysed = db.execute("select last_analyze is not null or last_autoanalyze is not null"
                              " from pg_stat_all_tables where relid = %s::regclass", (f"raw.{src.entity}",)).fetchone()
        assert analysed == (True,), src.entity


def test_the_raw_refresh_function_summarises_new_date_ranges_as_the_pipeline_role(db):
    warehouse.ensure_schema(db)
    # enough rows for full BRIN ranges (128 pages each)
    db.execute("insert into raw.transactions (load_id, business_date, source_row, txn_id, amount)"
               " select 1, date '2026-03-02' + n / 20000, n, 'T' || n, 1 from generate_series(1, 200000) as n")
    visited, pages = _blocks_read_for_a_date(db, "transactions", date(2026, 3, 4))
    assert visited > pages * 0.7 and pages > 300  # hardly anything summarised yet
    with warehouse.connect(pipeline=True, autocommit=True) as conn:
        assert conn.execute("select current_user").fetchone() == ("cdw_loader",)
        conn.execute("select raw.refresh_after_load('transactions')")
    visited, pages = _blocks_read_for_a_date(db, "transactions", date(2026, 3, 4))
    assert visited < pages * 0.25  # the date's tenth of the table, and a range (128 blocks) either side


def test_the_raw_refresh_function_takes_only_the_contracts_tables(db):
    with warehouse.connect(pipeline=True, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="audit.load_runs is not a raw table of the contract"):
            conn.execute("select raw.refresh_after_load('audit.load_runs')")
    assert db.execute("select has_function_privilege('public', 'raw.refresh_after_load(text)', 'execute')"
                      ).fetchone() == (False,)


def _reconciliation(db, load_id: int) -> list[tuple]:
    return db.execute("select file_name, manifest_rows, rows_read, rows_loaded, rows_quarantined"
                      " from audit.file_reconciliation where load_id = %s order by 1", (load_id,)).fetchall()


def test_the_trail_of_a_failed_load_says_nothing_was_loaded(tmp_path, db):
    """Files checked before the fault were read (and some records set aside), but the date's
    transaction rolled back: the trail must not claim rows loaded that raw does not hold."""
    records = valid_records()
    records["customers"][0]["gender"] = "X"  # set aside: 1 of 3 passes the 1 % threshold...
    utf16 = csv_bytes("agents", records["agents"]).decode().encode("utf-16")
    write_drop(tmp_path, records, raw_files={"agents.csv": utf16})
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, DAY)
    # ...so customers.csv is the file that fails; agents.csv would fail next
    assert (failure.value.file_name, failure.value.code) == ("customers.csv", contract.FAULT_THRESHOLD)
    load_id = db.execute("select load_id from audit.load_runs_latest where status = 'FAILED'").fetchone()[0]
    trail = _reconciliation(db, load_id)
    assert trail == [("customers.csv", 3, 3, 0, 1)]

    records["customers"][0]["gender"] = "M"
    write_drop(tmp_path, records, raw_files={"agents.csv": utf16})
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, DAY)
    assert (failure.value.file_name, failure.value.code) == ("agents.csv", contract.FAULT_UNDECODABLE)
    load_id = db.execute("select max(load_id) from audit.load_runs_latest where status = 'FAILED'").fetchone()[0]
    trail = _reconciliation(db, load_id)
    assert trail == [("accounts.csv", 4, 4, 0, 0), ("customers.csv", 3, 3, 0, 0)]
    assert db.execute("select count(*) from raw.customers").fetchone() == (0,)
    # the auditors' report holds such a trail for true (nothing loaded), not broken
    from cdw.report import collect

    assert [f["reconciles"] for f in collect(db, load_id)["files"]] == [True, True]


def test_what_is_not_known_safe_to_show_is_masked_for_auditors(tmp_path, db, monkeypatch):
    """Personal fields whatever their JSON type, keys the contract does not know, nested values,
    and lines that are not records: none shows its value to an auditor, in the trail or the report."""
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "1")
    records = valid_records()
    calls = records["calls"]
    calls[0]["caller_number"] = 8613912345602  # a number where text belongs
    calls[1]["caller_number"] = {"e164": "+8613912345603"}
    calls[2]["caller_name"] = "张三丰"  # a key the contract does not know
    calls[3]["customer_id"] = ["+8613912345604", {"name": "李小龙"}]  # nested in a field that is not personal
    lines = jsonl_bytes(calls) + '{"caller_number": "+8613912345605", "full_name": "黄飞鸿", \n'.encode()
    records["customers"].append(dict(records["customers"][0], customer_id="C9", full_name="欧阳娜娜",
                                     phone="+8613912345606", gender="X"))
    write_drop(tmp_path, records, raw_files={"calls.jsonl": lines}, rows_override={"calls.jsonl": 5})
    result = load_date(tmp_path, DAY)
    secrets = ["8613912345602", "8613912345603", "张三丰", "8613912345604", "李小龙", "8613912345605", "黄飞鸿",
               "欧阳娜娜", "8613912345606"]
    audit = "\n".join(r[0] for r in db.execute("select raw_record from audit.quarantined_records"
                                               " where load_id = %s", (result.load_id,)))
    clear = "\n".join(r[0] for r in db.execute("select raw_record from restricted.quarantined_originals"
                                               " where load_id = %s", (result.load_id,)))
    assert [s for s in secrets if s in audit] == []
    assert [s for s in secrets if s not in clear] == []
    # what is known safe stays readable: the contract's keys, codes, and the key that is not one
    assert '"caller_number": ' in audit and '"direction": "INBOUND"' in audit and '"caller_name": ' in audit
    assert ",X," in audit

    from cdw.report import write_report

    page = write_report(result.load_id, out_dir=tmp_path / "reports").read_text(encoding="utf-8")
    assert "set-aside" in page and [s for s in secrets if s in page] == []
    assert '"caller_number": "***"' in html.unescape(page)  # the report shows nothing of a masked value
