"""build.dim_account: one row per account, before publication (whole table: dimensions are small)."""

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named

SUITE = "dim_account"
TABLE = ("{build}", "dim_account")
BATCH = ("whole", None)


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="account_key", severity=CRITICAL), "unique account_key"),
        named(gxe.ExpectColumnValuesToNotBeNull(column="account_key", severity=CRITICAL), "required account_key"),
        named(gxe.ExpectTableRowCountToBeBetween(min_value=1, severity=CRITICAL), "not empty"),
    ]
