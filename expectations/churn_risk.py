"""build.churn_risk: the customers at risk of leaving, before publication (a part of customer_360)."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query

SUITE = "churn_risk"
TABLE = ("{build}", "churn_risk")
BATCH = ("whole", None)


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="customer_id", severity=CRITICAL), "unique customer_id"),
        named(gxe.ExpectColumnValuesToNotBeNull(column="reasons", severity=CRITICAL), "required reasons"),
        rows_query(
            "exactly customer_360's customers at risk",
            f"""
            with at_risk as (
                select customer_id, as_of_date from {p.build_schema}.customer_360 where is_churn_risk
            )
            select coalesce(r.customer_id, m.customer_id) as customer_id,
                r.as_of_date as customer_360_as_of, m.as_of_date as mart_as_of
            from at_risk as r full join {{batch}} as m on m.customer_id = r.customer_id
            where r.as_of_date is distinct from m.as_of_date
            """,
            CRITICAL,
            "one row for every customer_360 customer with is_churn_risk, and no other",
        ),
    ]
