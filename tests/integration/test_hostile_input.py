"""Hostile input: each is set aside or rejected with a clear reason; nothing escapes the drop."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from cdw.landing import contract
from cdw.load import LoadFailed, load_date
from tests.landing_builder import DAY, csv_bytes, jsonl_bytes, valid_records, write_drop


def set_aside(db, load_id):
    """Records set aside, with their original text (kept in the restricted schema)."""
    return db.execute("select q.file_name, q.line_number, o.raw_record, q.reasons"
                      " from audit.quarantined_records q join restricted.quarantined_originals o"
                      " using (load_id, file_name, line_number) where load_id = %s order by 1, 2",
                      (load_id,)).fetchall()


@pytest.fixture(autouse=True)
def _no_threshold(monkeypatch):
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "1")


def test_csv_injection_and_sql_metacharacters_are_kept_as_plain_text(tmp_path, db):
    records = valid_records()
    nasty = ['=HYPERLINK("http://x")', "'; drop table raw.transactions; --", '"quoted", and, commas',
             "+cmd|' /C calc'!A0", "O'Brien \\ backslash"]
    for row, text in zip(records["transactions"], nasty, strict=False):
        row["counterparty_bank"] = text
    write_drop(tmp_path, records)
    result = load_date(tmp_path, DAY)
    assert sum(f.rows_quarantined for f in result.files) == 0
    stored = sorted(r[0] for r in db.execute("select counterparty_bank from raw.transactions"
                                             " where counterparty_bank is not null"))
    assert stored == sorted(nasty)
    assert db.execute("select to_regclass('raw.transactions')").fetchone()[0] is not None


def test_nul_bytes_set_the_record_aside_and_stay_visible_in_the_trail(tmp_path, db):
    records = valid_records()
    records["transactions"][3]["counterparty_bank"] = "ICBC\x00evil"
    records["calls"][1]["campaign_id"] = "C\x00"
    write_drop(tmp_path, records)
    result = load_date(tmp_path, DAY)
    rows = set_aside(db, result.load_id)
    assert [(r[0], r[1], r[3]) for r in rows] == [("calls.jsonl", 2, ["malformed_record:line"]),
                                                  ("transactions.csv", 5, ["malformed_record:line"])]
    assert "ICBC\\0evil" in rows[1][2]


def test_extremely_long_fields_and_lines(tmp_path, db):
    records = valid_records()
    records["transactions"][0]["counterparty_bank"] = "x" * 100_000
    records["calls"][0]["campaign_id"] = "y" * 5_000_000
    write_drop(tmp_path, records)
    result = load_date(tmp_path, DAY)
    assert [(r[0], r[1], r[3]) for r in set_aside(db, result.load_id)] == [
        ("calls.jsonl", 1, ["bad_value:campaign_id"]),
        ("transactions.csv", 2, ["bad_value:counterparty_bank"]),
    ]


def test_a_20_mb_line_is_set_aside_not_crashing(tmp_path, db):
    records = valid_records()
    records["transactions"][0]["counterparty_bank"] = "z" * (20 << 20)  # 20 MB in one field
    write_drop(tmp_path, records)
    result = load_date(tmp_path, DAY)
    rows = set_aside(db, result.load_id)
    assert [(r[0], r[1], r[3]) for r in rows] == [("transactions.csv", 2, ["bad_value:counterparty_bank"])]
    assert len(rows[0][2]) > 20 << 20  # the original text is kept whole for the auditors


def test_a_line_longer_than_the_reader_takes_fails_the_file_with_a_clear_fault(tmp_path, db):
    records = valid_records()
    records["transactions"][0]["counterparty_bank"] = "z" * (40 << 20)  # beyond CSV_BLOCK_BYTES twice over
    write_drop(tmp_path, records)
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, DAY)
    assert (failure.value.code, failure.value.file_name) == (contract.FAULT_MALFORMED_FILE, "transactions.csv")
    assert "straddl" in str(failure.value)  # the reader's own words, after the date and file
    assert db.execute("select count(*) from raw.transactions").fetchone()[0] == 0


def test_mixed_line_endings_and_bom(tmp_path, db):
    records = valid_records()
    lines = csv_bytes("transactions", records["transactions"]).split(b"\n")
    mixed = b"\xef\xbb\xbf" + b"\r\n".join(lines[:5]) + b"\r\n" + b"\n".join(lines[5:])
    write_drop(tmp_path, records, raw_files={"transactions.csv": mixed})
    result = load_date(tmp_path, DAY)
    f = next(f for f in result.files if f.file_name == "transactions.csv")
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (10, 10, 0)
    assert db.execute("select count(*) from raw.transactions where counterparty_account like '%\r%'"
                      " or txn_id like '%\r%' or reverses_txn_id like '%\r%'").fetchone()[0] == 0


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..", "sub/transactions.csv",
                                  "transactions.csv\x00.gz"])
def test_path_traversal_in_the_manifest_is_rejected(tmp_path, db, name):
    records = valid_records()
    drop = write_drop(tmp_path, records)
    doc = json.loads((drop / "_manifest.json").read_text())
    doc["files"][name] = {"rows": 1, "sha256": "0" * 64}
    (drop / "_manifest.json").write_text(json.dumps(doc))
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, DAY)
    assert failure.value.code == contract.FAULT_UNSAFE_PATH


def test_a_symlink_out_of_the_drop_is_rejected(tmp_path, db):
    records = valid_records()
    outside = tmp_path / "secret.csv"
    outside.write_bytes(csv_bytes("agents", records["agents"]))
    drop = write_drop(tmp_path / "landing", records)
    (drop / "agents.csv").unlink()
    (drop / "agents.csv").symlink_to(outside)
    doc = json.loads((drop / "_manifest.json").read_text())
    doc["files"]["agents.csv"]["sha256"] = hashlib.sha256(outside.read_bytes()).hexdigest()
    (drop / "_manifest.json").write_text(json.dumps(doc))
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path / "landing", DAY)
    assert failure.value.code == contract.FAULT_UNSAFE_PATH


def test_a_huge_declared_row_count_is_a_row_count_fault(tmp_path, db):
    write_drop(tmp_path, rows_override={"transactions.csv": 10**15})
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, DAY)
    assert failure.value.code == contract.FAULT_ROW_COUNT
    assert "1000000000000000" in str(failure.value)


def test_a_gzip_bomb_stops_at_the_bound(tmp_path, db, monkeypatch):
    monkeypatch.setenv("CDW_MAX_DECOMPRESSED_BYTES", str(50 << 20))
    bomb = gzip.compress(csv_bytes("transactions", []) + b"0" * (200 << 20), compresslevel=9)
    assert len(bomb) < 1 << 20
    write_drop(tmp_path, gz=("transactions",), raw_files={"transactions.csv.gz": bomb})
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, DAY)
    assert failure.value.code == contract.FAULT_TOO_LARGE
    assert not list((tmp_path).rglob("*.good.csv"))


def test_json_with_duplicate_keys_or_deep_nesting(tmp_path, db):
    records = valid_records()
    good = jsonl_bytes(records["calls"]).decode().splitlines()
    good[0] = good[0].replace('"direction": "INBOUND"', '"direction": "INBOUND", "direction": "OUTBOUND"')
    good[1] = good[1][:-1] + ', "extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    data = ("\n".join(good) + "\n").encode()
    write_drop(tmp_path, records, raw_files={"calls.jsonl": data})
    result = load_date(tmp_path, DAY)
    assert [(r[0], r[1], r[3]) for r in set_aside(db, result.load_id)] == [
        ("calls.jsonl", 1, ["malformed_record:line"]), ("calls.jsonl", 2, ["malformed_record:line"])]


def test_a_manifest_with_duplicate_keys_or_deep_nesting_is_rejected(tmp_path, db):
    drop = write_drop(tmp_path)
    text = (drop / "_manifest.json").read_text()
    (drop / "_manifest.json").write_text(text[:-1] + ', "timezone": "UTC"}')
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, DAY)
    assert failure.value.code == contract.FAULT_BAD_MANIFEST and "duplicate key" in str(failure.value)
    (drop / "_manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, DAY)
    assert failure.value.code == contract.FAULT_BAD_MANIFEST


@pytest.mark.parametrize("ts", ["2026-03-02T09:15:02+99:00", "2026-03-02T09:15:02+14:60",
                                "9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00Z",
                                "2026-03-02T09:15:02+08:00:00", "+2026-03-02T09:15:02Z"])
def test_absurd_timestamps_are_bad_values(tmp_path, db, ts):
    records = valid_records()
    records["transactions"][0]["txn_ts"] = ts
    write_drop(tmp_path, records)
    result = load_date(tmp_path, DAY)
    assert [r[3] for r in set_aside(db, result.load_id)] == [["bad_value:txn_ts"]]


def test_a_lone_surrogate_sets_its_record_aside_and_the_rest_loads(tmp_path, db):
    """JSON can spell half a UTF-16 pair (\\ud800), and a file declared utf-7 can decode to one:
    neither is a character PostgreSQL (or UTF-8) can hold. The record is set aside, the trail
    shows the surrogate as the six characters \\ud800, and the rest of the file loads."""
    records = valid_records()
    calls = jsonl_bytes(records["calls"]).decode().splitlines()
    calls[2] = calls[2].replace('"campaign_id": null', '"campaign_id": "\\ud800"')
    calls[3] = calls[3].replace('"service": "RETAIL"', '"service": "RET\\udfffAIL"')
    agents = csv_bytes("agents", records["agents"]).decode().encode("utf-7").split(b"\n")
    agents[2] = agents[2].replace(b"Shanghai", b"Shang+2AA-hai")  # AG2: no call references it
    write_drop(tmp_path, records, encoding={"agents": "utf-7"},
               raw_files={"calls.jsonl": ("\n".join(calls) + "\n").encode(), "agents.csv": b"\n".join(agents)})
    result = load_date(tmp_path, DAY)
    rows = set_aside(db, result.load_id)
    assert [(r[0], r[1], r[3]) for r in rows] == [("agents.csv", 3, ["bad_value:site"]),
                                                  ("calls.jsonl", 3, ["bad_value:campaign_id"]),
                                                  ("calls.jsonl", 4, ["bad_value:service"])]
    assert "Shang\\ud800hai" in rows[0][2] and '"campaign_id": "\\ud800"' in rows[1][2]
    audit = [r[0] for r in db.execute("select raw_record from audit.quarantined_records where load_id = %s"
                                      " order by file_name, line_number", (result.load_id,))]
    assert "Shang\\ud800hai" in audit[0] and '"campaign_id": "\\ud800"' in audit[1]
    counts = {f.file_name: (f.rows_read, f.rows_loaded, f.rows_quarantined) for f in result.files}
    assert counts["calls.jsonl"] == (4, 2, 2) and counts["agents.csv"] == (2, 1, 1)
    assert db.execute("select agent_id, site from raw.agents").fetchall() == [("AG1", "Shanghai")]


def test_a_bare_carriage_return_inside_a_json_record_is_whitespace_not_a_line_end(tmp_path, db):
    """JSON Lines records end at \\n (or \\r\\n); a bare \\r between tokens is JSON whitespace."""
    records = valid_records()
    calls = jsonl_bytes(records["calls"]).decode().splitlines()
    calls[1] = calls[1].replace(', "direction"', ',\r"direction"')
    calls[2] = calls[2].replace(', "service"', ',\r\r "service"') + "\r"  # and a \r\n line end
    write_drop(tmp_path, records, raw_files={"calls.jsonl": ("\n".join(calls) + "\n").encode()})
    result = load_date(tmp_path, DAY)
    f = next(f for f in result.files if f.file_name == "calls.jsonl")
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (4, 4, 0)


def test_a_field_outside_the_contract_is_a_breach_in_both_formats(tmp_path, db):
    """docs/contracts/landing-additions.md: a JSON record with a key the contract does not know
    is set aside (unexpected_field:<key>), as a CSV file with such a column fails."""
    records = valid_records()
    records["calls"][0]["caller_name"] = "张三丰"
    records["calls"][1]["13912345678"] = 1  # a key that is not a field name is not shown either
    write_drop(tmp_path, records)
    result = load_date(tmp_path, DAY)
    rows = set_aside(db, result.load_id)
    assert [(r[0], r[1], r[3]) for r in rows] == [("calls.jsonl", 1, ["unexpected_field:caller_name"]),
                                                  ("calls.jsonl", 2, ['unexpected_field:"1**********"'])]
    f = next(f for f in result.files if f.file_name == "calls.jsonl")
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (4, 2, 2)

    # a source that adds a field to every record: the file fails by the threshold, the reason named
    for call in records["calls"]:
        call["queue_name"] = "RETAIL-VIP"
    write_drop(tmp_path, records)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDW_QUARANTINE_THRESHOLD", "0.01")
        with pytest.raises(LoadFailed) as failure:
            load_date(tmp_path, DAY)
    assert (failure.value.file_name, failure.value.code) == ("calls.jsonl", contract.FAULT_THRESHOLD)
    assert "unexpected_field:queue_name" in str(failure.value)

    # the same in a CSV file: its header is the file's, so the file fails
    columns = [*contract.AGENTS.column_names, "badge_no"]
    write_drop(tmp_path, valid_records(),
               raw_files={"agents.csv": csv_bytes("agents", valid_records()["agents"], columns)})
    with pytest.raises(LoadFailed) as failure:
        load_date(tmp_path, DAY)
    assert (failure.value.file_name, failure.value.code) == ("agents.csv", contract.FAULT_UNEXPECTED_COLUMNS)
    assert "badge_no" in str(failure.value)
