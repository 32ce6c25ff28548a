"""build.call_center_daily: the business date's contact-center KPIs, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query

SUITE = "call_center_daily"
TABLE = ("{build}", "call_center_daily")
BATCH = ("daily", "calendar_date")

RATIOS = ("service_level", "abandon_rate", "fcr_rate", "csat_top2_share")


def expectations(p: SuiteParams) -> list:
    out = [
        named(gxe.ExpectColumnValuesToBeBetween(column=ratio, min_value=0, max_value=1, severity=CRITICAL),
              f"{ratio} in [0, 1]")
        for ratio in RATIOS
    ]
    out += [
        named(gxe.ExpectColumnValuesToBeBetween(column="csat_avg", min_value=1, max_value=5, severity=CRITICAL),
              "csat_avg in [1, 5]"),
        named(gxe.ExpectCompoundColumnsToBeUnique(column_list=["calendar_date", "service"], severity=CRITICAL),
              "one row per (calendar_date, service)"),
        rows_query(
            "answered + abandoned <= offered",
            "select calendar_date, service, offered, answered, abandoned from {batch} "
            "where answered + abandoned > offered or short_abandoned > abandoned "
            "or answered_within_threshold > answered",
            CRITICAL,
            "counts nest: within-threshold <= answered, short <= abandoned, answered + abandoned <= offered",
        ),
    ]
    return out
