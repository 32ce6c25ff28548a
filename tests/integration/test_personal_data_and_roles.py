"""Least privilege and personal data, over real connections of real login roles.

One generated business date (plus a few bad records carrying personal data, so that the
audit trail sets some aside) is loaded, built, gated and published by a login that
is nothing but a member of ``cdw_loader``: the pipeline needs no superuser. Then:

* every table and view the pipeline replaces is owned by ``cdw_loader``, the audit trail
  is not (so the loader cannot drop its append-only triggers);
* analysts and auditors can read nothing that holds a personal value in clear, whatever
  the table or column (the values are read from raw, the restricted side);
* the pseudonyms analysts get are HMAC-SHA256 under the configured key, equal to
  Python's ``hmac``; analysts cannot compute them and cannot read ``restricted``;
* the key is in no file dbt wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from datetime import date

import psycopg
import pytest
from psycopg import errors, sql

from cdw import warehouse
from cdw.generate import generate_landing
from cdw.landing import contract
from cdw.load import load_date
from cdw.pseudonyms import PseudonymKeyError, key_blocks, resolve_key, session_options
from cdw.publication import publish

pytestmark = pytest.mark.slow

DAY = date(2026, 3, 2)
PASSWORD = "test-only-pw"
#: Personal values of the records the fixture makes the load set aside.
SET_ASIDE_PERSONAL = ("王秘密", "+8613912345678", "secret.person@example.cn", "+8613700001111")
PERSONAL = {
    "raw.customers": ("full_name", "phone", "email"),
    "raw.calls": ("caller_number",),
    "raw.transactions": ("counterparty_account",),
    "raw.agents": ("agent_name",),
}


@pytest.fixture(scope="module")
def module_warehouse(pg_server, template_db):
    """A database of the module's own (the pipeline run below is shared by its tests)."""
    name = f"cdw_test_pii_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name),
                                                                        sql.Identifier(template_db)))
    yield warehouse.with_database(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def logins(pg_server, module_warehouse):
    """LOGIN roles that are members of one group role each; dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {group: f"cdw_test_{group.removeprefix('cdw_')}_{suffix}"
             for group in ("cdw_loader", "cdw_analyst", "cdw_auditor")}
    with psycopg.connect(module_warehouse, autocommit=True) as conn:
        for group, name in names.items():
            conn.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(name),
                                                                             sql.Literal(PASSWORD)))
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(name)))
    yield names
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def login_url(url: str, role: str) -> str:
    p = warehouse.parse_url(url)
    return warehouse.build_url(warehouse.UrlParts(p.host, p.port, role, PASSWORD, p.dbname))


def _append_records(drop, entity: str, records: list[str]) -> None:
    """Append lines to a delivered file and keep the manifest true to it."""
    name = contract.BY_ENTITY[entity].base_name
    path = drop / name
    path.write_bytes(path.read_bytes() + "".join(r + "\n" for r in records).encode("utf-8"))
    manifest_path = drop / contract.MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][name]["rows"] += len(records)
    manifest["files"][name]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.fixture(scope="module")
def published(module_warehouse, logins, tmp_path_factory):
    """One date, with bad records carrying personal data, loaded, built and published by the loader's
    login (no superuser)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _publish_as_loader(module_warehouse, logins, tmp_path_factory.mktemp("pii"), monkeypatch)


def _publish_as_loader(warehouse_url, logins, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    generate_landing(landing, DAY, DAY, seed=5, customers=300, agents=12, transactions_per_day=600,
                     calls_per_day=300, gzip=False)
    drop = landing / DAY.isoformat()
    name, phone, email, caller = SET_ASIDE_PERSONAL
    _append_records(drop, "customers", [f"C9901,{name},F,not-a-date,BACHELOR,上海,{phone},{email},MASS,"
                                        "2020-01-01,VERIFIED"])
    _append_records(drop, "calls", [json.dumps({"call_id": "K-BAD-1", "direction": "SIDEWAYS",
                                                "caller_number": caller}, ensure_ascii=False)])
    monkeypatch.setenv("CDW_QUARANTINE_THRESHOLD", "0.05")
    loader_url = login_url(warehouse_url, logins["cdw_loader"])
    monkeypatch.setenv("CDW_WAREHOUSE_URL", loader_url)
    with psycopg.connect(loader_url) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (False,)
    target = tmp_path / "target"
    load_id = load_date(landing, DAY, url=loader_url).load_id
    publish(DAY, load_id, url=loader_url, target_path=str(target), validate_first=False)
    return warehouse_url, target


def _readable_text_columns(conn) -> list[tuple[str, str, str]]:
    """(schema, relation, column) of every text column the connected role may select."""
    return conn.execute(
        "select n.nspname, c.relname, a.attname from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace"
        " join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'"
        " and c.relkind in ('r', 'v', 'm', 'p', 'f')"
        " and a.atttypid in ('text'::regtype, 'varchar'::regtype, 'jsonb'::regtype, 'json'::regtype,"
        "                    'text[]'::regtype)"
        " and has_schema_privilege(n.oid, 'usage') and has_table_privilege(c.oid, 'select')"
        " order by 1, 2, 3").fetchall()


def _personal_values(admin) -> tuple[list[str], list[str]]:
    """(long values, searched as substrings; short values (names), compared whole)."""
    values: set[str] = set()
    for table, columns in PERSONAL.items():
        for column in columns:
            query = sql.SQL("select distinct {} from {} where {} is not null").format(
                sql.Identifier(column), sql.SQL(table), sql.Identifier(column))
            values |= {v for (v,) in admin.execute(query).fetchall() if v.strip()}
    values |= set(SET_ASIDE_PERSONAL)  # only in restricted.quarantined_originals
    # a phone number, e-mail or account cannot turn up inside other text by chance; a
    # two-character name could, so names must not appear as a whole value
    return sorted(v for v in values if len(v) >= 6), sorted(v for v in values if len(v) < 6)


def _leaks(conn, long_values: list[str], short_values: list[str]) -> list[str]:
    leaks = []
    for schema, table, column in _readable_text_columns(conn):
        as_text = sql.SQL("cast({} as text)").format(sql.Identifier(column))
        query = sql.SQL(
            "select count(*) from {t} where {c} = any(%s)"
            " or exists (select 1 from unnest(%s::text[]) v where strpos({c}, v) > 0)").format(
            t=sql.Identifier(schema, table), c=as_text)
        if conn.execute(query, (short_values, long_values)).fetchone()[0]:
            leaks.append(f"{schema}.{table}.{column}")
    return leaks


def test_the_pipeline_needs_no_superuser_and_owns_what_it_replaces(published):
    url, _ = published
    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("select status from audit.load_runs_latest where business_date = %s",
                             (DAY,)).fetchone() == ("PUBLISHED",)
        owners = dict(admin.execute(
            "select n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner) from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname in ('staging', 'build', 'analytics', 'audit') and c.relkind in ('r', 'v')").fetchall())
    replaced = {r: o for r, o in owners.items() if not r.startswith("audit.")}
    assert any(r.startswith("analytics.") for r in replaced) and any(r.startswith("build.") for r in replaced)
    assert set(replaced.values()) == {"cdw_loader"}, replaced
    assert "cdw_loader" not in {o for r, o in owners.items() if r.startswith("audit.")}


def test_the_loader_writes_but_cannot_rewrite_the_audit_trail(published, logins):
    url, _ = published
    with psycopg.connect(login_url(url, logins["cdw_loader"]), autocommit=True) as loader:
        loader.execute("set role cdw_loader")
        assert loader.execute("select count(*) from restricted.quarantined_originals").fetchone()[0] > 0
        assert loader.execute("select count(*) from raw.customers").fetchone()[0] > 0
        for statement in ("delete from audit.load_runs", "update audit.quarantined_records set reasons = '{}'",
                          "truncate audit.alerts", "alter table audit.load_runs disable trigger append_only",
                          "drop table audit.validation_results", "create role intruder",
                          "create schema elsewhere"):
            with pytest.raises((errors.InsufficientPrivilege, errors.RaiseException)):
                loader.execute(statement)


def test_the_pipeline_records_dbt_results_that_no_role_can_rewrite(published, logins):
    """The loader's own dbt build (the fixture's publish) recorded every node's result in
    audit.dbt_results; the loader cannot change them, the auditor only reads them, the analyst
    not even that, and the trigger refuses changes whoever asks."""
    url, _ = published
    with psycopg.connect(login_url(url, logins["cdw_loader"]), autocommit=True) as loader:
        loader.execute("set role cdw_loader")
        recorded, kinds, not_passed = loader.execute(
            "select count(*), array_agg(distinct resource_type order by resource_type),"
            " count(*) filter (where status not in ('success', 'pass')) from audit.dbt_results").fetchone()
        assert recorded > 0 and not_passed == 0
        assert kinds == ["model", "seed", "test", "unit_test"]
        for statement in ("update audit.dbt_results set status = 'pass'", "delete from audit.dbt_results",
                          "truncate audit.dbt_results", "alter table audit.dbt_results disable trigger append_only",
                          "drop table audit.dbt_results"):
            with pytest.raises((errors.InsufficientPrivilege, errors.RaiseException)):
                loader.execute(statement)
    with psycopg.connect(login_url(url, logins["cdw_auditor"]), autocommit=True) as auditor:
        assert auditor.execute("select count(*) from audit.dbt_results").fetchone()[0] == recorded
        for statement in ("insert into audit.dbt_results (load_id, business_date, invocation_id, unique_id,"
                          " resource_type, status) values (0, '2026-03-02', 'x', 'model.cdw.x', 'model', 'success')",
                          "update audit.dbt_results set status = 'pass'", "delete from audit.dbt_results"):
            with pytest.raises(errors.InsufficientPrivilege):
                auditor.execute(statement)
    with psycopg.connect(login_url(url, logins["cdw_analyst"]), autocommit=True) as analyst:
        with pytest.raises(errors.InsufficientPrivilege):
            analyst.execute("select count(*) from audit.dbt_results")
    with psycopg.connect(url, autocommit=True) as owner:
        for statement in ("update audit.dbt_results set status = 'pass'", "delete from audit.dbt_results",
                          "truncate audit.dbt_results"):
            with pytest.raises(errors.RaiseException, match="append-only"):
                owner.execute(statement)
        assert owner.execute("select count(*) from audit.dbt_results").fetchone()[0] == recorded


@pytest.mark.parametrize("group", ["cdw_analyst", "cdw_auditor"])
def test_readers_see_no_personal_data_anywhere_they_can_read(published, logins, group):
    url, _ = published
    with psycopg.connect(url, autocommit=True) as admin:
        long_values, short_values = _personal_values(admin)
        quarantined = admin.execute("select count(*) from audit.quarantined_records").fetchone()[0]
    assert "+8613912345678" in long_values and "王秘密" in short_values and quarantined == 2
    with psycopg.connect(login_url(url, logins[group]), autocommit=True) as reader:
        readable = {f"{s}.{t}" for s, t, _ in _readable_text_columns(reader)}
        assert "analytics.fct_calls" in readable
        assert ("audit.quarantined_records" in readable) == (group == "cdw_auditor")
        assert not {r for r in readable if r.split(".")[0] in ("raw", "restricted", "staging", "build")}
        assert _leaks(reader, long_values, short_values) == []
        for statement in ("select * from restricted.quarantined_originals", "select * from raw.calls",
                          "select restricted.pseudonym('13800000000')", "select * from cdw_meta.schema_versions"):
            with pytest.raises(errors.InsufficientPrivilege):
                reader.execute(statement)
    # the search itself can find a leak: the admin reads raw and restricted (and the staging
    # views, which compute pseudonyms: hence the key)
    key = os.environ["CDW_PSEUDONYM_KEY"].encode()
    with psycopg.connect(url, autocommit=True, options=" ".join(session_options(key))) as admin:
        found = _leaks(admin, long_values, short_values)
    assert {"raw.calls.caller_number", "restricted.quarantined_originals.raw_record"} <= set(found)


def test_pseudonyms_are_hmac_sha256_under_the_configured_key(published, logins):
    url, target = published
    key = os.environ["CDW_PSEUDONYM_KEY"].encode()
    with psycopg.connect(url, autocommit=True) as admin:
        calls = admin.execute(
            "select r.caller_number, f.caller_key from raw.calls r join analytics.fct_calls f using (call_id)"
            " where r.business_date = %s", (DAY,)).fetchall()
        entries = admin.execute(
            "select r.counterparty_account, f.counterparty_account_key from raw.transactions r"
            " join analytics.fct_transactions f using (txn_id) where r.business_date = %s", (DAY,)).fetchall()
    for value, key_hex in calls + entries:
        expected = None if value is None else hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
        assert key_hex == expected, value
    assert sum(v is not None for v, _ in calls) > 50 and sum(v is not None for v, _ in entries) > 20
    # an analyst counts distinct callers without seeing one
    with psycopg.connect(login_url(url, logins["cdw_analyst"]), autocommit=True) as analyst:
        distinct = analyst.execute("select count(distinct caller_key) from analytics.fct_calls").fetchone()[0]
    assert distinct == len({v for v, _ in calls if v is not None})
    # the key and its blocks are in no file dbt wrote
    secrets_ = [key.decode(), *key_blocks(key)]
    for path in target.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not any(s in text for s in secrets_), f"{path} holds the pseudonymisation key"


def test_the_warehouse_hmac_equals_pythons_for_any_key_and_value(warehouse_url):
    values = ["13800138000", "王小明", "", "a'b\"; drop table x; --", "x" * 5000]
    for key in (b"k" * 32, "密钥".encode() * 20, os.urandom(100).hex().encode()):
        with psycopg.connect(warehouse_url, autocommit=True, options=" ".join(session_options(key))) as conn:
            for value in values:
                got = conn.execute("select restricted.pseudonym(%s)", (value,)).fetchone()[0]
                assert got == hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
            assert conn.execute("select restricted.pseudonym(null)").fetchone()[0] is None
    with psycopg.connect(warehouse_url, autocommit=True) as conn, \
            pytest.raises(errors.RaiseException, match="no pseudonymisation key"):
        conn.execute("select restricted.pseudonym('13800138000')")


def test_a_configured_warehouse_without_a_key_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("CDW_HOME", str(tmp_path))
    monkeypatch.setenv("CDW_WAREHOUSE_URL", "postgresql://cdw@db.example/cdw")
    monkeypatch.delenv("CDW_PSEUDONYM_KEY")
    with pytest.raises(PseudonymKeyError, match="CDW_PSEUDONYM_KEY"):
        resolve_key()
    monkeypatch.setenv("CDW_PSEUDONYM_KEY", "short")
    with pytest.raises(PseudonymKeyError, match="at least 32"):
        resolve_key()
    # the embedded warehouse of a developer's machine gets a key of its own, kept
    monkeypatch.delenv("CDW_PSEUDONYM_KEY")
    monkeypatch.delenv("CDW_WAREHOUSE_URL")
    first = resolve_key()
    assert first == resolve_key() and len(first) >= 32
    assert (tmp_path / "pseudonym.key").stat().st_mode & 0o777 == 0o600
