"""raw.customers: the landing contract's rules for the business date's rows of one load."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)


from ._common import CRITICAL, SuiteParams, raw_suite, rows_query

SUITE = "raw_customers"
TABLE = ("raw", "customers")
BATCH = ("daily", "business_date")
FILE_ENTITY = "customers"


def expectations(p: SuiteParams) -> list:
    return raw_suite("customers", p) + [
        rows_query(
            "birth_date plausible",
            "select customer_id, birth_date from {batch} "
            "where birth_date > business_date or birth_date < business_date - interval '121 years'",
            CRITICAL,
            "birth date not in the future, age at most 120",
        ),
    ]
