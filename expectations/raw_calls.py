"""raw.calls: the landing contract's rules for the business date's rows of one load."""
# ruff: noqa: S608  (suites are SQL text for GX: names are validated identifiers, dates are date objects)


from ._common import CRITICAL, SuiteParams, raw_suite, rows_query

SUITE = "raw_calls"
TABLE = ("raw", "calls")
BATCH = ("daily", "business_date")
FILE_ENTITY = "calls"


def expectations(p: SuiteParams) -> list:
    return raw_suite("calls", p) + [
        rows_query(
            "ivr_entry_ts falls on the business date",
            f"select call_id, ivr_entry_ts from {{batch}} "
            f"where cast(ivr_entry_ts at time zone {p.tz_literal} as date) <> business_date",
            CRITICAL,
            "every call entered the IVR on the business date in the bank's zone",
        ),
        rows_query(
            "timestamps in order",
            "select call_id from {batch} where ivr_exit_ts < ivr_entry_ts or end_ts < ivr_exit_ts "
            "or queue_exit_ts < queue_entry_ts or answer_ts < ivr_entry_ts or end_ts < answer_ts",
            CRITICAL,
            "a call's timestamps never run backwards",
        ),
        rows_query(
            "ANSWERED has answer_ts and agent_id",
            "select call_id from {batch} where outcome = 'ANSWERED' and (answer_ts is null or agent_id is null)",
            CRITICAL,
            "an answered call has an answer time and an agent",
        ),
    ]
