"""Who read personal data in clear: the logged path, and no other, over real login roles.

A few raw rows are written straight into a fresh warehouse (no load, no dbt). Then, as real
logins of the project's group roles:

* a personal-data reader reads a customer, an account statement and a record set aside
  through the functions, and each read is in ``audit.personal_data_reads`` with who, when,
  what and why; a read without a proper reason is refused, returns nothing, logs nothing;
* a read whose transaction is rolled back after its rows were seen leaves a gap in the read
  ids, which the auditor's view names;
* the log is append-only for everyone, the functions' owner included, and nobody writes it
  but the functions;
* a direct ``select`` on any table of ``raw`` or ``restricted`` is refused for every group
  role the project creates (and PUBLIC), except the pipeline's own, which still reads raw;
* ``cdw setup-roles --personal-data-reader`` makes such a login and ``cdw personal-data-reads``
  prints the log to an auditor, without the personal data read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql

from cdw import personal_data, report, roles, warehouse
from tests.integration import raw_fixtures as rf
from tests.integration.test_publication import _as, _denied

PASSWORD = "test-only-pw"  # the password test_publication's _as logs in with
CDW = str(Path(sys.executable).parent / "cdw")
REASON = "complaint 2026-118: customer disputes a card fee"
NAME, OLD_PHONE, NEW_PHONE, COUNTERPARTY = "王秘密", "+8613900001111", "+8613900002222", "6222029999888877"
ORIGINAL = "C9901,王秘密,F,not-a-date,BACHELOR,上海,+8613912345678,secret@example.cn,MASS,2020-01-01,VERIFIED"
NO_GROUP = "public"  # a login in no cdw group: what PUBLIC may do


@pytest.fixture
def delivered(db):
    """Two snapshots of customer C1 (a new phone on the second), an account and its ledger entries,
    and the original of one record set aside."""
    rf.deliver(db, "2026-03-02", load_id=1, customers=[rf.customer("C1", full_name=NAME, phone=OLD_PHONE)],
               accounts=[rf.account("A1", "C1")],
               transactions=[rf.txn("T1", "A1", "2026-03-02T10:00:00+08:00", "25.00",
                                    counterparty_account=COUNTERPARTY)])
    rf.deliver(db, "2026-03-03", load_id=2, customers=[rf.customer("C1", full_name=NAME, phone=NEW_PHONE)],
               transactions=[rf.txn("T2", "A1", "2026-03-03T09:00:00+08:00", "5.00"),
                             rf.txn("T3", "A9", "2026-03-03T09:30:00+08:00", "7.00")])
    db.execute("insert into restricted.quarantined_originals values (2, 'customers.csv', 3, %s)", (ORIGINAL,))
    return db


@pytest.fixture
def logins(pg_server, warehouse_url):
    """A login of every group role of cdw.roles, and one of no group; dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {group: f"cdw_test_{group.removeprefix('cdw_')}_{suffix}" for group in (*roles.ROLES, NO_GROUP)}
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for group, name in names.items():
            if group == NO_GROUP:
                conn.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(name),
                                                                                 sql.Literal(PASSWORD)))
            else:
                roles.add_login(conn, name, group, PASSWORD)
    yield names
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def _log(conn) -> list[dict]:
    cur = conn.execute("select * from audit.personal_data_reads order by read_id")
    return [dict(zip([d.name for d in cur.description], row, strict=True)) for row in cur.fetchall()]


