"""Write–audit–publish: analysts only ever see a business date that passed the gate.

:func:`publish` does, for one load of one business date:

1. **write**: dbt builds the marts into the private schema ``build`` (``CDW_DBT_MARTS_SCHEMA``;
   persistent, so the incremental facts rebuild only the date there);
2. **audit**: :func:`cdw.quality.validate` runs the suites on raw and on ``build``;
   a critical failure appends ``FAILED`` (with the failed expectations) to
   ``audit.load_runs``, leaves ``analytics`` untouched and raises :class:`PublicationRefused`;
3. **publish**: ONE transaction (advisory transaction lock ``cdw.publish``) makes every
   mart table of ``analytics`` equal to ``build``, appends to ``audit.publications``, re-grants
   the readers and appends ``PUBLISHED`` to ``audit.load_runs`` — all or nothing.

How a table is published (:func:`sync_table`), in proportion to what changed:

* missing in ``analytics``: ``create table … (like build.t including all)`` (columns, types,
  defaults, constraints, indexes) and copy the rows;
* columns differ (name, type or order): a new table is created and filled, the old one
  dropped and the new one renamed, inside the transaction;
* a fact (``built_at``: when dbt (re)built the row) is replaced date by date: the rows of the
  dates loaded since the last publication (the audit trail's ``audit.load_runs``), of the
  dates holding a row rebuilt since the table's last published watermark (a date repaired
  because a customer's versions were re-cut). The watermark is recorded in
  ``audit.publications``. Publishing a date costs that date, whatever the history's length;
* every other mart (dimensions, as-of snapshots, aggregates of a row per date): rows build no
  longer holds are deleted and rows not yet published inserted, compared whole; rows that
  did not change are not written.

Rows are deleted and inserted, never TRUNCATEd or swapped: an analyst's query that started
before keeps its MVCC snapshot and neither blocks nor is blocked (detaching a partition would
need an ACCESS EXCLUSIVE lock and wait behind it).

Grants survive: ``USAGE`` on ``analytics`` and ``SELECT`` on all its tables are granted again to
``cdw_analyst`` and ``cdw_auditor`` (see :mod:`cdw.roles`) in the same transaction, so a
rebuilt table is never visible without them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from psycopg import sql

from cdw import warehouse
from cdw.quality import QualityOutcome, validate
from cdw.version import code_version

log = logging.getLogger(__name__)

ANALYTICS = "analytics"
READER_ROLES = ("cdw_analyst", "cdw_auditor")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_NOT_MARTS = re.compile(r"^(stg_|int_)|__dbt_(tmp|backup)|__cdw_new$")

class PublicationRefused(Exception):
    """The load was not published (gate failed, dbt failed, or the load is not LOADED)."""

    def __init__(self, message: str, outcome: QualityOutcome | None = None):
        super().__init__(message)
        self.outcome = outcome


@dataclass
class PublicationResult:
    business_date: date
    load_id: int
    tables: dict[str, dict] = field(default_factory=dict)
    build_watermark: datetime | None = None
    quality: QualityOutcome | None = None
    run_results: Path | None = None


# ---------------------------------------------------------------- write


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for a child process (run_dbt passes os.environ on)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_marts(business_date: date, *, url: str | None = None, build_schema: str = "build",
                target_path: str | None = None, args: list[str] | None = None) -> Path:
    """``dbt build`` (models, seeds, tests) of the business date into ``build_schema``; returns run_results.json."""
    from cdw.dbt import DBT_PROJECT_DIR, run_dbt

    _check_identifier(build_schema)
    with _environment(CDW_DBT_MARTS_SCHEMA=build_schema):
        run_dbt(args or ["build"], url=url, vars={"business_date": business_date.isoformat()},
                target_path=target_path)
    return Path(target_path or DBT_PROJECT_DIR / "target") / "run_results.json"


# ---------------------------------------------------------------- publish


def publish(
    business_date: date,
    load_id: int,
    *,
    url: str | None = None,
    build_schema: str = "build",
    build: bool = True,
    validate_first: bool = True,
    target_path: str | None = None,
) -> PublicationResult:
    """Build, audit and publish one load; raise :class:`PublicationRefused` when it may not be published.

    The DAG builds with Cosmos and gates in a task of its own, then calls this with
    ``build=False, validate_first=False``: the gate task's success is the precondition.
    """
    if isinstance(business_date, str):
        business_date = date.fromisoformat(business_date)
    _check_identifier(build_schema)
    url = url or warehouse.warehouse_url()
    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        _require_loaded(conn, load_id, business_date)
    result = PublicationResult(business_date, int(load_id))

    if build:
        from cdw.dbt import DBT_PROJECT_DIR, DbtFailed

        run_results = Path(target_path or DBT_PROJECT_DIR / "target") / "run_results.json"
        try:
            result.run_results = build_marts(business_date, url=url, build_schema=build_schema,
                                             target_path=target_path)
        except DbtFailed as exc:
            _record_dbt_results(url, load_id, business_date, run_results)
            _refuse(url, load_id, business_date, f"dbt build failed: {exc}"[:4000])
            raise PublicationRefused(f"{business_date} load {load_id}: dbt build failed: {exc}") from exc
        _record_dbt_results(url, load_id, business_date, run_results)

    outcome = validate(business_date, load_id, url=url, build_schema=build_schema) if validate_first else None
    result.quality = outcome
    if outcome is not None and not outcome.passed:
        reason = "quality gate: " + outcome.reason()
        _refuse(url, load_id, business_date, reason[:4000])
        raise PublicationRefused(f"{business_date} load {load_id} not published: {reason}", outcome)

    with warehouse.connect(url, pipeline=True) as conn:
        ensure_publications_table(conn)
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('cdw.publish'))")
            _require_loaded(conn, load_id, business_date)  # again, under the lock
            # cdw.roles creates it; CREATE SCHEMA IF NOT EXISTS would still need CREATE on the database
            if conn.execute("select to_regnamespace(%s)", (ANALYTICS,)).fetchone()[0] is None:
                conn.execute(sql.SQL("create schema {}").format(sql.Identifier(ANALYTICS)))
            for table in mart_tables(conn, build_schema):
                result.tables[table] = sync_table(conn, build_schema, table, business_date)
                copy_comments(conn, build_schema, table)
            marks = [t["watermark"] for t in result.tables.values() if t.get("watermark")]
            result.build_watermark = max(marks) if marks else None
            conn.execute(
                "insert into audit.publications (load_id, business_date, build_watermark, tables)"
                " values (%s, %s, %s, %s::jsonb)",
                (load_id, business_date, result.build_watermark, json.dumps(result.tables, default=str)),
            )
            grant_readers(conn)
            _append_status(conn, load_id, business_date, "PUBLISHED", None)
    log.info("%s load %s published: %s", business_date, load_id,
             ", ".join(f"{t} {v['mode']}" for t, v in result.tables.items()))
    return result


def _record_dbt_results(url: str, load_id: int, business_date: date, run_results: Path) -> None:
    """The build's node results into ``audit.dbt_results``; a fault is logged, never raised: it
    must not take the place of dbt's own outcome (the report lists what has no result)."""
    from cdw.dbt_results import record_run_results

    try:
        with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
            record_run_results(conn, load_id, business_date, run_results)
    except Exception as exc:  # noqa: BLE001
        log.warning("%s load %s: dbt results not recorded in audit.dbt_results: %s: %s",
                    business_date, load_id, type(exc).__name__, exc)


