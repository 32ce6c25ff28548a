"""build.campaign_daily: the business date's outbound campaigns, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query
from ._management import calls_of_the_date

SUITE = "campaign_daily"
TABLE = ("{build}", "campaign_daily")
BATCH = ("daily", "calendar_date")

RATES = ("connect_rate", "conversion_rate", "attempt_conversion_rate")


def expectations(p: SuiteParams) -> list:
    out = [
        named(gxe.ExpectColumnValuesToBeUnique(column="campaign_id", severity=CRITICAL), "one row per campaign"),
        rows_query(
            "counts nest",
            "select campaign_id, attempted, connected, converted from {batch}"
            " where attempted < 1 or connected > attempted or converted > connected",
            CRITICAL,
            "converted <= connected <= attempted, and a campaign's row has an attempt",
        ),
        rows_query(
            "attempts add up to fct_calls",
            f"""
            with mart as (select coalesce(sum(attempted), 0) as attempted from {{batch}}),
            calls as (
                select count(*) as attempted
                from ({calls_of_the_date(p, "direction = 'OUTBOUND' and campaign_id is not null")}) as c
            )
            select mart.attempted as mart_attempted, calls.attempted as fact_attempted
            from mart, calls where mart.attempted <> calls.attempted
            """,
            CRITICAL,
            "the date's attempts equal the date's outbound fct_calls rows with a campaign",
        ),
    ]
    return out + [
        named(gxe.ExpectColumnValuesToBeBetween(column=rate, min_value=0, max_value=1, severity=CRITICAL),
              f"{rate} in [0, 1]")
        for rate in RATES
    ]
