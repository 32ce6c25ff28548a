"""build.dim_date: one row per calendar day, before publication (whole table: dimensions are small)."""

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named

SUITE = "dim_date"
TABLE = ("{build}", "dim_date")
BATCH = ("whole", None)


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="date_key", severity=CRITICAL), "unique date_key"),
        named(gxe.ExpectColumnValuesToNotBeNull(column="date_key", severity=CRITICAL), "required date_key"),
        named(gxe.ExpectTableRowCountToBeBetween(min_value=1, severity=CRITICAL), "not empty"),
        named(gxe.ExpectColumnValuesToBeBetween(column="day_of_week", min_value=1, max_value=7,
                                                severity=CRITICAL), "day_of_week in 1..7"),
    ]