def ensure_publications_table(conn) -> None:
    """``audit.publications`` is part of the audit schema (``cdw/sql/schema.sql``)."""
    warehouse.ensure_schema(conn)


def mart_tables(conn, build_schema: str) -> list[str]:
    """The tables of the build schema that are marts (no staging/intermediate, no dbt temp tables)."""
    names = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relkind in ('r', 'p') and not c.relispartition order by c.relname",
        (build_schema,),
    ).fetchall()
    return [name for (name,) in names if not _NOT_MARTS.search(name) and _IDENTIFIER.match(name)]


def _columns(conn, schema: str, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a"
        " where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped order by a.attnum",
        (f"{schema}.{table}",),
    ).fetchall()


def _last_watermark(conn, table: str) -> datetime | None:
    row = conn.execute(
        "select (tables -> %s ->> 'watermark')::timestamptz from audit.publications"
        " where tables -> %s ->> 'watermark' is not null order by publication_id desc limit 1",
        (table, table),
    ).fetchone()
    return row[0] if row else None


def dates_loaded_since_last_publication(conn, business_date: date) -> list[date]:
    """The audit trail's answer to "which business dates changed": the date being published and
    every date loaded (whatever became of the load) after the last publication's load."""
    return [d for (d,) in conn.execute(
        "select %(day)s::date union"
        " select business_date from audit.load_runs"
        " where load_id > coalesce((select load_id from audit.publications"
        "                           order by publication_id desc limit 1), 0)"
        " order by 1", {"day": business_date}).fetchall()]


