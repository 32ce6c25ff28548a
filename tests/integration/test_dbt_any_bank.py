"""Any bank: any time zone, any date, DST days, empty days and bare master data through dbt.

The real dbt (cdw.dbt.run_dbt) on a real PostgreSQL; raw rows written straight into raw
(tests/integration/raw_fixtures.py). Each warehouse records its zone in audit.warehouse_timezone
as its first load would; a database holds one zone, so each scenario has a database of its own:

- Europe/Prague: the 23-hour day 2026-03-29 (02:00 -> 03:00), the 25-hour day 2026-10-25
  (02:00-03:00 twice), a day without calls (2026-10-26) and a day without ledger entries
  (2026-10-27), built day by day with their data tests, as the daily DAG does;
- America/New_York: 1994-01-27, the 25-hour day 2026-11-01 (01:00-02:00 twice) and the
  23-hour day 2031-03-09, built at once (a backfill), data tests included;
- Asia/Kolkata (+05:30): the models that date and bin by the zone;
- Asia/Kathmandu (+05:45), taken from CDW_TIMEZONE because no load has recorded a zone yet: a
  first business date without any ledger entry, as a daily run of the whole project.

Every bank has one customer, one account, one agent and one service (RETAIL), and every
nullable field of its master data, ledger and calls is null unless a test needs it. Every
expected figure is worked out by hand in the comments (T = 20 s, S = 5 s).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from cdw import warehouse
from cdw.dbt import run_dbt
from tests.integration import raw_fixtures as rf

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------- bare rows
def at(timestamp: str, seconds: int = 0) -> str:
    """An ISO timestamp ``seconds`` later, in the offset it was written in."""
    return (datetime.fromisoformat(timestamp) + timedelta(seconds=seconds)).isoformat()


def utc(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp).astimezone(UTC)


def call(call_id: str, entry: str, end_after: int, outcome: str, **kw) -> dict:
    """An inbound RETAIL call entering the IVR at ``entry``, ending ``end_after`` seconds later;
    ``<field>_after`` keywords give its other timestamps in seconds after entry. Every other
    nullable field is null (caller_number too)."""
    for field in ("ivr_exit_ts", "queue_entry_ts", "queue_exit_ts", "answer_ts"):
        after = kw.pop(field.removesuffix("_ts") + "_after", None)
        if after is not None:
            kw[field] = at(entry, after)
    kw.setdefault("ivr_exit_ts", kw.get("queue_entry_ts") or kw.get("answer_ts") or entry)
    return rf.call(call_id, entry, at(entry, end_after), outcome, caller_number=None, **kw)


def entry(txn_id: str, txn_ts: str, amount: str, direction: str, balance_after: str, **kw) -> dict:
    """A ledger entry of account A1 with every nullable field null."""
    return rf.txn(
        txn_id,
        "A1",
        txn_ts,
        amount,
        direction=direction,
        balance_after=balance_after,
        counterparty_account=None,
        counterparty_bank=None,
        **kw,
    )


def master_data(since: str) -> dict:
    """One customer, one account, one agent; nullable fields (phone, email, close_date) null."""
    return dict(
        customers=[rf.customer("C1", phone=None, email=None, birth_date="1960-02-29", join_date=since)],
        accounts=[rf.account("A1", "C1", open_date=since, close_date=None)],
        agents=[rf.agent("AG1", hire_date=since)],
    )


# ---------------------------------------------------------------- DST days
HALF_HOUR = timedelta(minutes=30)


def grid_calls(prefix: str, midnight: datetime, intervals: int) -> list[dict]:
    """One call 5 minutes into every 30 minutes of elapsed time from local midnight (``midnight``,
    UTC): answered after a wait of 10 s (within T), talk 100 s + wrap-up 20 s = handle 120 s,
    resolved, csat 5, unidentified caller."""
    return [
        call(
            f"{prefix}{k:02d}",
            (midnight + k * HALF_HOUR + timedelta(minutes=5)).isoformat(),
            120,
            "ANSWERED",
            queue_entry_after=10,
            queue_exit_after=20,
            answer_after=20,
            agent_id="AG1",
            wrap_up_seconds=20,
            resolved=True,
            csat_score=5,
        )
        for k in range(intervals)
    ]


@dataclass(frozen=True)
class DstDay:
    """A day on which local ``hour``:00 to ``hour + 1``:00 happens twice (clocks go back from the
    ``before`` offset to ``after``) or never (they go forward); ``midnight``: its local midnight, UTC."""

    prefix: str
    day: str
    midnight: datetime
    hour: int
    before: str
    after: str

    def local(self, hms: str, offset: str) -> str:
        return f"{self.day}T{hms}{offset}"


def fall_back_day(d: DstDay) -> dict:
    """The 25-hour day. Calls: the grid (50), and
      A: enters at hour:40 of the first pass, abandons after 8 s (not short), customer C1;
      B: enters at hour:40 of the second pass, abandons after 3 s (short);
      C: enters at 23:58, waits 30 s (not within T), talks 240 s past midnight, no wrap-up
         (handle 240), not resolved, csat 4, customer C1;
      D: IVR only at 12:00 (not offered).
    Ledger: 00:00:00 local (-1.50), hour:30 of the first pass (+500.00) and hour:30 of the second
    pass (-200.00, on ATM), whose balance (1298.50) ends the day: it is the later instant, though
    its wall clock equals the first pass's and a tie broken by id (descending) would pick T2."""
    p, hh = d.prefix, f"{d.hour:02d}"
    return dict(
        calls=[
            *grid_calls(f"{p}G", d.midnight, 50),
            call(f"{p}A", d.local(f"{hh}:40:00", d.before), 18, "ABANDONED",
                 queue_entry_after=10, queue_exit_after=18, customer_id="C1"),
            call(f"{p}B", d.local(f"{hh}:40:00", d.after), 13, "ABANDONED", queue_entry_after=10, queue_exit_after=13),
            call(f"{p}C", d.local("23:58:00", d.after), 300, "ANSWERED", queue_entry_after=30, queue_exit_after=60,
                 answer_after=60, agent_id="AG1", resolved=False, csat_score=4, customer_id="C1"),
            call(f"{p}D", d.local("12:00:00", d.after), 40, "IVR_ONLY", ivr_exit_after=40),
        ],
        transactions=[
            entry(f"{p}T3", d.local("00:00:00", d.before), "1.50", "DEBIT", "998.50"),
            entry(f"{p}T2", d.local(f"{hh}:30:00", d.before), "500.00", "CREDIT", "1498.50"),
            entry(f"{p}T1", d.local(f"{hh}:30:00", d.after), "200.00", "DEBIT", "1298.50", channel="ATM"),
        ],
    )