def test_a_read_through_the_functions_is_logged_with_who_when_what_and_why(delivered, logins, warehouse_url):
    reader = logins[roles.PERSONAL_DATA_READER]
    before = delivered.execute("select clock_timestamp()").fetchone()[0]
    with _as(warehouse_url, reader) as conn:
        customer = conn.execute("select customer_id, full_name, phone, business_date from"
                                " restricted.read_customer('C1', %s, 'CASE-7')", (REASON,)).fetchall()
        statement = conn.execute("select txn_id, counterparty_account from restricted.read_account_statement("
                                 "'A1', '2026-03-01', '2026-03-31', %s)", (REASON,)).fetchall()
        original = conn.execute("select raw_record from restricted.read_set_aside_record("
                                "load_id => 2, file_name => 'customers.csv', line_number => 3, reason => %s)",
                                (REASON,)).fetchall()
        nobody = conn.execute("select * from restricted.read_customer('C404', %s)", (REASON,)).fetchall()
    after = delivered.execute("select clock_timestamp()").fetchone()[0]
    # in clear: the latest snapshot's record, the account's entries only, the original text
    assert customer == [("C1", NAME, NEW_PHONE, date(2026, 3, 3))]
    assert statement == [("T1", COUNTERPARTY), ("T2", "6222000000000000")]
    assert original == [(ORIGINAL,)] and nobody == []

    log = _log(delivered)
    assert [(r["read_function"], r["relation"], r["subject"], r["rows_returned"]) for r in log] == [
        ("restricted.read_customer", "raw.customers", {"customer_id": "C1"}, 1),
        ("restricted.read_account_statement", "raw.transactions",
         {"account_id": "A1", "from_date": "2026-03-01", "to_date": "2026-03-31"}, 2),
        ("restricted.read_set_aside_record", "restricted.quarantined_originals",
         {"load_id": 2, "file_name": "customers.csv", "line_number": 3}, 1),
        ("restricted.read_customer", "raw.customers", {"customer_id": "C404"}, 0),  # someone looked
    ]
    for row in log:
        assert row["reader"] == reader and row["reader_groups"] == [roles.PERSONAL_DATA_READER]
        assert before < row["read_at"] < after and row["reason"] == REASON
        assert row["application_name"] is None  # psycopg names none; cdw's own connections say "cdw"
    assert [r["case_reference"] for r in log] == ["CASE-7", None, None, None]
    assert log[0]["personal_columns"] == ["full_name", "phone", "email"]
    # the log names what was asked for, never what came back
    assert not {NAME, NEW_PHONE, COUNTERPARTY, ORIGINAL} & {v for r in log for v in map(str, r.values())}


@pytest.mark.parametrize(("call", "args", "message"), [
    ("restricted.read_customer('C1', %s)", (None,), "a reason is required"),
    ("restricted.read_customer('C1', %s)", ("",), "a reason is required"),
    ("restricted.read_customer('C1', %s)", ("   checking  ",), "a reason is required"),  # 8 once trimmed
    ("restricted.read_customer('C1', %s)", ("x" * 1001,), "longer than 1000"),
    ("restricted.read_customer('C1', %s, %s)", (REASON, "x" * 101), "case reference is at most 100"),
    ("restricted.read_customer(null, %s)", (REASON,), "customer_id is required"),
    ("restricted.read_account_statement('A1', '2026-03-05', '2026-03-01', %s)", (REASON,), "1 to 366 days"),
    ("restricted.read_account_statement('A1', '2025-01-01', '2026-03-31', %s)", (REASON,), "1 to 366 days"),
    ("restricted.read_account_statement('A1', null, '2026-03-31', %s)", (REASON,), "are required"),
    ("restricted.read_set_aside_record(2, 'customers.csv', 3, %s)", ("why not",), "a reason is required"),
])
def test_a_read_without_a_proper_reason_or_subject_is_refused_returns_nothing_and_logs_nothing(
        delivered, logins, warehouse_url, call, args, message):
    with _as(warehouse_url, logins[roles.PERSONAL_DATA_READER]) as conn, \
            pytest.raises(errors.InvalidParameterValue, match=message):
        conn.execute(f"select * from {call}", args)
    assert _log(delivered) == []


def test_a_read_rolled_back_after_its_rows_were_seen_leaves_a_gap_the_auditor_sees(delivered, logins,
                                                                                    warehouse_url):
    with _as(warehouse_url, logins[roles.PERSONAL_DATA_READER]) as conn:
        conn.execute("select * from restricted.read_customer('C1', %s)", (REASON,))
        with conn.transaction():  # the caller saw the rows, then rolled back
            seen = conn.execute("select full_name from restricted.read_customer('C1', %s)", (REASON,)).fetchall()
            raise psycopg.Rollback
        conn.execute("select * from restricted.read_customer('C1', %s)", (REASON,))
    assert seen == [(NAME,)]
    with _as(warehouse_url, logins[roles.AUDITOR]) as auditor:
        rows = personal_data.reads(auditor)
    assert [r["read_id"] for r in rows] == [1, 3] and personal_data.missing_read_ids(rows) == [2]
    assert "read ids 2 missing" in personal_data.summary(rows, None)


