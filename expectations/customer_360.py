"""build.customer_360: one row per current customer as of the latest business date, before publication.

The whole table (one row per customer, not per date): proportional to the bank, not to history.
"""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query

SUITE = "customer_360"
TABLE = ("{build}", "customer_360")
BATCH = ("whole", None)


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="customer_id", severity=CRITICAL), "unique customer_id"),
        named(gxe.ExpectColumnUniqueValueCountToBeBetween(column="as_of_date", max_value=1, severity=CRITICAL),
              "one as_of_date"),
        named(gxe.ExpectColumnValuesToBeInSet(column="tier", value_set=["MASS", "AFFLUENT", "PRIVATE"],
                                              severity=CRITICAL), "tier is MASS, AFFLUENT or PRIVATE"),
        named(gxe.ExpectColumnValuesToBeInSet(column="value_quadrant",
                                              value_set=["KEY", "DEVELOP", "MAINTAIN", "REVIEW"],
                                              severity=CRITICAL), "value_quadrant is a quadrant"),
        rows_query(
            "one row per current customer",
            f"""
            with current_customers as (
                select customer_id, customer_key from {p.build_schema}.dim_customer
                where is_current and customer_key <> -1
            )
            select coalesce(c.customer_id, m.customer_id) as customer_id,
                c.customer_key as current_key, m.customer_key as mart_key
            from current_customers as c full join {{batch}} as m on m.customer_id = c.customer_id
            where c.customer_key is distinct from m.customer_key
            """,
            CRITICAL,
            "exactly the current customers of dim_customer, each with its current version's key",
        ),
        rows_query(
            "accounts nest",
            "select customer_id, open_accounts, dormant_accounts, effective_accounts from {batch}"
            " where dormant_accounts > open_accounts or effective_accounts > open_accounts"
            " or is_effective is distinct from (effective_accounts > 0)"
            " or is_segment_mismatch is distinct from (tier <> segment)",
            CRITICAL,
            "dormant and effective accounts are among the open ones; the flags say what the figures say",
        ),
    ]
