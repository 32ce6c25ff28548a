"""The raw load's binary COPY stores exactly what PostgreSQL reads from the same text.

Every column kind of the contract, with the values where a binary encoding goes wrong:
signs, the limits of numeric(18,2), dates and instants before PostgreSQL's epoch
(2000-01-01) and before 1970, fractions of a second, offsets, NULLs, Chinese text.
"""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pytest

from cdw.landing import pgcopy
from cdw.landing.contract import Column
from cdw.landing.records import _Timestamps

CASES = {
    "decimal": ["0.01", "-0.01", "12", "-12", "12.5", "0012.50", "-0.00", "0", "10000", "9999.99",
                "100000000.01", "9999999999999999.99", "-9999999999999999.99", "123456789012.34", None],
    "timestamp": ["2026-03-02T00:00:01+08:00", "2026-03-01T16:00:00Z", "1999-12-31T23:59:59.999999Z",
                  "1969-07-20T20:17:40.5-05:30", "2000-01-01T00:00:00+00:00", "2026-03-02T23:59:59.000001+14:00",
                  "1900-02-28T12:00:00-12:00", None],
    "date": ["2026-03-02", "2000-01-01", "1999-12-31", "1970-01-01", "1969-12-31", "1900-02-28",
             "2024-02-29", None],
    "int": ["0", "-1", "1", "123456789", "-123456789", "42", None, "7"],
    "bool": ["true", "false", None, "true"],
    "text": ["T20260302000000001", "张伟", "上海市浦东新区", "a,b\"c\nd", " spaced ", "x" * 4096, None],
    "code": ["CNY", "USD", None, "ATM"],
}
SQL_TYPE = {kind: Column("v", kind).sql_type for kind in CASES}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_binary_copy_equals_postgresqls_reading_of_the_text(db, kind):
    values = CASES[kind]
    column = Column("v", kind, required=False)
    strings = pa.array(values, type=pa.string())
    rows = pgcopy.Rows(len(values), 2)
    rows.bigint(pa.array(range(1, len(values) + 1)).to_numpy())
    instants = _Timestamps(strings).utc if kind == "timestamp" else None
    rows.column(column, strings, instants)

    db.execute(f"create table binary_copied (n bigint, v {SQL_TYPE[kind]})")
    with db.cursor() as cur, cur.copy("copy binary_copied (n, v) from stdin (format binary)") as cp:
        cp.write(pgcopy.SIGNATURE)
        cp.write(rows.encode())
        cp.write(pgcopy.TRAILER)

    copied = db.execute("select v from binary_copied order by n").fetchall()
    db.execute("set timezone = 'UTC'")
    read_by_postgres = [db.execute(f"select %s::{SQL_TYPE[kind]}", (v,)).fetchone() for v in values]
    assert copied == read_by_postgres
    # the same value, spelled as PostgreSQL spells it (scale, sign of zero, time zone)
    as_text = db.execute("select v::text from binary_copied order by n").fetchall()
    assert as_text == [db.execute(f"select %s::{SQL_TYPE[kind]}::text", (v,)).fetchone() for v in values]


def test_a_batch_with_no_rows_makes_an_empty_table(db):
    db.execute("create table binary_copied (n bigint)")
    with db.cursor() as cur, cur.copy("copy binary_copied (n) from stdin (format binary)") as cp:
        cp.write(pgcopy.SIGNATURE)
        cp.write(pgcopy.TRAILER)
    assert db.execute("select count(*) from binary_copied").fetchone() == (0,)


def test_a_value_of_the_wrong_width_is_refused_by_the_server(db):
    """The format has no slack: a mistake in the encoding fails the COPY, it is never stored."""
    db.execute("create table binary_copied (n integer)")
    rows = pgcopy.Rows(1, 1)
    rows.bigint(pa.array([1]).to_numpy())  # 8 bytes where the column takes 4
    with pytest.raises(psycopg.errors.InvalidBinaryRepresentation):
        with db.cursor() as cur, cur.copy("copy binary_copied (n) from stdin (format binary)") as cp:
            cp.write(pgcopy.SIGNATURE)
            cp.write(rows.encode())
            cp.write(pgcopy.TRAILER)


@pytest.mark.parametrize("values", [["T001", "T002", "张1"], ["", ""], ["CNY"]], ids=["same-length", "empty", "one"])
def test_text_of_one_length_is_laid_out_as_fixed_width_and_reads_back_the_same(db, values):
    rows = pgcopy.Rows(len(values), 2)
    rows.bigint(pa.array(range(len(values))).to_numpy())
    rows.column(Column("v", "text"), pa.array(values, type=pa.string()))
    db.execute("create table binary_copied (n bigint, v text)")
    with db.cursor() as cur, cur.copy("copy binary_copied (n, v) from stdin (format binary)") as cp:
        cp.write(pgcopy.SIGNATURE)
        cp.write(rows.encode())
        cp.write(pgcopy.TRAILER)
    assert [r[0] for r in db.execute("select v from binary_copied order by n")] == values
