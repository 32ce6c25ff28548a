"""raw.accounts: the landing contract's rules for the business date's rows of one load."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)


from ._common import CRITICAL, SuiteParams, raw_suite, rows_query

SUITE = "raw_accounts"
TABLE = ("raw", "accounts")
BATCH = ("daily", "business_date")
FILE_ENTITY = "accounts"


def expectations(p: SuiteParams) -> list:
    return raw_suite("accounts", p) + [
        rows_query(
            "close_date >= open_date",
            "select account_id from {batch} where close_date < open_date",
            CRITICAL,
            "an account closes after it opens",
        ),
    ]