def sync_table(conn, build_schema: str, table: str, business_date: date) -> dict:
    """Make ``analytics.<table>`` equal to ``<build_schema>.<table>`` (inside the caller's transaction)."""
    src = sql.Identifier(build_schema, table)
    dst = sql.Identifier(ANALYTICS, table)
    build_cols = _columns(conn, build_schema, table)
    published_cols = _columns(conn, ANALYTICS, table)
    names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in build_cols)
    has_built_at = any(c == "built_at" for c, _ in build_cols)
    watermark = None
    if has_built_at:
        watermark = conn.execute(sql.SQL("select max(built_at) from {}").format(src)).fetchone()[0]

    if not published_cols:
        conn.execute(sql.SQL("create table {} (like {} including all)").format(dst, src))
        inserted = conn.execute(sql.SQL("insert into {} ({}) select {} from {}").format(dst, names, names, src)).rowcount
        return {"mode": "created", "rows_deleted": 0, "rows_inserted": inserted, "watermark": watermark}

    if published_cols != build_cols:
        new = f"{table}__cdw_new"
        conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(ANALYTICS, new)))
        conn.execute(sql.SQL("create table {} (like {} including all)").format(sql.Identifier(ANALYTICS, new), src))
        inserted = conn.execute(sql.SQL("insert into {} ({}) select {} from {}").format(
            sql.Identifier(ANALYTICS, new), names, names, src)).rowcount
        deleted = conn.execute(sql.SQL("select count(*) from {}").format(dst)).fetchone()[0]
        conn.execute(sql.SQL("drop table {}").format(dst))
        conn.execute(sql.SQL("alter table {} rename to {}").format(sql.Identifier(ANALYTICS, new), sql.Identifier(table)))
        _rename_indexes(conn, table, new)
        return {"mode": "rebuilt", "rows_deleted": deleted, "rows_inserted": inserted, "watermark": watermark,
                "columns_before": [c for c, _ in published_cols], "columns_after": [c for c, _ in build_cols]}

    last = _last_watermark(conn, table) if has_built_at else None
    if last is None:
        return _sync_changed_rows(conn, src, dst) | {"watermark": watermark}
    return _sync_dates(conn, src, dst, {c for c, _ in build_cols}, names, business_date, last) | {
        "watermark": watermark, "previous_watermark": last}


def _sync_changed_rows(conn, src: sql.Identifier, dst: sql.Identifier) -> dict:
    """Delete the published rows build no longer holds, insert build's rows not yet published.

    For the marts without ``built_at``: aggregates of a row per date (or per date and service),
    dimensions and as-of snapshots, whose size follows the bank's customers or calendar, not
    its ledger. Rows are compared whole (same columns, same order: checked by the caller);
    only changed rows are written, so a night that changes one date writes that date's rows.
    """
    deleted = conn.execute(sql.SQL(
        "delete from {dst} as published where not exists"
        " (select from {src} as built where md5(built::text) = md5(published::text))").format(
        dst=dst, src=src)).rowcount
    inserted = conn.execute(sql.SQL(
        "insert into {dst} select * from {src} as built where not exists"
        " (select from {dst} as published where md5(published::text) = md5(built::text))").format(
        dst=dst, src=src)).rowcount
    return {"mode": "changed_rows", "rows_deleted": deleted, "rows_inserted": inserted}


def _sync_dates(conn, src, dst, col_names: set[str], names, business_date: date, last: datetime) -> dict:
    """A fact, in proportion to the day: replace the rows of the dates that changed since the
    table's last publication: loaded since (the audit trail) or holding rows dbt rebuilt since
    the watermark (a date repaired because a customer's versions were re-cut).

    A row changes date only when both dates are loaded again, so both are among those dates;
    the fact's unique index on its natural key would refuse the publication otherwise.
    """
    date_col = "business_date" if "business_date" in col_names else "date_key"
    d = sql.Identifier(date_col)
    loaded = dates_loaded_since_last_publication(conn, business_date)
    if date_col == "date_key":
        loaded = [int(day.strftime("%Y%m%d")) for day in loaded]
    changed = sorted({v for (v,) in conn.execute(
        sql.SQL("select distinct {d} from {src} where built_at > %s").format(d=d, src=src), (last,)).fetchall()}
        | set(loaded))
    deleted = conn.execute(sql.SQL("delete from {} where {} = any(%s)").format(dst, d), (changed,)).rowcount
    inserted = conn.execute(sql.SQL("insert into {} ({}) select {} from {} where {} = any(%s)").format(
        dst, names, names, src, d), (changed,)).rowcount
    return {"mode": "incremental", "rows_deleted": deleted, "rows_inserted": inserted,
            "dates": [str(v) for v in changed]}


