"""build.call_center_interval: the business date's 30-minute intervals, before publication."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)

import great_expectations.expectations as gxe

from ._common import CRITICAL, SuiteParams, named, rows_query

SUITE = "call_center_interval"
TABLE = ("{build}", "call_center_interval")
BATCH = ("daily", "calendar_date")


def expectations(p: SuiteParams) -> list:
    return [
        named(gxe.ExpectCompoundColumnsToBeUnique(column_list=["interval_start_ts", "service"], severity=CRITICAL),
              "one row per (interval_start_ts, service)"),
        named(gxe.ExpectColumnValuesToBeBetween(column="service_level", min_value=0, max_value=1,
                                                severity=CRITICAL), "service_level in [0, 1]"),
        named(gxe.ExpectColumnValuesToBeBetween(column="offered", min_value=1, severity=CRITICAL),
              "offered >= 1"),
        rows_query(
            "counts nest",
            "select interval_start_ts, service, offered, answered, short_abandoned, answered_within_threshold"
            " from {batch} where answered > offered or short_abandoned > offered - answered"
            " or answered_within_threshold > answered",
            CRITICAL,
            "answered <= offered, short abandons <= unanswered, answered within the threshold <= answered",
        ),
        rows_query(
            "interval inside its date",
            "select interval_start_ts, service, calendar_date from {batch}"
            f" where (interval_start_ts at time zone {p.tz_literal})::date <> calendar_date",
            CRITICAL,
            "every interval starts on its calendar date in the bank's zone",
        ),
        # a query with a join must alias {batch} itself (GX aliases it only in queries without one)
        rows_query(
            "intervals add up to call_center_daily",
            f"""
            with intervals as (
                select service, sum(offered) as offered, sum(answered) as answered
                from {{batch}} as b group by service
            ),
            daily as (
                select service, offered, answered from {p.build_schema}.call_center_daily
                where calendar_date = {p.date_literal} and offered > 0
            )
            select coalesce(i.service, d.service) as service, i.offered as interval_offered,
                d.offered as daily_offered, i.answered as interval_answered, d.answered as daily_answered
            from intervals as i full join daily as d on d.service = i.service
            where i.offered is distinct from d.offered or i.answered is distinct from d.answered
            """,
            CRITICAL,
            "per service, the date's intervals add up to call_center_daily's offered and answered",
        ),
        rows_query(
            "staffing computed where calls were handled",
            "select interval_start_ts, service, offered, aht_seconds, agents_required from {batch}"
            " where aht_seconds > 0 and (agents_required is null or agents_required < 1"
            " or agents_required <= traffic_erlangs)",
            CRITICAL,
            "an interval with a handle time has an Erlang C requirement above its traffic",
        ),
    ]