def test_the_log_is_append_only_for_everyone_and_written_by_the_functions_alone(delivered, logins,
                                                                                 warehouse_url):
    with _as(warehouse_url, logins[roles.PERSONAL_DATA_READER]) as conn:
        conn.execute("select * from restricted.read_customer('C1', %s)", (REASON,))
    # the owner of the table and the functions (here a superuser) included: the trigger refuses
    owner = delivered.execute("select pg_get_userbyid(relowner) from pg_class"
                              " where oid = 'audit.personal_data_reads'::regclass").fetchone()[0]
    assert owner == delivered.execute("select current_user").fetchone()[0]
    for statement in ("update audit.personal_data_reads set reason = 'nothing to see here'",
                      "delete from audit.personal_data_reads", "truncate audit.personal_data_reads"):
        with pytest.raises(errors.RaiseException, match="append-only"):
            delivered.execute(statement)
    forged = ("insert into audit.personal_data_reads (reader, reader_groups, read_function, relation,"
              " personal_columns, subject, rows_returned, reason) values"
              " ('someone', '{}', 'x', 'x', '{}', '{}', 0, 'a forged read of nobody')")
    helper = ("select restricted.record_personal_data_read('x', 'x', '{}', '{}', 0,"
              " 'a forged read of nobody', null)")
    for group, login in logins.items():
        with _as(warehouse_url, login) as conn:
            for statement in (forged, helper, "select restricted.personal_data_read_reason('some reason', null)",
                              "update audit.personal_data_reads set reason = 'nothing to see here'",
                              "delete from audit.personal_data_reads", "truncate audit.personal_data_reads"):
                assert _denied(conn, statement), (group, statement)
            # the auditor reads the log; the readers of personal data do not read each other's reads
            assert _denied(conn, "select * from audit.personal_data_reads") == (
                group not in (roles.AUDITOR, roles.LOADER)), group
    assert len(_log(delivered)) == 1


def _group_roles(conn) -> list[str]:
    """Every group role of cdw.roles, and any other cdw_ group the server has (another version's)."""
    existing = {r for (r,) in conn.execute("select rolname from pg_roles where rolname like 'cdw\\_%'"
                                           " and not rolcanlogin").fetchall()}
    assert set(roles.ROLES) <= existing
    return sorted(existing | set(roles.ROLES))


def test_a_direct_read_of_raw_or_restricted_is_refused_for_every_role_but_the_pipelines(
        delivered, logins, warehouse_url, pg_server):
    tables = [sql.Identifier(s, t) for s, t in delivered.execute(
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname in ('raw', 'restricted') and c.relkind in ('r', 'v', 'm', 'p', 'f')"
        " order by 1, 2").fetchall()]
    assert len(tables) >= 7  # the five deliveries, id_ranges, quarantined_originals
    # by oid: a role without usage on restricted cannot even name them
    reading = {f: delivered.execute("select %s::regprocedure::oid", (f,)).fetchone()[0]
               for f in roles.PERSONAL_DATA_FUNCTIONS}
    extra = {}  # a login for a group of the server that roles.py does not know (none, normally)
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        for group in _group_roles(admin):
            if group not in logins:
                extra[group] = f"cdw_test_other_{uuid.uuid4().hex[:8]}"
                admin.execute(sql.SQL("create role {} login password {} in role {}").format(
                    sql.Identifier(extra[group]), sql.Literal(PASSWORD), sql.Identifier(group)))
    try:
        for group, login in {**logins, **extra}.items():
            with _as(warehouse_url, login) as conn:
                for table in tables:
                    statement = sql.SQL("select * from {} limit 1").format(table).as_string(conn)
                    if group == roles.LOADER:
                        conn.execute(statement)  # the pipeline's own role still reads what it loads
                    else:
                        assert _denied(conn, statement), (group, statement)
                for function, oid in reading.items():
                    may = conn.execute("select has_function_privilege(%s, 'execute')", (oid,)).fetchone()[0]
                    assert may == (group == roles.PERSONAL_DATA_READER), (group, function)
        with _as(warehouse_url, logins[roles.LOADER]) as loader:
            assert loader.execute("select full_name from raw.customers where business_date = '2026-03-03'"
                                  ).fetchall() == [(NAME,)]
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            for login in extra.values():
                admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(login)))