def copy_comments(conn, build_schema: str, table: str) -> int:
    """Give ``analytics.<table>`` and its columns build's comments (dbt's ``persist_docs``: the
    models' descriptions), where they differ; the number of comments set."""
    differing = conn.execute(
        "select b.attname, col_description(b.attrelid, b.attnum), col_description(a.attrelid, a.attnum)"
        " from pg_attribute b join pg_attribute a on a.attname = b.attname"
        " where b.attrelid = to_regclass(%(build)s) and a.attrelid = to_regclass(%(published)s)"
        "   and b.attnum > 0 and not b.attisdropped and a.attnum > 0 and not a.attisdropped"
        " union all"
        " select null, obj_description(to_regclass(%(build)s), 'pg_class'),"
        "        obj_description(to_regclass(%(published)s), 'pg_class')",
        {"build": f"{build_schema}.{table}", "published": f"{ANALYTICS}.{table}"}).fetchall()
    changed = 0
    for column, wanted, present in differing:
        if wanted == present:
            continue
        if column is None:
            statement = sql.SQL("comment on table {} is {}").format(sql.Identifier(ANALYTICS, table),
                                                                    sql.Literal(wanted))
        else:
            statement = sql.SQL("comment on column {} is {}").format(
                sql.Identifier(ANALYTICS, table, column), sql.Literal(wanted))
        conn.execute(statement)
        changed += 1
    return changed


def _rename_indexes(conn, table: str, new: str) -> None:
    """Indexes made by LIKE for ``<table>__cdw_new`` carry that name: give them the table's."""
    for (index,) in conn.execute(
        "select indexrelid::regclass::text from pg_index where indrelid = to_regclass(%s)", (f"{ANALYTICS}.{table}",)
    ).fetchall():
        bare = index.split(".")[-1].strip('"')
        if bare.startswith(new):
            wanted = (table + bare[len(new):])[:63]
            if conn.execute("select to_regclass(%s) is null", (f"{ANALYTICS}.{wanted}",)).fetchone()[0]:
                conn.execute(sql.SQL("alter index {} rename to {}").format(
                    sql.Identifier(ANALYTICS, bare), sql.Identifier(wanted)))


def grant_readers(conn, roles: tuple[str, ...] = READER_ROLES) -> list[str]:
    """Re-apply the readers' grants on ``analytics`` (roles that exist; see cdw.roles.setup_roles)."""
    existing = [r for (r,) in conn.execute("select rolname from pg_roles where rolname = any(%s)",
                                            (list(roles),)).fetchall()]
    if not existing:
        log.warning("no reader role (%s) exists: run cdw.roles.setup_roles", ", ".join(roles))
    for role in existing:
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(ANALYTICS), sql.Identifier(role)))
        conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(
            sql.Identifier(ANALYTICS), sql.Identifier(role)))
    return existing


# ---------------------------------------------------------------- audit trail


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name) or name == ANALYTICS:
        raise ValueError(f"build schema must be a plain identifier other than {ANALYTICS}, got {name!r}")


def _require_loaded(conn, load_id: int, business_date: date) -> None:
    row = conn.execute("select status, business_date from audit.load_runs_latest where load_id = %s",
                       (load_id,)).fetchone()
    if row is None:
        raise PublicationRefused(f"load {load_id} is not in audit.load_runs")
    if row[1] != business_date:
        raise PublicationRefused(f"load {load_id} is for {row[1]}, not {business_date}")
    if row[0] != "LOADED":
        raise PublicationRefused(f"{business_date} load {load_id} is {row[0]}, not LOADED: not published")


def _append_status(conn, load_id: int, business_date: date, status: str, reason: str | None) -> None:
    conn.execute(
        "insert into audit.load_runs (load_id, business_date, started_at, finished_at, status, failure_reason,"
        " code_version, landing_path)"
        " select %s, %s, coalesce(min(started_at), clock_timestamp()), clock_timestamp(), %s, %s, %s,"
        " max(landing_path) from audit.load_runs where load_id = %s",
        (load_id, business_date, status, reason, code_version(), load_id),
    )


def _refuse(url: str, load_id: int, business_date: date, reason: str) -> None:
    """Append FAILED (only while the load is still LOADED: never over a newer status)."""
    with warehouse.connect(url, pipeline=True) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('cdw.publish'))")
        status = conn.execute("select status from audit.load_runs_latest where load_id = %s", (load_id,)).fetchone()
        if status and status[0] == "LOADED":
            _append_status(conn, load_id, business_date, "FAILED", reason)
