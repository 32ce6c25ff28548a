"""build.segment_tier_mismatches: the segmentation review list, before publication (a part of customer_360)."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query

SUITE = "segment_tier_mismatches"
TABLE = ("{build}", "segment_tier_mismatches")
BATCH = ("whole", None)


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="customer_id", severity=CRITICAL), "unique customer_id"),
        named(gxe.ExpectColumnValuesToBeInSet(column="direction",
                                              value_set=["SEGMENT_BELOW_TIER", "SEGMENT_ABOVE_TIER"],
                                              severity=CRITICAL), "direction is a direction"),
        rows_query(
            "exactly customer_360's mismatches",
            f"""
            with mismatched as (
                select customer_id, tier from {p.build_schema}.customer_360 where is_segment_mismatch
            )
            select coalesce(c.customer_id, m.customer_id) as customer_id, c.tier as customer_360_tier,
                m.tier as mart_tier
            from mismatched as c full join {{batch}} as m on m.customer_id = c.customer_id
            where c.tier is distinct from m.tier or m.segment = m.tier
            """,
            CRITICAL,
            "one row for every customer_360 customer whose tier differs from the segment, and no other",
        ),
    ]
