"""build.dim_customer: one row per customer version, before publication (whole table: dimensions are small)."""

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named

SUITE = "dim_customer"
TABLE = ("{build}", "dim_customer")
BATCH = ("whole", None)


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="customer_key", severity=CRITICAL), "unique customer_key"),
        named(gxe.ExpectColumnValuesToNotBeNull(column="customer_key", severity=CRITICAL), "required customer_key"),
        named(gxe.ExpectTableRowCountToBeBetween(min_value=1, severity=CRITICAL), "not empty"),
        named(gxe.ExpectCompoundColumnsToBeUnique(column_list=["customer_id", "valid_from"], severity=CRITICAL),
              "one version per (customer_id, valid_from)"),
    ]
