"""raw.transactions: the landing contract's rules for the business date's rows of one load."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, raw_suite, rows_query

SUITE = "raw_transactions"
TABLE = ("raw", "transactions")
BATCH = ("daily", "business_date")
FILE_ENTITY = "transactions"


def expectations(p: SuiteParams) -> list:
    return raw_suite("transactions", p) + [
        rows_query(
            "txn_ts falls on the business date",
            f"select txn_id, txn_ts from {{batch}} where cast(txn_ts at time zone {p.tz_literal} as date) <> business_date",
            CRITICAL,
            "every ledger entry is posted on the business date in the bank's zone",
        ),
        named(gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, strict_min=True, severity=CRITICAL),
              "amount > 0"),
        rows_query(
            "branch_id required for BRANCH",
            "select txn_id from {batch} where channel = 'BRANCH' and branch_id is null",
            CRITICAL,
            "a branch entry names its branch",
        ),
    ]
