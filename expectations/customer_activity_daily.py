"""build.customer_activity_daily: the business date's open, dormant and effective accounts, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query

SUITE = "customer_activity_daily"
TABLE = ("{build}", "customer_activity_daily")
BATCH = ("daily", "calendar_date")


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectTableRowCountToBeBetween(max_value=1, severity=CRITICAL), "at most one row per date"),
        rows_query(
            "counts nest",
            "select calendar_date, open_accounts, dormant_accounts, effective_accounts,"
            " customers_with_open_account, effective_customers, accounts_turned_dormant, accounts_reactivated"
            " from {batch} where dormant_accounts > open_accounts or effective_accounts > open_accounts"
            " or dormant_accounts + effective_accounts > open_accounts"
            " or customers_with_open_account > open_accounts"
            " or effective_customers > customers_with_open_account or effective_customers > effective_accounts"
            " or accounts_turned_dormant > dormant_accounts or accounts_reactivated > open_accounts - dormant_accounts"
            " or least(open_accounts, dormant_accounts, effective_accounts, customers_with_open_account,"
            "          effective_customers, accounts_turned_dormant, accounts_reactivated) < 0",
            CRITICAL,
            "dormant and effective accounts are disjoint parts of the open ones; customers and transitions "
            "never exceed the accounts they count",
        ),
    ]
