"""build.channel_mix_daily: the business date's channel mix, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query

SUITE = "channel_mix_daily"
TABLE = ("{build}", "channel_mix_daily")
BATCH = ("daily", "calendar_date")


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeBetween(column="share_of_txn_count", min_value=0, max_value=1,
                                                severity=CRITICAL), "share_of_txn_count in [0, 1]"),
        named(gxe.ExpectColumnValuesToBeBetween(column="txn_count", min_value=1, severity=CRITICAL),
              "txn_count >= 1"),
        rows_query(
            "shares sum to 1 per date",
            "select calendar_date, sum(share_of_txn_count) as total_share from {batch} "
            "group by calendar_date having abs(sum(share_of_txn_count) - 1) > 1e-9",
            CRITICAL,
            "the day's channel shares add up to 1",
        ),
    ]
