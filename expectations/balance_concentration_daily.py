"""build.balance_concentration_daily: the business date's deposit concentration, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query

SUITE = "balance_concentration_daily"
TABLE = ("{build}", "balance_concentration_daily")
BATCH = ("daily", "calendar_date")


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectTableRowCountToBeBetween(max_value=1, severity=CRITICAL), "at most one row per date"),
        named(gxe.ExpectColumnValuesToBeBetween(column="top_share_of_balance", min_value=0, max_value=1,
                                                severity=CRITICAL), "top_share_of_balance in [0, 1]"),
        rows_query(
            "top within the whole",
            "select calendar_date, customers_with_balance, top_customers, total_balance, top_balance from {batch}"
            " where top_customers < 1 or top_customers > customers_with_balance"
            " or top_balance <= 0 or top_balance > total_balance",
            CRITICAL,
            "the top customers are some of the customers with a balance, and hold part of the total",
        ),
    ]
