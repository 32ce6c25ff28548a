"""build.complaints_daily: the business date's complaint calls per service and team, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query
from ._management import calls_of_the_date

SUITE = "complaints_daily"
TABLE = ("{build}", "complaints_daily")
BATCH = ("daily", "calendar_date")


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectCompoundColumnsToBeUnique(column_list=["service", "team"], severity=CRITICAL),
              "one row per (service, team)"),
        named(gxe.ExpectColumnValuesToBeBetween(column="first_contact_resolution_share", min_value=0,
                                                max_value=1, severity=CRITICAL),
              "first_contact_resolution_share in [0, 1]"),
        rows_query(
            "counts nest",
            "select service, team, complaints, complaining_customers, resolved_first_contact, repeat_complaints"
            " from {batch} where complaints < 1 or complaining_customers > complaints"
            " or resolved_first_contact > complaints or repeat_complaints > complaints",
            CRITICAL,
            "customers, first-contact resolutions and repeats never exceed the complaints",
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
            "the date's complaints equal the date's fct_calls rows with reason COMPLAINT",
        ),
    ]