def spring_forward_day(d: DstDay) -> dict:
    """The 23-hour day. Calls: the grid (46), and
      E: enters 10 minutes after local midnight, written in UTC (the previous UTC date), answered
         without queueing (wait 0, within T) after 30 s, talks 60 s, no wrap-up (handle 60), no
         resolution mark, no survey, customer C1;
      F: enters at hour+1:05 (just after the gap), abandons after 6 s (not short).
    Ledger: hour-1:30 (+100.00), hour+1:30 (-30.00, ATM), 23:59:59 (-0.01)."""
    p = d.prefix
    return dict(
        calls=[
            *grid_calls(f"{p}G", d.midnight, 46),
            call(f"{p}E", (d.midnight + timedelta(minutes=10)).isoformat(), 90, "ANSWERED",
                 answer_after=30, agent_id="AG1", customer_id="C1"),
            call(f"{p}F", d.local(f"{d.hour + 1:02d}:05:00", d.after), 16, "ABANDONED",
                 queue_entry_after=10, queue_exit_after=16),
        ],
        transactions=[
            entry(f"{p}T1", d.local(f"{d.hour - 1:02d}:30:00", d.before), "100.00", "CREDIT", "1100.00"),
            entry(f"{p}T2", d.local(f"{d.hour + 1:02d}:30:00", d.after), "30.00", "DEBIT", "1070.00", channel="ATM"),
            entry(f"{p}T3", d.local("23:59:59", d.after), "0.01", "DEBIT", "1069.99"),
        ],
    )


# The 25-hour day, RETAIL: offered = 50 grid + A + B + C = 53; answered = 50 + C = 51; abandoned A B = 2;
#   short B = 1; ivr_only D = 1; within = the grid's 50 (C waited 30 s); SL = 50 / (53 - 1) = 50/52;
#   AR = (2 - 1) / 52 = 1/52; asa = (50 x 10 + 30) / 51 = 530/51; aht = (50 x 120 + 240) / 51 = 6240/51;
#   fcr = 50 resolved / 51 marked; csat = (50 x 5 + 4) / 51 = 254/51, top-2 51/51 = 1.
FALL_BACK_DAY = dict(
    offered=53,
    answered=51,
    abandoned=2,
    short_abandoned=1,
    ivr_only=1,
    answered_within_threshold=50,
    service_level=50 / 52,
    abandon_rate=1 / 52,
    asa_seconds=530 / 51,
    aht_seconds=6240 / 51,
    fcr_rate=50 / 51,
    csat_avg=254 / 51,
    csat_top2_share=Decimal("1"),
)
# The 23-hour day, RETAIL: offered = 46 grid + E + F = 48; answered = 46 + E = 47; abandoned F = 1 (6 s: not
#   short); within = 46 + E (0 s) = 47; SL = 47/48; AR = 1/48; asa = (46 x 10 + 0) / 47 = 460/47;
#   aht = (46 x 120 + 60) / 47 = 5580/47; fcr = 46/46 (E has no mark); csat 46 x 5: avg 5, top-2 1.
SPRING_FORWARD_DAY = dict(
    offered=48,
    answered=47,
    abandoned=1,
    short_abandoned=0,
    ivr_only=0,
    answered_within_threshold=47,
    service_level=47 / 48,
    abandon_rate=1 / 48,
    asa_seconds=460 / 47,
    aht_seconds=5580 / 47,
    fcr_rate=Decimal("1"),
    csat_avg=Decimal("5"),
    csat_top2_share=Decimal("1"),
)


