"""build.fct_transactions: the business date's ledger entries, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, joins_dimension, named, rows_query, volume_check

SUITE = "fct_transactions"
TABLE = ("{build}", "fct_transactions")
BATCH = ("daily", "business_date")


def expectations(p: SuiteParams) -> list:
    out = [
        named(gxe.ExpectColumnValuesToBeUnique(column="txn_id", severity=CRITICAL), "unique txn_id"),
        named(gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, strict_min=True, severity=CRITICAL),
              "amount > 0"),
        named(gxe.ExpectColumnValuesToBeInSet(column="direction", value_set=["CREDIT", "DEBIT"], severity=CRITICAL),
              "code set direction"),
        rows_query(
            "signed_amount = ± amount by direction",
            "select txn_id, direction, amount, signed_amount from {batch} "
            "where signed_amount <> case when direction = 'CREDIT' then amount else -amount end",
            CRITICAL,
            "signed_amount is + amount for a credit, - amount for a debit",
        ),
    ]
    for key in ("txn_id", "date_key", "customer_key", "account_key", "channel_key", "amount", "signed_amount"):
        out.append(named(gxe.ExpectColumnValuesToNotBeNull(column=key, severity=CRITICAL), f"required {key}"))
    out += [
        joins_dimension("date_key", "dim_date", "date_key", p, "txn_id"),
        joins_dimension("customer_key", "dim_customer", "customer_key", p, "txn_id"),
        joins_dimension("account_key", "dim_account", "account_key", p, "txn_id"),
        joins_dimension("channel_key", "dim_channel", "channel_key", p, "txn_id"),
        rows_query(
            "count and signed sum reconcile with raw",
            f"""
            with fact as (
                select count(*) as fact_rows, coalesce(sum(signed_amount), 0) as fact_signed_sum from {{batch}}
            ),
            raw as (
                select count(*) as raw_rows,
                       coalesce(sum(case when direction = 'CREDIT' then amount else -amount end), 0)
                           as raw_signed_sum
                from raw.transactions
                where business_date = {p.date_literal} and load_id = {int(p.load_id)}
            )
            select * from fact, raw
            where fact_rows <> raw_rows or fact_signed_sum <> raw_signed_sum
            """,
            CRITICAL,
            "the date's fact rows and signed sum equal the ledger entries loaded for the date",
        ),
    ]
    out += volume_check(p, "fct_transactions", "ledger entries")
    return out
