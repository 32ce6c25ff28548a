"""raw.agents: the landing contract's rules for the business date's rows of one load."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)


from ._common import SuiteParams, raw_suite

SUITE = "raw_agents"
TABLE = ("raw", "agents")
BATCH = ("daily", "business_date")
FILE_ENTITY = "agents"


def expectations(p: SuiteParams) -> list:
    return raw_suite("agents", p)