def wall_clock(hours_twice: tuple[int, ...] = (), hour_missing: int | None = None) -> list[str]:
    """The local starts (HH:MM) of a day's 30-minute intervals in order of time."""
    starts = []
    for hour in range(24):
        half_hours = [f"{hour:02d}:00", f"{hour:02d}:30"]
        if hour != hour_missing:
            starts += half_hours * (2 if hour in hours_twice else 1)
    return starts


# ---------------------------------------------------------------- helpers
@contextlib.contextmanager
def bank(pg_server: str, template_db: str, timezone: str | None, first_date: str):
    """A warehouse of its own (raw, audit and roles from the template) whose first load recorded
    ``timezone`` (None: no load recorded one yet); yields (autocommit connection, URL)."""
    name = f"cdw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("create database {} template {}").format(sql.Identifier(name), sql.Identifier(template_db))
        )
    url = warehouse.with_database(pg_server, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            if timezone:
                rf.record_timezone(conn, timezone, first_date)
            yield conn, url
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def dbt(url: str, target: str, args: list[str], business_date: str | None = None) -> None:
    started = time.monotonic()
    run_dbt(args, url=url, target_path=target, vars={"business_date": business_date} if business_date else None)
    print(f"dbt {' '.join(args)} {business_date or 'every date'}: {time.monotonic() - started:.1f}s")


def rows(conn: psycopg.Connection, query: str, params=None) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def kpis(conn: psycopg.Connection) -> dict[tuple, dict]:
    cur = conn.execute("select * from analytics.call_center_daily order by calendar_date, service")
    names = [d.name for d in cur.description]
    records = (dict(zip(names, values, strict=True)) for values in cur.fetchall())
    return {(r["calendar_date"].isoformat(), r["service"]): r for r in records}


def assert_kpis(actual: dict, expected: dict) -> None:
    """Exact counts; ratios and means to 1e-9 (None must be None)."""
    for column, want in expected.items():
        got = actual[column]
        if want is None:
            assert got is None, f"{column}: expected NULL, got {got}"
        elif isinstance(want, int):
            assert got == want, f"{column}: expected {want}, got {got}"
        else:
            assert got is not None and float(got) == pytest.approx(float(want), abs=1e-9), (
                f"{column}: expected {want}, got {got}"
            )


def intervals(conn: psycopg.Connection, day: str) -> list[dict]:
    cur = conn.execute(
        "select * from analytics.call_center_interval where calendar_date = %s order by interval_start_ts", (day,)
    )
    names = [d.name for d in cur.description]
    return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]


def ledger_by_date(conn: psycopg.Connection) -> list[tuple]:
    return rows(
        conn,
        """select date_key, business_date::text, count(*), sum(signed_amount)
           from analytics.fct_transactions group by 1, 2 order by 1""",
    )


def date_keys(conn: psycopg.Connection, table: str, id_column: str, ids: list[str]) -> dict[str, int]:
    query = sql.SQL("select {id}, date_key from analytics.{t} where {id} = any(%s)").format(
        id=sql.Identifier(id_column), t=sql.Identifier(table)
    )
    return dict(rows(conn, query, (ids,)))


# ---------------------------------------------------------------- Europe/Prague
# CET +01:00 / CEST +02:00. 2026-03-29: 02:00 CET -> 03:00 CEST, local midnight 2026-03-28T23:00Z.
# 2026-10-25: 03:00 CEST -> 02:00 CET, local midnight 2026-10-24T22:00Z, 50 half hours to 2026-10-25T23:00Z.
PRAGUE_SPRING = DstDay("PS", "2026-03-29", utc("2026-03-28T23:00:00+00:00"), 2, "+01:00", "+02:00")
PRAGUE_FALL = DstDay("PF", "2026-10-25", utc("2026-10-24T22:00:00+00:00"), 2, "+02:00", "+01:00")
PRAGUE_NO_CALLS, PRAGUE_NO_LEDGER = "2026-10-26", "2026-10-27"


