"""Helpers shared by the suites: names, contract-driven raw suites, SQL fragments."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import great_expectations.expectations as gxe

from cdw.landing import contract

CRITICAL, WARNING = "critical", "warning"

# How GX 1.24 spells a PostgreSQL column type (str() of the reflected SQLAlchemy type:
# PostgreSQL is one of GX's case-insensitive dialects, compared as strings, not classes).
GX_SQL_TYPES = {
    "text": "TEXT",
    "numeric(18,2)": "NUMERIC(18, 2)",
    "timestamptz": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "bigint": "BIGINT",
}


@dataclass(frozen=True)
class SuiteParams:
    """What a suite needs to know about the run it audits."""

    business_date: date
    load_id: int
    build_schema: str
    timezone: str
    #: rows loaded per landing entity for this load (audit.file_reconciliation.rows_loaded)
    rows_loaded: dict[str, int] = field(default_factory=dict)
    #: relative deviation from the trailing same-weekday mean that the volume check accepts
    volume_tolerance: float = 0.5
    volume_severity: str = WARNING
    #: runs a small scalar query (e.g. how many comparable weeks exist); never a table pull
    scalar: Callable[[str, tuple], object] | None = None

    @property
    def date_literal(self) -> str:
        # business_date is a datetime.date: its isoformat is safe inside SQL text
        return f"date '{self.business_date.isoformat()}'"

    @property
    def tz_literal(self) -> str:
        if not all(ch.isalnum() or ch in "_+-/" for ch in self.timezone):
            raise ValueError(f"not a time zone name: {self.timezone!r}")
        return f"'{self.timezone}'"

    def trailing_weeks(self, weeks: int = 4) -> list[date]:
        return [self.business_date - timedelta(days=7 * k) for k in range(1, weeks + 1)]


def named(expectation, name: str, **meta):
    """Attach the short name recorded in the audit trail."""
    expectation.meta = {**(expectation.meta or {}), "name": name, **meta}
    return expectation


def rows_query(name: str, query: str, severity: str, description: str, **meta):
    """An UnexpectedRowsExpectation: ``query`` returns the offending rows (none: success)."""
    return named(
        gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, description=description, severity=severity),
        name,
        **meta,
    )


def raw_suite(entity: str, p: SuiteParams) -> list:
    """The contract's rules for ``raw.<entity>``, for the business date's batch of one load."""
    src = contract.BY_ENTITY[entity]
    out = [
        named(
            gxe.ExpectTableColumnsToMatchSet(
                column_set=["load_id", "business_date", "source_row", *src.column_names],
                exact_match=True,
                severity=CRITICAL,
            ),
            "columns match the contract",
        ),
        named(
            gxe.ExpectTableRowCountToEqual(value=int(p.rows_loaded.get(entity, 0)), severity=CRITICAL),
            "row count = manifest rows loaded",
        ),
        # freshness: no record of the date's batch comes from another load (as offending rows:
        # a distinct-values check observes nothing, and fails, on a day without records)
        rows_query(
            "freshness: batch is this load",
            f"select load_id, count(*) as records from {{batch}} where load_id <> {int(p.load_id)} group by load_id",
            CRITICAL,
            "every record of the business date's batch was loaded by the load being validated",
        ),
    ]
    for bookkeeping, sql_type in (("load_id", "bigint"), ("business_date", "date"), ("source_row", "bigint")):
        out.append(named(gxe.ExpectColumnValuesToBeOfType(column=bookkeeping, type_=GX_SQL_TYPES[sql_type],
                                                           severity=CRITICAL), f"type {bookkeeping}"))
    for col in src.columns:
        out.append(named(gxe.ExpectColumnValuesToBeOfType(column=col.name, type_=GX_SQL_TYPES[col.sql_type],
                                                           severity=CRITICAL), f"type {col.name}"))
        if col.required:
            out.append(named(gxe.ExpectColumnValuesToNotBeNull(column=col.name, severity=CRITICAL),
                             f"required {col.name}"))
        if col.codes:
            out.append(named(gxe.ExpectColumnValuesToBeInSet(column=col.name, value_set=sorted(col.codes),
                                                             severity=CRITICAL), f"code set {col.name}"))
        if col.min_value is not None or col.max_value is not None:
            out.append(named(gxe.ExpectColumnValuesToBeBetween(column=col.name, min_value=col.min_value,
                                                               max_value=col.max_value, severity=CRITICAL),
                             f"range {col.name}"))
        if col.max_len:
            out.append(named(gxe.ExpectColumnValueLengthsToBeBetween(column=col.name, max_value=col.max_len,
                                                                     severity=CRITICAL), f"length {col.name}"))
    out.append(named(gxe.ExpectColumnValuesToBeUnique(column=src.id_column, severity=CRITICAL),
                     f"unique {src.id_column} for the business date"))
    if src.id_unique_across_history:
        out.append(rows_query(
            f"{src.id_column} unique across history",
            f"select b.{src.id_column}, o.business_date as other_business_date from {{batch}} as b "
            f"join raw.{entity} as o on o.{src.id_column} = b.{src.id_column} "
            f"and o.business_date <> b.business_date{_only_dates_sharing_ids(src, p)}",
            CRITICAL,
            f"no {src.id_column} of the date was already loaded for another business date",
        ))
    return out


def _only_dates_sharing_ids(src: contract.SourceFile, p: SuiteParams) -> str:
    """The other dates that can hold one of the date's ids, as a condition on ``o.business_date``.

    Those whose id range (``raw.id_ranges``, the lowest and highest id of each date's load)
    overlaps the range of the date's ids, computed here from the raw rows themselves. With ids
    issued in increasing order, as core systems issue them, there are none, and the check reads
    the date's rows only: joining every date's ids read all history, a little more every night.
    """
    if p.scalar is None:  # no connection to ask: every other date
        return ""
    dates = p.scalar(
        f"select coalesce(array_agg(r.business_date order by r.business_date), '{{}}')"
        f" from raw.id_ranges as r,"
        f" (select min({src.id_column} collate \"C\") as lowest, max({src.id_column} collate \"C\") as highest"
        f"  from raw.{src.entity} where business_date = %s and load_id = %s) as day"
        f" where r.entity = %s and r.business_date <> %s"
        f" and r.lowest_id <= day.highest and r.highest_id >= day.lowest",
        (p.business_date, p.load_id, src.entity, p.business_date),
    )
    listed = ", ".join(f"date '{d.isoformat()}'" for d in dates)  # date objects from PostgreSQL
    return f" and o.business_date = any(array[{listed}]::date[])"


def volume_check(p: SuiteParams, table: str, what: str) -> list:
    """Warn when the day's row count deviates from the trailing 4 same weekdays' mean by > tolerance.

    With fewer than 2 comparable weeks (dates with rows in the build fact), the check passes
    and says so in its note.
    """
    weeks = ", ".join(f"date '{d.isoformat()}'" for d in p.trailing_weeks())
    fact = f"{p.build_schema}.{table}"
    comparable = None
    if p.scalar is not None:
        comparable = p.scalar(
            f"select count(distinct business_date) from {fact} where business_date in ({weeks})", ()
        )
    note = (
        f"only {comparable} comparable week(s) of the same weekday: volume not judged"
        if comparable is not None and comparable < 2
        else f"{comparable} comparable week(s); tolerance ±{p.volume_tolerance:.0%}"
    )
    query = f"""
        with day as (select count(*) as rows_today from {{batch}}),
        previous_weeks as (
            select business_date, count(*) as n from {fact}
            where business_date in ({weeks}) group by business_date
        ),
        base as (select avg(n) as trailing_mean, count(*) as weeks from previous_weeks)
        select day.rows_today, round(base.trailing_mean, 1) as trailing_mean, base.weeks
        from day, base
        where base.weeks >= 2
          and abs(day.rows_today - base.trailing_mean) > {float(p.volume_tolerance)} * base.trailing_mean
    """
    return [rows_query(
        f"volume of {what} within ±{p.volume_tolerance:.0%} of the trailing 4 {p.business_date:%A}s",
        query,
        p.volume_severity,
        f"{what} of the day within ±{p.volume_tolerance:.0%} of the mean of the same weekday "
        f"in the previous 4 weeks",
        note=note,
        comparable_weeks=comparable,
    )]


def joins_dimension(fact_key: str, dim: str, dim_key: str, p: SuiteParams, fact_id: str) -> object:
    return rows_query(
        f"every row joins {dim}",
        f"select f.{fact_id}, f.{fact_key} from {{batch}} as f "
        f"left join {p.build_schema}.{dim} as d on d.{dim_key} = f.{fact_key} "
        f"where d.{dim_key} is null",
        CRITICAL,
        f"every fact row's {fact_key} is a row of {dim}",
    )
