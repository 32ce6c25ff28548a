"""build.dim_channel: one row per channel, before publication (whole table: dimensions are small)."""

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named

SUITE = "dim_channel"
TABLE = ("{build}", "dim_channel")
BATCH = ("whole", None)


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="channel_key", severity=CRITICAL), "unique channel_key"),
        named(gxe.ExpectColumnValuesToNotBeNull(column="channel_key", severity=CRITICAL), "required channel_key"),
        named(gxe.ExpectTableRowCountToBeBetween(min_value=1, severity=CRITICAL), "not empty"),
        named(gxe.ExpectColumnValuesToBeInSet(column="channel_group",
                                              value_set=["SELF_SERVICE", "DIGITAL", "ASSISTED", "INTERNAL", "UNKNOWN"],
                                              severity=CRITICAL), "code set channel_group"),
    ]