def prague_drops() -> dict[str, dict]:
    """The four dates; each also delivers the (unchanged) master data."""
    drops = {
        PRAGUE_SPRING.day: spring_forward_day(PRAGUE_SPRING),
        PRAGUE_FALL.day: fall_back_day(PRAGUE_FALL),
        # no calls: 0 rows; ledger: 00:30 local written in UTC (the previous UTC date), 18:00 local
        PRAGUE_NO_CALLS: dict(
            calls=[],
            transactions=[
                entry("PN1", "2026-10-25T23:30:00+00:00", "10.00", "CREDIT", "1308.50"),
                entry("PN2", "2026-10-26T18:00:00+01:00", "2.25", "DEBIT", "1306.25"),
            ],
        ),
        # no ledger entries: 0 rows; one call answered after 25 s (not within T), talk 50 s + wrap-up 5 s
        PRAGUE_NO_LEDGER: dict(
            transactions=[],
            calls=[
                call(
                    "PL1",
                    "2026-10-27T09:00:00+01:00",
                    85,
                    "ANSWERED",
                    queue_entry_after=10,
                    queue_exit_after=35,
                    answer_after=35,
                    agent_id="AG1",
                    wrap_up_seconds=5,
                    customer_id="C1",
                )
            ],
        ),
    }
    return {day: {**drop, **master_data("2020-01-01")} for day, drop in drops.items()}


# ---------------------------------------------------------------- America/New_York
# EST -05:00 / EDT -04:00. 2026-11-01: 02:00 EDT -> 01:00 EST, local midnight 2026-11-01T04:00Z.
# 2031-03-09: 02:00 EST -> 03:00 EDT, local midnight 2031-03-09T05:00Z.
NY_1994 = "1994-01-27"
NY_FALL = DstDay("NF", "2026-11-01", utc("2026-11-01T04:00:00+00:00"), 1, "-04:00", "-05:00")
NY_SPRING = DstDay("NS", "2031-03-09", utc("2031-03-09T05:00:00+00:00"), 2, "-05:00", "-04:00")


def new_york_drops() -> dict[str, dict]:
    return {
        NY_1994: dict(
            calls=[
                # N1: answered without queueing after 5 s: wait 0, talk 200 + wrap-up 10 = 210, resolved, csat 3
                call(
                    "N1", "1994-01-27T08:59:59-05:00", 205, "ANSWERED", answer_after=5, agent_id="AG1",
                    wrap_up_seconds=10, resolved=True, csat_score=3, customer_id="C1",
                ),
                # N2: abandons after 4 s: short
                call("N2", "1994-01-27T12:00:00-05:00", 14, "ABANDONED", queue_entry_after=10, queue_exit_after=14),
                # N3: 23:45 local = 04:45 UTC on the 28th; wait 20 (within), talk 600 past midnight, not resolved, csat 5
                call(
                    "N3", "1994-01-27T23:45:00-05:00", 640, "ANSWERED", queue_entry_after=20, queue_exit_after=40,
                    answer_after=40, agent_id="AG1", resolved=False, csat_score=5,
                ),
            ],
            transactions=[
                entry("NT1", "1994-01-27T00:00:00-05:00", "0.99", "DEBIT", "-0.99"),
                entry("NT2", "1994-01-27T23:30:00-05:00", "1000.00", "CREDIT", "999.01"),  # 04:30 UTC on the 28th
            ],
            **master_data("1990-05-01"),
        ),
        NY_FALL.day: fall_back_day(NY_FALL),
        NY_SPRING.day: spring_forward_day(NY_SPRING),
    }


# 1994-01-27 RETAIL: offered N1 N2 N3 = 3, answered N1 N3 = 2, abandoned N2 = 1, short 1, within N1 (0) N3 (20) = 2;
#   SL = 2 / (3 - 1) = 1; AR = (1 - 1) / 2 = 0; asa = (0 + 20) / 2 = 10; aht = (210 + 600) / 2 = 405;
#   fcr = {N1} / {N1, N3} = 1/2; csat {3, 5}: avg 4, top-2 1/2.
NY_1994_KPIS = dict(
    offered=3,
    answered=2,
    abandoned=1,
    short_abandoned=1,
    ivr_only=0,
    answered_within_threshold=2,
    service_level=Decimal("1"),
    abandon_rate=Decimal("0"),
    asa_seconds=Decimal("10"),
    aht_seconds=Decimal("405"),
    fcr_rate=Decimal("0.5"),
    csat_avg=Decimal("4"),
    csat_top2_share=Decimal("0.5"),
)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def target(tmp_path_factory) -> str:
    """One dbt target directory for the module: later runs reuse the first one's parse."""
    return str(tmp_path_factory.mktemp("any_bank") / "target")


