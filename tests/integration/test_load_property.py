"""Property: whatever is done to the records, nothing is lost and nothing crashes.

Hypothesis mangles fields and lines of a valid drop (odd text, quotes, commas,
newlines, NUL bytes, wrong types, truncated or repeated lines). For every
outcome: either the load fails with a file-level fault, or every record of every
file is loaded or set aside with reasons (read = loaded + set aside = manifest).
CI runs a fixed budget (``CDW_HYPOTHESIS_EXAMPLES``, default 40); raise it for a
longer local run.
"""

from __future__ import annotations

import os
import shutil

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdw.landing import contract
from cdw.load import LoadFailed, load_date
from tests.landing_builder import DAY, csv_bytes, jsonl_bytes, valid_records, write_drop

EXAMPLES = int(os.environ.get("CDW_HYPOTHESIS_EXAMPLES", "40"))

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(['=cmd|"/c calc"!A1', "'; drop table raw.transactions; --", 'a"b', "a,b", "x\ny", "\x00",
                     "\r\n", "\ufeff", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "", " ", "NULL", "\\N", "9" * 40, "-0.00", "1e5",
                     "2026-03-02T09:15:02+08:00", "2026-03-02"]),
)
json_value = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.floats(allow_nan=False),
                       nasty_text, st.lists(st.integers(), max_size=2))


@st.composite
def mangled_drops(draw):
    records = valid_records()
    for entity in ("transactions", "calls", "customers"):
        rows = records[entity]
        for _ in range(draw(st.integers(0, 4))):
            row = rows[draw(st.integers(0, len(rows) - 1))]
            column = draw(st.sampled_from(contract.BY_ENTITY[entity].column_names))
            row[column] = draw(json_value if entity == "calls" else nasty_text)
    txn = csv_bytes("transactions", records["transactions"])
    calls = jsonl_bytes(records["calls"])
    lines = txn.split(b"\n")
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(1, len(lines) - 2))
        action = draw(st.sampled_from(["cut", "repeat", "blank", "garbage"]))
        if action == "cut":
            lines[i] = lines[i][: draw(st.integers(0, max(0, len(lines[i]) - 1)))]
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "blank":
            lines.insert(i, b"")
        else:
            lines.insert(i, draw(st.binary(max_size=40)).replace(b"\n", b" ").replace(b"\r", b" "))
    return records, b"\n".join(lines), calls


def _data_records(data: bytes, fmt: str) -> int:
    """Records as the contract counts them, for the manifest (CSV: records after the header)."""
    import csv
    import io

    text = data.decode("utf-8", errors="replace")
    if fmt == "jsonl":
        return len(text.splitlines())
    return max(0, sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(drop=mangled_drops())
def test_nothing_is_lost_and_nothing_crashes(tmp_path, db, monkeypatch, drop):
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "1")
    records, txn_bytes, call_bytes = drop
    root = tmp_path / "landing"
    shutil.rmtree(root, ignore_errors=True)
    write_drop(root, records, raw_files={"transactions.csv": txn_bytes, "calls.jsonl": call_bytes},
               rows_override={"transactions.csv": _data_records(txn_bytes, "csv"),
                              "calls.jsonl": _data_records(call_bytes, "jsonl")})
    try:
        result = load_date(root, DAY)
    except LoadFailed as failure:
        # a whole-file fault: named, one line, and nothing of the date visible
        assert failure.code in {contract.FAULT_UNDECODABLE, contract.FAULT_MALFORMED_FILE,
                                contract.FAULT_ROW_COUNT}, str(failure)
        assert "\n" not in str(failure)
        return
    for f in result.files:
        assert f.rows_read == f.manifest_rows == f.rows_loaded + f.rows_quarantined, f
        entity = contract.source_for_file_name(f.file_name).entity
        loaded = db.execute(f"select count(*) from raw.{entity} where load_id = %s",
                            (result.load_id,)).fetchone()[0]
        aside = db.execute("select count(*) from audit.quarantined_records where load_id = %s and file_name = %s",
                           (result.load_id, f.file_name)).fetchone()[0]
        assert (loaded, aside) == (f.rows_loaded, f.rows_quarantined)
    # every ledger entry appears once, loaded or set aside — never twice
    ids = [r[0] for r in db.execute("select txn_id from raw.transactions where load_id = %s", (result.load_id,))]
    assert len(ids) == len(set(ids))
    assert isinstance(db, psycopg.Connection)
