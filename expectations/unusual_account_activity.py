"""build.unusual_account_activity: the business date's outliers, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query

SUITE = "unusual_account_activity"
TABLE = ("{build}", "unusual_account_activity")
BATCH = ("daily", "calendar_date")


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectColumnValuesToBeUnique(column="account_id", severity=CRITICAL), "one row per account"),
        named(gxe.ExpectColumnValuesToNotBeNull(column="rules_fired", severity=CRITICAL), "required rules_fired"),
        rows_query(
            "a rule fired, as its figures say",
            "select account_id, rules_fired, debit_amount, entry_count from {batch}"
            " where not (debit_amount_limit_fired or entry_count_limit_fired"
            "            or debit_amount_sigma_fired or entry_count_sigma_fired)"
            " or debit_amount_limit_fired is distinct from (debit_amount > debit_amount_limit)"
            " or entry_count_limit_fired is distinct from (entry_count > entry_count_limit)"
            " or entry_count < 1 or debit_amount < 0",
            CRITICAL,
            "every row has a rule that fired, and the limit rules fired exactly where the figures pass them",
        ),
    ]