def _cdw(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([CDW, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=300)


def _login_url(url: str, login: str) -> str:
    p = warehouse.parse_url(url)
    return warehouse.build_url(warehouse.UrlParts(p.host, p.port, login, PASSWORD, p.dbname))


def test_setup_roles_makes_a_reader_and_an_auditor_reads_the_log_with_the_cli_and_the_page(
        delivered, warehouse_url, pg_server, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    reader, auditor, analyst = (f"cdw_test_{kind}_{suffix}" for kind in ("case", "audit", "bi"))
    try:
        done = _cdw("setup-roles", "--personal-data-reader", reader, "--auditor", auditor, "--analyst", analyst,
                    CDW_LOGIN_PASSWORD=PASSWORD)
        assert done.returncode == 0, done.stderr
        assert f"{reader}: created, member of {roles.PERSONAL_DATA_READER} only" in done.stderr
        assert roles.PERSONAL_DATA_READER in done.stdout.splitlines()[-1]
        with _as(warehouse_url, reader) as conn:
            assert conn.execute("select phone from restricted.read_customer('C1', %s, 'CASE-9')",
                                (REASON + "\nsecond line",)).fetchall() == [(NEW_PHONE,)]
            assert _denied(conn, "select * from analytics.fct_calls")  # nothing else

        shown = _cdw("personal-data-reads", CDW_WAREHOUSE_URL=_login_url(warehouse_url, auditor))
        assert shown.returncode == 0, shown.stderr
        *lines, last = shown.stdout.strip().splitlines()
        assert last == "1 personal-data read(s)" and len(lines) == 1
        assert f"read 1 by {reader} ({roles.PERSONAL_DATA_READER}) restricted.read_customer customer_id=C1:" \
               f" 1 row(s); why: {REASON} second line; case CASE-9" in lines[0]
        as_json = _cdw("personal-data-reads", "--json", "--since", "2026-03-01",
                       CDW_WAREHOUSE_URL=_login_url(warehouse_url, auditor))
        assert as_json.returncode == 0, as_json.stderr
        [read] = json.loads(as_json.stdout.strip().splitlines()[-1])
        assert read["reader"] == reader and read["subject"] == {"customer_id": "C1"}
        assert read["read_at"].endswith("+08:00")  # the bank's zone (the default, Asia/Shanghai)
        tomorrow = (date.today() + timedelta(days=2)).isoformat()
        later = _cdw("personal-data-reads", "--since", tomorrow, CDW_WAREHOUSE_URL=_login_url(warehouse_url, auditor))
        assert later.returncode == 0 and later.stdout.strip() == f"0 personal-data read(s) since {tomorrow}"
        refused = _cdw("personal-data-reads", CDW_WAREHOUSE_URL=_login_url(warehouse_url, analyst))
        assert refused.returncode == 1 and "permission denied" in refused.stderr
        for output in (shown.stdout, as_json.stdout):
            assert NAME not in output and NEW_PHONE not in output

        # the page beside the reports' index (the site links it), as the pipeline writes it
        index = report.write_index(delivered, tmp_path)
        assert 'href="personal-data-reads.html"' in index.read_text(encoding="utf-8")
        page = (tmp_path / personal_data.PAGE).read_text(encoding="utf-8")
        assert reader in page and "customer_id=C1" in page and "CASE-9" in page
        assert NAME not in page and NEW_PHONE not in page
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            for login in (reader, auditor, analyst):
                admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(login)))
