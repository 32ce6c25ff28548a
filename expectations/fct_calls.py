"""build.fct_calls: the business date's calls, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, WARNING, SuiteParams, joins_dimension, named, rows_query, volume_check

SUITE = "fct_calls"
TABLE = ("{build}", "fct_calls")
BATCH = ("daily", "business_date")


def expectations(p: SuiteParams) -> list:
    out = [named(gxe.ExpectColumnValuesToBeUnique(column="call_id", severity=CRITICAL), "unique call_id")]
    for key in ("call_id", "date_key", "customer_key", "agent_key", "service", "direction", "outcome"):
        out.append(named(gxe.ExpectColumnValuesToNotBeNull(column=key, severity=CRITICAL), f"required {key}"))
    for col in ("ivr_seconds", "queue_seconds", "talk_seconds", "wrap_up_seconds", "handle_seconds"):
        out.append(named(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0, severity=WARNING),
                         f"{col} >= 0"))
    out += [
        named(gxe.ExpectColumnValuesToBeBetween(column="csat_score", min_value=1, max_value=5, severity=CRITICAL),
              "csat_score in 1..5"),
        joins_dimension("date_key", "dim_date", "date_key", p, "call_id"),
        joins_dimension("customer_key", "dim_customer", "customer_key", p, "call_id"),
        joins_dimension("agent_key", "dim_agent", "agent_key", p, "call_id"),
        rows_query(
            "count reconciles with raw",
            f"""
            with fact as (select count(*) as fact_rows from {{batch}}),
            raw as (
                select count(*) as raw_rows from raw.calls
                where business_date = {p.date_literal} and load_id = {int(p.load_id)}
            )
            select * from fact, raw where fact_rows <> raw_rows
            """,
            CRITICAL,
            "the date's fact rows equal the calls loaded for the date",
        ),
    ]
    return out + volume_check(p, "fct_calls", "calls")