@pytest.fixture(scope="module", autouse=True)
def _marts_in_analytics():
    """The marts go straight into analytics (the pipeline builds them privately and publishes)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CDW_DBT_MARTS_SCHEMA", "analytics")
        yield


@pytest.fixture(scope="module")
def prague(pg_server, template_db, target):
    """Europe/Prague, built as the daily DAG builds: the two DST days first (one run, every
    date), then the day without calls and the day without ledger entries, each a daily run
    of its business date, data tests included every time."""
    drops = prague_drops()
    with bank(pg_server, template_db, "Europe/Prague", PRAGUE_SPRING.day) as (conn, url):
        for load_id, day in enumerate([PRAGUE_SPRING.day, PRAGUE_FALL.day], start=1):
            rf.deliver(conn, day, load_id=load_id, **drops[day])
        dbt(url, target, ["build"])
        for load_id, day in enumerate([PRAGUE_NO_CALLS, PRAGUE_NO_LEDGER], start=3):
            rf.deliver(conn, day, load_id=load_id, **drops[day])
            dbt(url, target, ["build"], business_date=day)
        yield conn


@pytest.fixture(scope="module")
def new_york(pg_server, template_db, target):
    """America/New_York: 1994, a 25-hour day of 2026 and a 23-hour day of 2031, built at once."""
    with bank(pg_server, template_db, "America/New_York", NY_1994) as (conn, url):
        for load_id, (day, drop) in enumerate(new_york_drops().items(), start=1):
            rf.deliver(conn, day, load_id=load_id, **drop)
        dbt(url, target, ["build"])
        yield conn


# ---------------------------------------------------------------- DST checks shared by both zones
def assert_fall_back_intervals(conn: psycopg.Connection, d: DstDay) -> None:
    found = intervals(conn, d.day)
    # 50 half hours of elapsed time from local midnight, each its own instant
    assert [r["interval_start_ts"] for r in found] == [d.midnight + k * HALF_HOUR for k in range(50)]
    # the wall clock shows the repeated hour's two half hours twice
    assert [r["interval_start_local"].strftime("%H:%M") for r in found] == wall_clock(hours_twice=(d.hour,))
    assert {r["interval_start_local"].date().isoformat() for r in found} == {d.day}
    assert {r["service"] for r in found} == {"RETAIL"}
    # every interval adds up to the day (FALL_BACK_DAY)
    assert sum(r["offered"] for r in found) == 53
    assert sum(r["answered"] for r in found) == 51
    assert sum(r["short_abandoned"] for r in found) == 1
    assert sum(r["answered_within_threshold"] for r in found) == 50
    by_start = {r["interval_start_ts"]: r for r in found}  # aware datetimes: equal instants, equal keys
    # hour:30 of the first pass: grid call + A (8 s, not short): SL 1 / 2
    first = by_start[utc(d.local(f"{d.hour:02d}:30:00", d.before))]
    assert (first["offered"], first["answered"], first["short_abandoned"], first["service_level"]) == (
        2, 1, 0, Decimal("0.5"),
    )
    # hour:30 of the second pass: grid call + B (3 s, short): SL 1 / (2 - 1)
    second = by_start[utc(d.local(f"{d.hour:02d}:30:00", d.after))]
    assert (second["offered"], second["answered"], second["short_abandoned"], second["service_level"]) == (
        2, 1, 1, Decimal("1"),
    )
    # 23:30: grid call (handle 120) + C (handle 240, wait 30): aht 180, SL 1 / 2
    last = found[-1]
    assert (last["interval_start_local"].strftime("%H:%M"), last["offered"], last["answered"]) == ("23:30", 2, 2)
    assert (last["aht_seconds"], last["service_level"]) == (Decimal("180"), Decimal("0.5"))
    # every other interval: the grid call alone
    others = [r for r in found if r not in (first, second, last)]
    assert {(r["offered"], r["answered"], r["aht_seconds"], r["service_level"]) for r in others} == {
        (1, 1, Decimal("120"), Decimal("1"))
    }


def assert_spring_forward_intervals(conn: psycopg.Connection, d: DstDay) -> None:
    found = intervals(conn, d.day)
    assert [r["interval_start_ts"] for r in found] == [d.midnight + k * HALF_HOUR for k in range(46)]
    assert [r["interval_start_local"].strftime("%H:%M") for r in found] == wall_clock(hour_missing=d.hour)
    assert sum(r["offered"] for r in found) == 48
    assert sum(r["answered"] for r in found) == 47
    # 00:00: grid call + E (wait 0, handle 60); hour+1:00 (the first after the gap): grid call + F (6 s)
    assert [
        (r["interval_start_local"].strftime("%H:%M"), r["offered"], r["answered"], r["aht_seconds"])
        for r in found
        if r["offered"] > 1
    ] == [("00:00", 2, 2, Decimal("90")), (f"{d.hour + 1:02d}:00", 2, 1, Decimal("120"))]


def assert_fall_back_ledger(conn: psycopg.Connection, d: DstDay) -> None:
    # the day's last entry is the second pass's, by instant: its balance ends the day
    assert rows(
        conn,
        "select balance from staging.int_account_balances_daily where account_id = 'A1' and balance_date = %s",
        (d.day,),
    ) == [(Decimal("1298.50"),)]
    assert rows(
        conn,
        "select channel_code, txn_count, amount from analytics.channel_mix_daily where calendar_date = %s order by 1",
        (d.day,),
    ) == [("ATM", 1, Decimal("200.00")), ("MOBILE", 2, Decimal("501.50"))]


def calls_per_date(conn: psycopg.Connection) -> list[tuple]:
    return rows(conn, "select business_date::text, date_key, count(*) from analytics.fct_calls group by 1, 2 order by 1")


# ---------------------------------------------------------------- Europe/Prague
def test_prague_daily_kpis_on_dst_and_empty_days(prague):
    actual = kpis(prague)
    # no row for the day without calls; the day without ledger entries has its call
    # PRAGUE_NO_LEDGER: offered 1, answered 1, wait 25 (not within): SL 0 / 1 = 0, AR 0 / 1 = 0,
    #   asa 25, aht 50 + 5 = 55; no resolution mark, no survey: fcr, csat, top-2 NULL
    assert set(actual) == {(PRAGUE_SPRING.day, "RETAIL"), (PRAGUE_FALL.day, "RETAIL"), (PRAGUE_NO_LEDGER, "RETAIL")}
    assert_kpis(actual[(PRAGUE_SPRING.day, "RETAIL")], SPRING_FORWARD_DAY)
    assert_kpis(actual[(PRAGUE_FALL.day, "RETAIL")], FALL_BACK_DAY)
    assert_kpis(
        actual[(PRAGUE_NO_LEDGER, "RETAIL")],
        dict(
            offered=1,
            answered=1,
            abandoned=0,
            short_abandoned=0,
            ivr_only=0,
            answered_within_threshold=0,
            service_level=Decimal("0"),
            abandon_rate=Decimal("0"),
            asa_seconds=Decimal("25"),
            aht_seconds=Decimal("55"),
            fcr_rate=None,
            csat_avg=None,
            csat_top2_share=None,
        ),
    )
    # every call on its local date, E (00:10 local, 23:10 UTC the day before) and C (ends after midnight) too
    assert calls_per_date(prague) == [
        (PRAGUE_SPRING.day, 20260329, 48),
        (PRAGUE_FALL.day, 20261025, 54),
        (PRAGUE_NO_LEDGER, 20261027, 1),
    ]
    assert date_keys(prague, "fct_calls", "call_id", ["PSE", "PFC"]) == {"PSE": 20260329, "PFC": 20261025}


def test_prague_intervals_on_the_23_and_25_hour_days(prague):
    assert_spring_forward_intervals(prague, PRAGUE_SPRING)
    assert_fall_back_intervals(prague, PRAGUE_FALL)
    assert [(r["interval_start_local"].strftime("%H:%M"), r["offered"]) for r in intervals(prague, PRAGUE_NO_LEDGER)] == [
        ("09:00", 1)
    ]


def test_prague_ledger_per_date_and_the_day_without_entries(prague):
    # count and signed sum per local date: 100 - 30 - 0.01; -1.50 + 500 - 200; PN1 (00:30 local,
    # 23:30 UTC the day before) 10 - 2.25; nothing on the day without entries
    assert ledger_by_date(prague) == [
        (20260329, PRAGUE_SPRING.day, 3, Decimal("69.99")),
        (20261025, PRAGUE_FALL.day, 3, Decimal("298.50")),
        (20261026, PRAGUE_NO_CALLS, 2, Decimal("7.75")),
    ]
    assert_fall_back_ledger(prague, PRAGUE_FALL)
    # balances reach the latest business date, a day without entries included, and the
    # account holding 1306.25 stays effective (open, active, non-empty) that day
    assert rows(
        prague,
        """select balance_date::text, balance, last_entry_date::text from staging.int_account_balances_daily
           where balance_date >= %s order by 1""",
        (PRAGUE_FALL.day,),
    ) == [
        (PRAGUE_FALL.day, Decimal("1298.50"), PRAGUE_FALL.day),
        (PRAGUE_NO_CALLS, Decimal("1306.25"), PRAGUE_NO_CALLS),
        (PRAGUE_NO_LEDGER, Decimal("1306.25"), PRAGUE_NO_CALLS),
    ]
    # one row per day from the first entry (S) to the latest business date: 2026-03-29..2026-10-27
    assert rows(prague, "select count(*) from staging.int_account_balances_daily") == [(213,)]
    assert rows(
        prague,
        """select calendar_date::text, open_accounts, effective_accounts, effective_customers
           from analytics.customer_activity_daily order by 1""",
    ) == [(day, 1, 1, 1) for day in (PRAGUE_SPRING.day, PRAGUE_FALL.day, PRAGUE_NO_CALLS, PRAGUE_NO_LEDGER)]
    assert rows(
        prague, "select calendar_date::text, total_balance from analytics.balance_concentration_daily"
        " where calendar_date >= %s order by 1", (PRAGUE_NO_CALLS,)
    ) == [(PRAGUE_NO_CALLS, Decimal("1306.25")), (PRAGUE_NO_LEDGER, Decimal("1306.25"))]
    assert rows(prague, "select customer_id, as_of_date::text, deposit_balance from analytics.customer_360") == [
        ("C1", PRAGUE_NO_LEDGER, Decimal("1306.25"))
    ]


# ---------------------------------------------------------------- America/New_York
def test_new_york_kpis_from_1994_to_2031(new_york):
    actual = kpis(new_york)
    assert set(actual) == {(NY_1994, "RETAIL"), (NY_FALL.day, "RETAIL"), (NY_SPRING.day, "RETAIL")}
    assert_kpis(actual[(NY_1994, "RETAIL")], NY_1994_KPIS)
    assert_kpis(actual[(NY_FALL.day, "RETAIL")], FALL_BACK_DAY)
    assert_kpis(actual[(NY_SPRING.day, "RETAIL")], SPRING_FORWARD_DAY)
    assert calls_per_date(new_york) == [(NY_1994, 19940127, 3), (NY_FALL.day, 20261101, 54), (NY_SPRING.day, 20310309, 48)]
    # N3: 04:45 UTC on the 28th is still the 27th in New York
    assert date_keys(new_york, "fct_calls", "call_id", ["N3", "NFC", "NSE"]) == {
        "N3": 19940127, "NFC": 20261101, "NSE": 20310309,
    }
    # 1994: 08:30, 12:00, 23:30 local (13:30, 17:00, 04:30 UTC)
    assert [
        (r["interval_start_local"].strftime("%H:%M"), r["interval_start_ts"].astimezone(UTC).strftime("%dT%H:%M"))
        for r in intervals(new_york, NY_1994)
    ] == [("08:30", "27T13:30"), ("12:00", "27T17:00"), ("23:30", "28T04:30")]


def test_new_york_intervals_on_the_23_and_25_hour_days(new_york):
    assert_fall_back_intervals(new_york, NY_FALL)
    assert_spring_forward_intervals(new_york, NY_SPRING)


def test_new_york_ledger_and_calendar_from_1994_to_2031(new_york):
    # 1994: -0.99 + 1000.00 (NT2 at 04:30 UTC on the 28th); the DST days as in Prague
    assert ledger_by_date(new_york) == [
        (19940127, NY_1994, 2, Decimal("999.01")),
        (20261101, NY_FALL.day, 3, Decimal("298.50")),
        (20310309, NY_SPRING.day, 3, Decimal("69.99")),
    ]
    assert date_keys(new_york, "fct_transactions", "txn_id", ["NT2"]) == {"NT2": 19940127}
    assert_fall_back_ledger(new_york, NY_FALL)
    # dim_date: 1 January of the year before the first date to 31 December of the year after the last
    assert rows(new_york, "select min(calendar_date)::text, max(calendar_date)::text, count(*) from analytics.dim_date") == [
        ("1993-01-01", "2032-12-31", 14610)
    ]
    assert rows(
        new_york,
        "select date_key, day_of_week, is_weekend from analytics.dim_date where date_key in (19940127, 20310309)"
        " order by 1",
    ) == [(19940127, 4, False), (20310309, 7, True)]
    # balances over 37 years: 1994-01-27..2031-03-09 is 13,556 days; the latest is the 2031 day's last entry
    assert rows(
        new_york, "select count(*), max(balance_date)::text from staging.int_account_balances_daily"
    ) == [(13556, NY_SPRING.day)]
    assert rows(new_york, "select as_of_date::text, deposit_balance from analytics.customer_360") == [
        (NY_SPRING.day, Decimal("1069.99"))
    ]


# ---------------------------------------------------------------- :30 and :45 zones
def test_kolkata_half_hour_zone(pg_server, template_db, target):
    """Asia/Kolkata, +05:30 all year: 00:10 local is 18:40 UTC the day before."""
    day = "2026-03-02"
    drop = dict(
        calls=[
            # K1: 00:10 local; answered without queueing after 20 s, talk 60, no wrap-up; resolved, csat 5
            call("K1", "2026-03-02T00:10:00+05:30", 80, "ANSWERED", answer_after=20, agent_id="AG1",
                 resolved=True, csat_score=5, customer_id="C1"),
            # K2: 23:59 local written in UTC; abandons after exactly S = 5 s: not short
            call("K2", "2026-03-02T18:29:00+00:00", 15, "ABANDONED", queue_entry_after=10, queue_exit_after=15),
            # K3: 12:44:59 local; wait 21 (not within), talk 120 + wrap-up 30 = 150; not resolved, csat 2
            call("K3", "2026-03-02T12:44:59+05:30", 151, "ANSWERED", queue_entry_after=10, queue_exit_after=31,
                 answer_after=31, agent_id="AG1", wrap_up_seconds=30, resolved=False, csat_score=2),
        ],
        transactions=[
            entry("KT1", "2026-03-01T18:30:00+00:00", "50.00", "CREDIT", "50.00"),  # 00:00:00 local
            entry("KT2", "2026-03-02T18:29:59+00:00", "20.00", "DEBIT", "30.00"),  # 23:59:59 local
        ],
        **master_data("2020-01-01"),
    )
    with bank(pg_server, template_db, "Asia/Kolkata", day) as (conn, url):
        rf.deliver(conn, day, **drop)
        # the models that date and bin by the zone, with their tests (the rest: the other banks)
        dbt(url, target, ["build", "--select", "+call_center_daily", "+call_center_interval", "+channel_mix_daily", "dim_date"])
        # offered 3, answered K1 K3, abandoned K2 (not short), within K1: SL 1/3, AR 1/3;
        # asa (0 + 21) / 2, aht (60 + 150) / 2; fcr 1/2; csat (5 + 2) / 2, top-2 1/2
        assert_kpis(
            kpis(conn)[(day, "RETAIL")],
            dict(offered=3, answered=2, abandoned=1, short_abandoned=0, ivr_only=0, answered_within_threshold=1,
                 service_level=1 / 3, abandon_rate=1 / 3, asa_seconds=Decimal("10.5"), aht_seconds=Decimal("105"),
                 fcr_rate=Decimal("0.5"), csat_avg=Decimal("3.5"), csat_top2_share=Decimal("0.5")),
        )
        # local half hours, each starting at :00/:30 local = :30/:00 UTC
        assert [
            (r["interval_start_local"].strftime("%H:%M"), r["interval_start_ts"].astimezone(UTC).isoformat(), r["offered"])
            for r in intervals(conn, day)
        ] == [
            ("00:00", "2026-03-01T18:30:00+00:00", 1),
            ("12:30", "2026-03-02T07:00:00+00:00", 1),
            ("23:30", "2026-03-02T18:00:00+00:00", 1),
        ]
        assert date_keys(conn, "fct_calls", "call_id", ["K1", "K2", "K3"]) == dict.fromkeys(["K1", "K2", "K3"], 20260302)
        assert ledger_by_date(conn) == [(20260302, day, 2, Decimal("30.00"))]


def test_kathmandu_from_cdw_timezone_on_a_first_day_without_ledger(pg_server, template_db, target, monkeypatch):
    """Asia/Kathmandu, +05:45, taken from CDW_TIMEZONE: no load has recorded a zone yet. The
    warehouse's first business date, New Year's Eve 2031, has calls and no ledger entry; a daily
    run builds it, data tests included."""
    day = "2031-12-31"
    monkeypatch.setenv("CDW_TIMEZONE", "Asia/Kathmandu")
    drop = dict(
        calls=[
            # M1: 00:05 local, 18:20 UTC on the 30th; answered without queueing after 10 s, talk 60,
            # no wrap-up; resolved, csat 4
            call("M1", "2031-12-30T18:20:00+00:00", 70, "ANSWERED", answer_after=10, agent_id="AG1",
                 resolved=True, csat_score=4, customer_id="C1"),
            # M2: 23:59 local; abandons after 6 s (not short)
            call("M2", "2031-12-31T23:59:00+05:45", 16, "ABANDONED", queue_entry_after=10, queue_exit_after=16),
        ],
        transactions=[],
        **master_data("2020-01-01"),
    )
    with bank(pg_server, template_db, None, day) as (conn, url):
        rf.deliver(conn, day, **drop)
        dbt(url, target, ["build"], business_date=day)
        # offered 2, answered M1 (wait 0, within), abandoned M2: SL 1/2, AR 1/2, asa 0, aht 60, fcr 1, csat 4
        assert_kpis(
            kpis(conn)[(day, "RETAIL")],
            dict(offered=2, answered=1, abandoned=1, short_abandoned=0, ivr_only=0, answered_within_threshold=1,
                 service_level=Decimal("0.5"), abandon_rate=Decimal("0.5"), asa_seconds=Decimal("0"),
                 aht_seconds=Decimal("60"), fcr_rate=Decimal("1"), csat_avg=Decimal("4"),
                 csat_top2_share=Decimal("1")),
        )
        assert [
            (r["interval_start_local"].strftime("%H:%M"), r["interval_start_ts"].astimezone(UTC).isoformat())
            for r in intervals(conn, day)
        ] == [("00:00", "2031-12-30T18:15:00+00:00"), ("23:30", "2031-12-31T17:45:00+00:00")]
        assert date_keys(conn, "fct_calls", "call_id", ["M1", "M2"]) == {"M1": 20311231, "M2": 20311231}
        assert ledger_by_date(conn) == []
        # the account is open; without any entry its balance is unknown, so it is not effective
        assert rows(
            conn, "select calendar_date::text, open_accounts, effective_accounts from analytics.customer_activity_daily"
        ) == [(day, 1, 0)]
        assert rows(conn, "select as_of_date::text from analytics.customer_360") == [(day,)]
