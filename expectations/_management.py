"""SQL shared by the management marts' suites: the business date's calls, as fct_calls holds them."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

from __future__ import annotations

from ._common import SuiteParams


def date_key_literal(p: SuiteParams) -> str:
    return p.business_date.strftime("%Y%m%d")


def calls_of_the_date(p: SuiteParams, where: str = "true") -> str:
    """The date's calls in build.fct_calls (through its business_date index, not all history).

    A call's local date is its drop's business date (the loader sets aside any other), so the
    calls of a mart's calendar date are those of the business date.
    """
    return (f"select * from {p.build_schema}.fct_calls where business_date = {p.date_literal}"
            f" and date_key = {date_key_literal(p)} and ({where})")
