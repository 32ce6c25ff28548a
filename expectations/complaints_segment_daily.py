"""build.complaints_segment_daily: the business date's complaints per segment, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query
from ._management import calls_of_the_date

SUITE = "complaints_segment_daily"
TABLE = ("{build}", "complaints_segment_daily")
BATCH = ("daily", "calendar_date")


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="segment", severity=CRITICAL), "one row per segment"),
        named(gxe.ExpectColumnValuesToBeInSet(column="segment", value_set=["MASS", "AFFLUENT", "PRIVATE", "UNKNOWN"],
                                              severity=CRITICAL), "segment is a segment or UNKNOWN"),
        named(gxe.ExpectColumnValuesToBeBetween(column="complaints", min_value=0, severity=CRITICAL),
              "complaints >= 0"),
        rows_query(
            "rate as defined",
            "select segment, complaints, customers, complaints_per_1000_customers from {batch}"
            " where (complaints_per_1000_customers is null) <> (coalesce(customers, 0) = 0)"
            " or abs(complaints_per_1000_customers - 1000.0 * complaints / nullif(customers, 0)) > 1e-9",
            CRITICAL,
            "complaints_per_1000_customers = 1000 x complaints / customers (NULL without customers)",
        ),
        rows_query(
            "complaints add up to fct_calls",
            f"""
            with mart as (select coalesce(sum(complaints), 0) as complaints from {{batch}}),
            calls as (
                select count(*) as complaints
                from ({calls_of_the_date(p, "reason_code = 'COMPLAINT'")}) as c
            )
            select mart.complaints as mart_complaints, calls.complaints as fact_complaints
            from mart, calls where mart.complaints <> calls.complaints
            """,
            CRITICAL,
            "the date's complaints over all segments equal the date's fct_calls rows with reason COMPLAINT",
        ),
    ]
