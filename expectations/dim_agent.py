"""build.dim_agent: one row per agent, before publication (whole table: dimensions are small)."""

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named

SUITE = "dim_agent"
TABLE = ("{build}", "dim_agent")
BATCH = ("whole", None)


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="agent_key", severity=CRITICAL), "unique agent_key"),
        named(gxe.ExpectColumnValuesToNotBeNull(column="agent_key", severity=CRITICAL), "required agent_key"),
        named(gxe.ExpectTableRowCountToBeBetween(min_value=1, severity=CRITICAL), "not empty"),
    ]
