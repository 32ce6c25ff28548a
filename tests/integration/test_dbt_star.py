"""The dbt star schema on a real PostgreSQL, built by the real dbt (cdw.dbt.run_dbt).

Raw rows are written straight into the raw schema (tests/integration/raw_fixtures.py),
as the loader leaves them; nothing here depends on the loader.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from cdw import warehouse
from cdw.dbt import DbtFailed, run_dbt
from cdw.roles import setup_roles
from tests.integration import raw_fixtures as rf

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _marts_in_analytics(monkeypatch):
    """These tests check the models themselves: dbt writes the marts straight into analytics
    (the pipeline writes them to the private build schema and publishes after the gate)."""
    monkeypatch.setenv("CDW_DBT_MARTS_SCHEMA", "analytics")

# Build everything except data tests: the steps in the middle of a scenario.
BUILD_NO_TESTS = ["build", "--exclude-resource-type", "test", "unit_test"]

PUBLISHED = {
    "dim_date": {"date_key", "calendar_date", "year", "quarter", "month", "day_of_week", "is_weekend"},
    "dim_customer": {
        "customer_key",
        "customer_id",
        "gender",
        "birth_year",
        "age_band",
        "education",
        "city",
        "segment",
        "join_date",
        "valid_from",
        "valid_to",
        "is_current",
    },
    "dim_account": {
        "account_key",
        "account_id",
        "customer_id",
        "product",
        "currency",
        "open_date",
        "close_date",
        "status",
    },
    "dim_channel": {"channel_key", "channel_code", "channel_group"},
    "dim_agent": {"agent_key", "agent_id", "team", "site", "hire_date"},
    "fct_transactions": {
        "txn_id",
        "date_key",
        "txn_ts",
        "customer_key",
        "account_key",
        "channel_key",
        "txn_type",
        "direction",
        "amount",
        "signed_amount",
        "currency",
        "balance_after",
    },
    "fct_calls": {
        "call_id",
        "date_key",
        "customer_key",
        "agent_key",
        "service",
        "direction",
        "outcome",
        "ivr_seconds",
        "queue_seconds",
        "talk_seconds",
        "wrap_up_seconds",
        "handle_seconds",
        "answered_within_threshold",
        "is_abandoned",
        "is_short_abandon",
        "reason_code",
        "resolved",
        "csat_score",
    },
    "call_center_daily": {
        "calendar_date",
        "service",
        "offered",
        "answered",
        "abandoned",
        "short_abandoned",
        "ivr_only",
        "answered_within_threshold",
        "service_level",
        "abandon_rate",
        "asa_seconds",
        "aht_seconds",
        "fcr_rate",
        "csat_avg",
        "csat_top2_share",
    },
    "channel_mix_daily": {"calendar_date", "channel_code", "txn_count", "amount", "share_of_txn_count"},
}
PERSONAL_COLUMNS = {"full_name", "phone", "email", "caller_number", "counterparty_account", "agent_name"}


@pytest.fixture
def dbt(warehouse_url, tmp_path):
    """run_dbt bound to the test's database and a target directory of its own."""

    def run(args, **vars):
        started = time.monotonic()
        proc = run_dbt(args, url=warehouse_url, vars=vars or None, target_path=str(tmp_path / "target"))
        print(f"dbt {' '.join(args)} {vars}: {time.monotonic() - started:.1f}s")
        return proc

    return run


def rows(conn: psycopg.Connection, query, params=None) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def kpis(conn: psycopg.Connection, schema: str = "analytics") -> dict[tuple, dict]:
    query = sql.SQL("select * from {}.call_center_daily order by calendar_date, service")
    cur = conn.execute(query.format(sql.Identifier(schema)))
    names = [d.name for d in cur.description]
    out = {}
    for values in cur.fetchall():
        rec = dict(zip(names, values, strict=True))
        out[(rec["calendar_date"].isoformat(), rec["service"])] = rec
    return out


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


# ---------------------------------------------------------------- hand-made calls
# Business date D1 = 2026-03-02 (Monday), D2 = 2026-03-03, bank zone Asia/Shanghai (+08:00).
D1, D2 = "2026-03-02", "2026-03-03"


def ts(date: str, hms: str) -> str:
    return f"{date}T{hms}+08:00"


HAND_CALLS_D1 = [
    # c1: answered without queueing: wait 0 (within T), talk 300 + wrap 30 = handle 330
    rf.call(
        "c1",
        ts(D1, "09:00:00"),
        ts(D1, "09:05:30"),
        "ANSWERED",
        ivr_exit_ts=ts(D1, "09:00:30"),
        answer_ts=ts(D1, "09:00:30"),
        agent_id="AG1",
        wrap_up_seconds=30,
        resolved=True,
        csat_score=5,
        customer_id="C1",
    ),
    # c2: wait exactly 20 s = T (within), talk 180, no wrap-up -> handle 180
    rf.call(
        "c2",
        ts(D1, "10:00:00"),
        ts(D1, "10:03:30"),
        "ANSWERED",
        ivr_exit_ts=ts(D1, "10:00:10"),
        queue_entry_ts=ts(D1, "10:00:10"),
        queue_exit_ts=ts(D1, "10:00:30"),
        answer_ts=ts(D1, "10:00:30"),
        agent_id="AG1",
        resolved=False,
        csat_score=3,
    ),
    # c3: wait 21 s (not within), talk 120 + wrap 10 = handle 130, no FCR mark, no survey
    rf.call(
        "c3",
        ts(D1, "11:00:00"),
        ts(D1, "11:02:31"),
        "ANSWERED",
        ivr_exit_ts=ts(D1, "11:00:10"),
        queue_entry_ts=ts(D1, "11:00:10"),
        queue_exit_ts=ts(D1, "11:00:31"),
        answer_ts=ts(D1, "11:00:31"),
        agent_id="AG1",
        wrap_up_seconds=10,
    ),
    # c4: short abandon: waited 4 s < S
    rf.call(
        "c4",
        ts(D1, "12:00:00"),
        ts(D1, "12:00:14"),
        "ABANDONED",
        ivr_exit_ts=ts(D1, "12:00:10"),
        queue_entry_ts=ts(D1, "12:00:10"),
        queue_exit_ts=ts(D1, "12:00:14"),
    ),
    # c5: abandon after exactly 5 s = S: not short
    rf.call(
        "c5",
        ts(D1, "13:00:00"),
        ts(D1, "13:00:15"),
        "ABANDONED",
        ivr_exit_ts=ts(D1, "13:00:10"),
        queue_entry_ts=ts(D1, "13:00:10"),
        queue_exit_ts=ts(D1, "13:00:15"),
    ),
    # c6: IVR only (never asked for an agent: not offered)
    rf.call("c6", ts(D1, "14:00:00"), ts(D1, "14:01:00"), "IVR_ONLY", ivr_exit_ts=ts(D1, "14:01:00")),
    # c7: enters the IVR at 23:59 local, ends the next day: counts on D1. wait 20, talk 300, wrap 0
    rf.call(
        "c7",
        ts(D1, "23:59:00"),
        ts(D2, "00:04:50"),
        "ANSWERED",
        ivr_exit_ts=ts(D1, "23:59:30"),
        queue_entry_ts=ts(D1, "23:59:30"),
        queue_exit_ts=ts(D1, "23:59:50"),
        answer_ts=ts(D1, "23:59:50"),
        agent_id="AG1",
        wrap_up_seconds=0,
        resolved=True,
        csat_score=4,
    ),
    # c8: outbound: in fct_calls, not in call_center_daily
    rf.call(
        "c8",
        ts(D1, "15:00:00"),
        ts(D1, "15:10:00"),
        "ANSWERED",
        direction="OUTBOUND",
        answer_ts=ts(D1, "15:00:05"),
        agent_id="AG1",
        csat_score=1,
        campaign_id="CMP1",
    ),
    # c9: PREMIUM, wait 5, talk 60 + wrap 20 = 80, resolved, csat 2
    rf.call(
        "c9",
        ts(D1, "08:00:00"),
        ts(D1, "08:01:15"),
        "ANSWERED",
        service="PREMIUM",
        ivr_exit_ts=ts(D1, "08:00:10"),
        queue_entry_ts=ts(D1, "08:00:10"),
        queue_exit_ts=ts(D1, "08:00:15"),
        answer_ts=ts(D1, "08:00:15"),
        agent_id="AG1",
        wrap_up_seconds=20,
        resolved=True,
        csat_score=2,
    ),
]
HAND_CALLS_D2 = [
    # D2 has no answered call. RETAIL: d1 short abandon (wait 3), d2 IVR only
    rf.call(
        "d1",
        ts(D2, "15:00:00"),
        ts(D2, "15:00:13"),
        "ABANDONED",
        ivr_exit_ts=ts(D2, "15:00:10"),
        queue_entry_ts=ts(D2, "15:00:10"),
        queue_exit_ts=ts(D2, "15:00:13"),
    ),
    rf.call("d2", ts(D2, "16:00:00"), ts(D2, "16:00:40"), "IVR_ONLY", ivr_exit_ts=ts(D2, "16:00:40")),
    # CREDIT_CARD: d3 abandons after 10 s
    rf.call(
        "d3",
        ts(D2, "17:00:00"),
        ts(D2, "17:00:20"),
        "ABANDONED",
        service="CREDIT_CARD",
        ivr_exit_ts=ts(D2, "17:00:10"),
        queue_entry_ts=ts(D2, "17:00:10"),
        queue_exit_ts=ts(D2, "17:00:20"),
    ),
]

# Worked out by hand (T = 20, S = 5), Asia/Shanghai:
# D1 RETAIL, inbound c1..c7: offered = c1 c2 c3 c4 c5 c7 = 6 (c6 never asked for an agent);
#   answered = c1 c2 c3 c7 = 4; abandoned = c4 c5 = 2; short_abandoned = c4 (4 s < 5) = 1 (c5: 5 s is not < 5);
#   ivr_only = c6 = 1; answered_within_threshold = c1 (0) c2 (20) c7 (20) = 3 (c3: 21 > 20);
#   service_level = 3 / (6 - 1) = 0.6; abandon_rate = (2 - 1) / (6 - 1) = 0.2;
#   asa = (0 + 20 + 21 + 20) / 4 = 15.25; aht = (330 + 180 + 130 + 300) / 4 = 235;
#   fcr = resolved true {c1, c7} / resolved not null {c1, c2, c7} = 2/3;
#   csat {5, 3, 4}: avg 4, top-2 share {5, 4} = 2/3.
# D1 PREMIUM c9: offered 1, answered 1, within 1, SL 1, AR 0, asa 5, aht 80, fcr 1, csat 2, top2 0.
# D2 RETAIL d1 d2: offered 1, abandoned 1, short 1, ivr_only 1 -> denominators 0: every ratio and mean NULL.
# D2 CREDIT_CARD d3: offered 1, abandoned 1, short 0: SL 0/1 = 0, AR 1/1 = 1, asa/aht/fcr/csat NULL.
EXPECTED_SHANGHAI = {
    (D1, "RETAIL"): dict(
        offered=6,
        answered=4,
        abandoned=2,
        short_abandoned=1,
        ivr_only=1,
        answered_within_threshold=3,
        service_level=Decimal("0.6"),
        abandon_rate=Decimal("0.2"),
        asa_seconds=Decimal("15.25"),
        aht_seconds=Decimal("235"),
        fcr_rate=2 / 3,
        csat_avg=Decimal("4"),
        csat_top2_share=2 / 3,
    ),
    (D1, "PREMIUM"): dict(
        offered=1,
        answered=1,
        abandoned=0,
        short_abandoned=0,
        ivr_only=0,
        answered_within_threshold=1,
        service_level=Decimal("1"),
        abandon_rate=Decimal("0"),
        asa_seconds=Decimal("5"),
        aht_seconds=Decimal("80"),
        fcr_rate=Decimal("1"),
        csat_avg=Decimal("2"),
        csat_top2_share=Decimal("0"),
    ),
    (D2, "RETAIL"): dict(
        offered=1,
        answered=0,
        abandoned=1,
        short_abandoned=1,
        ivr_only=1,
        answered_within_threshold=0,
        service_level=None,
        abandon_rate=None,
        asa_seconds=None,
        aht_seconds=None,
        fcr_rate=None,
        csat_avg=None,
        csat_top2_share=None,
    ),
    (D2, "CREDIT_CARD"): dict(
        offered=1,
        answered=0,
        abandoned=1,
        short_abandoned=0,
        ivr_only=0,
        answered_within_threshold=0,
        service_level=Decimal("0"),
        abandon_rate=Decimal("1"),
        asa_seconds=None,
        aht_seconds=None,
        fcr_rate=None,
        csat_avg=None,
        csat_top2_share=None,
    ),
}
# America/New_York (EST, -05:00, 13 h behind +08:00): calls before 13:00 +08:00 move to the previous day.
# 2026-03-01 RETAIL c1 c2 c3 c4: offered 4, answered 3, abandoned 1, short 1, within 2 (c1, c2);
#   SL 2 / 3, AR 0 / 3 = 0, asa (0 + 20 + 21) / 3 = 41/3, aht (330 + 180 + 130) / 3 = 640/3,
#   fcr {c1} / {c1, c2} = 1/2, csat {5, 3}: avg 4, top2 1/2.
# 2026-03-01 PREMIUM c9 (08:00 +08:00): as on D1 above.
# 2026-03-02 RETAIL c5 c6 c7 (c7: 23:59 +08:00 = 10:59 EST): offered 2 (c5, c7), answered 1, abandoned 1,
#   short 0, ivr_only 1, within 1; SL 1/2, AR 1/2, asa 20, aht 300, fcr 1, csat 4, top2 1.
# D2 calls (15:00-17:00 +08:00 = 02:00-04:00 EST) stay on 2026-03-03.
EXPECTED_NEW_YORK = {
    ("2026-03-01", "RETAIL"): dict(
        offered=4,
        answered=3,
        abandoned=1,
        short_abandoned=1,
        ivr_only=0,
        answered_within_threshold=2,
        service_level=2 / 3,
        abandon_rate=Decimal("0"),
        asa_seconds=41 / 3,
        aht_seconds=640 / 3,
        fcr_rate=Decimal("0.5"),
        csat_avg=Decimal("4"),
        csat_top2_share=Decimal("0.5"),
    ),
    ("2026-03-01", "PREMIUM"): EXPECTED_SHANGHAI[(D1, "PREMIUM")],
    ("2026-03-02", "RETAIL"): dict(
        offered=2,
        answered=1,
        abandoned=1,
        short_abandoned=0,
        ivr_only=1,
        answered_within_threshold=1,
        service_level=Decimal("0.5"),
        abandon_rate=Decimal("0.5"),
        asa_seconds=Decimal("20"),
        aht_seconds=Decimal("300"),
        fcr_rate=Decimal("1"),
        csat_avg=Decimal("4"),
        csat_top2_share=Decimal("1"),
    ),
    (D2, "RETAIL"): EXPECTED_SHANGHAI[(D2, "RETAIL")],
    (D2, "CREDIT_CARD"): EXPECTED_SHANGHAI[(D2, "CREDIT_CARD")],
}


def deliver_hand_made(conn) -> None:
    snapshots = dict(
        customers=[rf.customer("C1")],
        accounts=[rf.account("A1", "C1")],
        agents=[rf.agent("AG1")],
    )
    rf.deliver(
        conn,
        D1,
        load_id=1,
        calls=HAND_CALLS_D1,
        transactions=[
            rf.txn("t1", "A1", ts(D1, "09:30:00"), "100.00", direction="CREDIT"),
            rf.txn("t2", "A1", ts(D1, "23:30:00"), "40.00", channel="ATM"),
        ],
        **snapshots,
    )
    rf.deliver(
        conn,
        D2,
        load_id=2,
        calls=HAND_CALLS_D2,
        transactions=[rf.txn("t3", "A1", ts(D2, "10:00:00"), "7.50", currency="USD")],
    )


@contextlib.contextmanager
def fresh_database(pg_server: str, template_db: str):
    """A database of its own (raw and audit schemas in place), dropped afterwards: its URL.
    The warehouse's zone is recorded once per database (audit.warehouse_timezone is append-only),
    so a test needing another zone needs another database."""
    name = f"cdw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    try:
        yield warehouse.with_database(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def hand_made(pg_server, template_db, tmp_path_factory):
    """One database per server with the hand-made drops, built once by `dbt build` (tests included)."""
    target = str(tmp_path_factory.mktemp("hand_made") / "target")
    with (
        fresh_database(pg_server, template_db) as url,
        psycopg.connect(url, autocommit=True) as conn,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("CDW_DBT_MARTS_SCHEMA", "analytics")  # module scope: set here, not by the autouse fixture
        rf.record_timezone(conn, "Asia/Shanghai", D1)  # as the first load would
        deliver_hand_made(conn)
        run_dbt(["build"], url=url, target_path=target)
        yield conn, url, target


def test_call_center_daily_matches_hand_computed_kpis(hand_made):
    db, _, _ = hand_made
    actual = kpis(db)
    assert set(actual) == set(EXPECTED_SHANGHAI)
    for key, expected in EXPECTED_SHANGHAI.items():
        assert_kpis(actual[key], expected)

    # per-call measures, including the call across midnight
    calls = {
        r[0]: r[1:]
        for r in rows(
            db,
            """
        select call_id, date_key, queue_seconds, talk_seconds, handle_seconds,
               answered_within_threshold, is_abandoned, is_short_abandon, is_offered
        from analytics.fct_calls""",
        )
    }
    assert len(calls) == 12
    assert calls["c7"] == (20260302, 20, 300, 300, True, False, False, True)
    assert calls["c1"] == (20260302, 0, 300, 330, True, False, False, True)
    assert calls["c4"] == (20260302, 4, None, None, False, True, True, True)
    assert calls["c5"] == (20260302, 5, None, None, False, True, False, True)
    assert calls["c6"][1:] == (None, None, None, False, False, False, False)
    # an unidentified caller and the absent agent resolve to the unknown members, never NULL
    assert rows(db, "select customer_key, agent_key from analytics.fct_calls where call_id = 'c4'") == [
        (-1, -1)
    ]

    # channel mix: per currency; shares of the date's total
    assert rows(
        db,
        """select calendar_date::text, channel_code, currency, txn_count, amount, share_of_txn_count
                       from analytics.channel_mix_daily order by 1, 2, 3""",
    ) == [
        (D1, "ATM", "CNY", 1, Decimal("40.00"), Decimal("0.5")),
        (D1, "MOBILE", "CNY", 1, Decimal("100.00"), Decimal("0.5")),
        (D2, "MOBILE", "USD", 1, Decimal("7.50"), Decimal("1")),
    ]


def test_calendar_dates_follow_the_recorded_time_zone(hand_made, pg_server, template_db, tmp_path, monkeypatch):
    db, _, _ = hand_made
    # the same drops in a warehouse whose first load recorded New York: the zone is the
    # warehouse's (audit.warehouse_timezone), not dbt's, and a database records one
    with fresh_database(pg_server, template_db) as url, psycopg.connect(url, autocommit=True) as new_york:
        rf.record_timezone(new_york, "America/New_York", D1)
        deliver_hand_made(new_york)
        # CDW_TIMEZONE is only the zone of a warehouse that recorded none: the recorded one wins
        monkeypatch.setenv("CDW_TIMEZONE", "Asia/Shanghai")
        run_dbt(
            BUILD_NO_TESTS + ["--select", "+call_center_daily"], url=url, target_path=str(tmp_path / "target")
        )
        actual = kpis(new_york)
        assert set(actual) == set(EXPECTED_NEW_YORK)
        for key, expected in EXPECTED_NEW_YORK.items():
            assert_kpis(actual[key], expected)
        assert rows(new_york, "select date_key from analytics.fct_calls where call_id = 'c1'") == [(20260301,)]
    assert rows(db, "select date_key from analytics.fct_calls where call_id = 'c1'") == [(20260302,)]


def test_published_columns_follow_contract_and_carry_no_personal_data(hand_made):
    db, url, target = hand_made
    columns: dict[str, set[str]] = {}
    for table, column in rows(
        db,
        """select table_name, column_name from information_schema.columns
                                     where table_schema = 'analytics'""",
    ):
        columns.setdefault(table, set()).add(column)
    for table, required in PUBLISHED.items():
        assert table in columns, f"analytics.{table} missing"
        assert required <= columns[table], f"analytics.{table} lacks {required - columns[table]}"
    everywhere = set().union(*columns.values())
    assert not everywhere & PERSONAL_COLUMNS

    # and no personal value in any text column, under whatever name
    personal_values = {
        v
        for (v,) in rows(
            db,
            """
        select full_name from raw.customers union select phone from raw.customers
        union select email from raw.customers union select caller_number from raw.calls
        union select counterparty_account from raw.transactions union select agent_name from raw.agents""",
        )
        if v
    }
    assert personal_values
    text_columns = rows(
        db,
        """select table_name, column_name from information_schema.columns
                               where table_schema = 'analytics' and data_type = 'text'""",
    )
    for table, column in text_columns:
        query = sql.SQL("select distinct {c} from analytics.{t} where {c} = any(%s)").format(
            c=sql.Identifier(column), t=sql.Identifier(table)
        )
        leaked = rows(db, query, (list(personal_values),))
        assert not leaked, f"analytics.{table}.{column} holds personal data"

    # facts never hold a NULL key
    for table, keys in {
        "fct_transactions": ["date_key", "customer_key", "account_key", "channel_key"],
        "fct_calls": ["date_key", "customer_key", "agent_key"],
    }.items():
        for key in keys:
            query = sql.SQL("select count(*) from analytics.{} where {} is null")
            assert rows(db, query.format(sql.Identifier(table), sql.Identifier(key))) == [(0,)]

    # a business date that is not a date never reaches SQL; the failure names the model
    with pytest.raises(DbtFailed, match="fct_calls"):
        run_dbt(
            ["run", "--select", "fct_calls"],
            url=url,
            target_path=target,
            vars={"business_date": "2026-03-02'; --"},
        )


# ---------------------------------------------------------------- history
DAYS = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"]


def history_drops() -> dict[str, dict]:
    """Five business dates. Customers: C1 MASS -> AFFLUENT (D3) -> MASS (D5); C2 Beijing -> Shenzhen (D2),
    kyc EXPIRED (D5); C3 new on D3, join_date corrected on D5 (not tracked). No customer or account
    snapshot on D4 (D3's stands); agents only on D1 and D3."""
    d1, d2, d3, d4, d5 = DAYS
    c1 = lambda **kw: rf.customer("C1", city="Shanghai", **kw)  # noqa: E731
    c2 = lambda **kw: rf.customer("C2", gender="M", birth_date="1995-02-01", **kw)  # noqa: E731
    c3 = lambda **kw: rf.customer("C3", birth_date="1950-12-31", education="POSTGRADUATE", **kw)  # noqa: E731
    customers = {
        d1: [c1(segment="MASS"), c2(city="Beijing")],
        d2: [c1(segment="MASS"), c2(city="Shenzhen")],
        d3: [c1(segment="AFFLUENT"), c2(city="Shenzhen"), c3(join_date="2026-03-04")],
        d5: [c1(segment="MASS"), c2(city="Shenzhen", kyc_status="EXPIRED"), c3(join_date="2026-03-03")],
    }
    a4 = rf.account("A4", "C2", product="SAVINGS", open_date="2020-01-01")  # never used: dormant by coverage
    accounts = {
        d1: [rf.account("A1", "C1"), rf.account("A2", "C2", currency="USD"), a4],
        d2: [rf.account("A1", "C1"), rf.account("A2", "C2", currency="USD"), a4],
        d3: [rf.account("A1", "C1"), rf.account("A2", "C2", currency="USD"), rf.account("A3", "C3"), a4],
        d5: [
            rf.account("A1", "C1", status="DORMANT"),
            rf.account("A2", "C2", currency="USD"),
            rf.account("A3", "C3"),
            a4,
        ],
    }
    agents = {
        d1: [rf.agent("AG1"), rf.agent("AG2")],
        d3: [rf.agent("AG1"), rf.agent("AG2", team="T2"), rf.agent("AG3", site="Chengdu")],
    }
    drops = {}
    for i, day in enumerate(DAYS):
        accts = ["A1", "A2"] + (["A3"] if day >= d3 else [])
        txns = [
            rf.txn(
                f"T{i}{a}{k}",
                a,
                f"{day}T{9 + k:02d}:15:00+08:00",
                f"{10 * (i + 1) + k}.25",
                direction="CREDIT" if k % 2 else "DEBIT",
                channel=["MOBILE", "ATM", "BRANCH"][k],
                branch_id="BR001" if k == 2 else None,
                currency="USD" if a == "A2" else "CNY",
            )
            for a in accts
            for k in range(3)
        ]
        calls = [
            rf.call(
                f"K{i}a",
                f"{day}T10:00:00+08:00",
                f"{day}T10:05:00+08:00",
                "ANSWERED",
                customer_id="C1",
                queue_entry_ts=f"{day}T10:00:20+08:00",
                answer_ts=f"{day}T10:00:{30 + i}+08:00",
                agent_id="AG1",
                resolved=True,
                csat_score=5,
            ),
            rf.call(
                f"K{i}b",
                f"{day}T23:58:00+08:00",
                f"{day}T23:59:30+08:00",
                "ABANDONED",
                customer_id="C2",
                queue_entry_ts=f"{day}T23:58:30+08:00",
                queue_exit_ts=f"{day}T23:59:30+08:00",
            ),
            rf.call(
                f"K{i}c",
                f"{day}T12:00:00+08:00",
                f"{day}T12:09:00+08:00",
                "ANSWERED",
                customer_id="C3" if day >= d3 else None,
                answer_ts=f"{day}T12:00:05+08:00",
                agent_id="AG3" if day >= d3 else "AG2",
                service="PREMIUM",
                wrap_up_seconds=15,
            ),
        ]
        if day == d4:  # A4's only entry: reactivated on D5 after dormant D2 (and no snapshot row on D3, below)
            txns.append(rf.txn("T3A40", "A4", f"{day}T15:00:00+08:00", "5.00", direction="CREDIT"))
        drops[day] = dict(
            transactions=txns,
            calls=calls,
            **({"customers": customers[day]} if day in customers else {}),
            **({"accounts": accounts[day]} if day in accounts else {}),
            **({"agents": agents[day]} if day in agents else {}),
        )
    return drops


SNAPSHOT_TABLES = {
    "dim_customer": "customer_id, valid_from",
    "dim_account": "account_id",
    "dim_agent": "agent_id",
    "dim_channel": "channel_code",
    "dim_date": "date_key",
    "fct_transactions": "txn_id",
    "fct_calls": "call_id",
    "call_center_daily": "calendar_date, service",
    "channel_mix_daily": "calendar_date, channel_code, currency",
}
# The models incremental by date over history (dbt_project/macros/incremental_history.sql):
# their whole contents must not depend on the load order either.
HISTORY_TABLES = {
    "staging.int_customers_versioned": "customer_id, valid_from",
    "staging.int_account_balances_daily": "account_id, balance_date",
    "staging.int_account_days_classified": "account_id, snapshot_date",
    "staging.int_customer_balances_daily": "customer_id, balance_date",
    "staging.int_account_days_active": "account_id, calendar_date",
    "analytics.customer_activity_daily": "calendar_date",
    "analytics.balance_concentration_daily": "calendar_date",
    "analytics.unusual_account_activity": "account_id, calendar_date",
}
# Windows small enough for five days to reach them (dormancy, unusual activity's history):
# out-of-order dates then change later dates' rows.
HISTORY_VARS = {
    "dormancy_days": 2,
    "unusual_history_days": 3,
    "unusual_min_history_days": 2,
    "unusual_sigma_k": 1,
    "unusual_entry_count_limit": 2,
}


def table_rows(conn, schema: str, table: str, order: str) -> list[tuple]:
    """The table's rows without ``built_at`` (when dbt built the row: different in every run by
    design; publication reads it, the history is what it publishes)."""
    columns = rows(conn, "select column_name from information_schema.columns where table_schema = %s"
                         " and table_name = %s and column_name <> 'built_at' order by ordinal_position",
                   (schema, table))
    query = sql.SQL("select {} from {} order by " + order).format(  # noqa: S608 (constant order)
        sql.SQL(", ").join(sql.Identifier(c) for (c,) in columns), sql.Identifier(schema, table))
    return rows(conn, query)


def published_contents(conn) -> dict[str, list[tuple]]:
    contents = {table: table_rows(conn, "analytics", table, order) for table, order in SNAPSHOT_TABLES.items()}
    for table, order in HISTORY_TABLES.items():
        contents[table] = table_rows(conn, *table.split("."), order)
    return contents


def reset(conn) -> None:
    rf.truncate_raw(conn)
    conn.execute("drop schema if exists analytics cascade")
    conn.execute("drop schema if exists staging cascade")
    setup_roles(conn)  # the owner makes the schemas again: the pipeline's role may not


@pytest.mark.single_server
def test_history_is_the_same_in_any_load_order(db, dbt):
    drops = history_drops()
    # D3 is re-delivered after D5 in the forward order: an entry gone, another amount changed,
    # A4's snapshot row gone (back on D5). The other orders load that final D3 directly. The
    # daily run of the re-delivered D3 has to rebuild D3 and every later date depending on it.
    d3 = DAYS[2]
    final_drops = {**drops, d3: dict(drops[d3])}
    final_drops[d3]["transactions"] = [
        {**t, "amount": "99.25"} if t["txn_id"] == "T2A20" else t
        for t in drops[d3]["transactions"]
        if t["txn_id"] != "T2A11"
    ]
    final_drops[d3]["accounts"] = [a for a in drops[d3]["accounts"] if a["account_id"] != "A4"]
    results = {}
    for name, order in {"forward": DAYS, "reverse": DAYS[::-1]}.items():
        reset(db)
        for n, day in enumerate(order):
            rf.deliver(db, day, load_id=DAYS.index(day) + 1, **(drops if name == "forward" else final_drops)[day])
            # the dbt tests run on the last step of the harder (reverse) order; the backfill runs them too
            last = name == "reverse" and n == len(order) - 1
            dbt(["build"] if last else BUILD_NO_TESTS, business_date=day, **HISTORY_VARS)
        if name == "forward":
            rf.deliver(db, d3, load_id=DAYS.index(d3) + 1, **final_drops[d3])
            dbt(BUILD_NO_TESTS, business_date=d3, **HISTORY_VARS)
            # D5's snapshot re-delivered changed, then as before: rebuilt from D5, whose previous
            # snapshot (D3) lacks A4, so A4's previous state is its own D2 row
            d5 = DAYS[4]
            changed = [{**a, "status": "ACTIVE"} if a["account_id"] == "A1" else a for a in final_drops[d5]["accounts"]]
            for accounts in (changed, final_drops[d5]["accounts"]):
                rf.deliver(db, d5, load_id=DAYS.index(d5) + 1, accounts=accounts)
                dbt(BUILD_NO_TESTS, business_date=d5, **HISTORY_VARS)
            dbt(BUILD_NO_TESTS, business_date=d5, **HISTORY_VARS)  # a retry: nothing changed
        results[name] = published_contents(db)

    reset(db)
    for day in DAYS:
        rf.deliver(db, day, load_id=DAYS.index(day) + 1, **final_drops[day])
    dbt(["build"], **HISTORY_VARS)  # backfill: no business_date var, every date at once
    results["backfill"] = published_contents(db)

    assert results["backfill"]["staging.int_account_days_classified"], "nothing classified"
    assert any(row[-3] for row in results["backfill"]["staging.int_account_days_classified"]), "nothing dormant"
    assert results["backfill"]["analytics.unusual_account_activity"], "no unusual activity"
    # customer_activity_daily: (calendar_date, ..., accounts_reactivated last): A4 on D5
    assert [r[-1] for r in results["backfill"]["analytics.customer_activity_daily"]][-1] >= 1
    for table in [*SNAPSHOT_TABLES, *HISTORY_TABLES]:
        assert results["forward"][table] == results["backfill"][table], f"{table}: forward != backfill"
        assert results["reverse"][table] == results["backfill"][table], f"{table}: reverse != backfill"

    # the versions themselves (valid_to exclusive; 9999-12-31 = current)
    d1, d2, d3, d4, d5 = DAYS
    versions = rows(
        db,
        """select customer_id, valid_from::text, valid_to::text, segment, city, kyc_status,
                                  is_current, join_date::text
                           from analytics.dim_customer where customer_key <> -1 order by 1, 2""",
    )
    assert versions == [
        ("C1", d1, d3, "MASS", "Shanghai", "VERIFIED", False, "2015-01-01"),
        ("C1", d3, d5, "AFFLUENT", "Shanghai", "VERIFIED", False, "2015-01-01"),
        ("C1", d5, "9999-12-31", "MASS", "Shanghai", "VERIFIED", True, "2015-01-01"),
        ("C2", d1, d2, "MASS", "Beijing", "VERIFIED", False, "2015-01-01"),
        ("C2", d2, d5, "MASS", "Shenzhen", "VERIFIED", False, "2015-01-01"),
        ("C2", d5, "9999-12-31", "MASS", "Shenzhen", "EXPIRED", True, "2015-01-01"),
        ("C3", d3, "9999-12-31", "MASS", "Shanghai", "VERIFIED", True, "2026-03-03"),
    ]
    # each fact row points at the version valid on its date (D4 has no snapshot: D3's version stands)
    seen = rows(
        db,
        """select f.calendar_date::text, c.customer_id, c.segment, c.city
                       from analytics.fct_transactions f join analytics.dim_customer c using (customer_key)
                       where f.account_id in ('A1', 'A2') group by 1, 2, 3, 4 order by 1, 2""",
    )
    assert seen == [
        (d1, "C1", "MASS", "Shanghai"),
        (d1, "C2", "MASS", "Beijing"),
        (d2, "C1", "MASS", "Shanghai"),
        (d2, "C2", "MASS", "Shenzhen"),
        (d3, "C1", "AFFLUENT", "Shanghai"),
        (d3, "C2", "MASS", "Shenzhen"),
        (d4, "C1", "AFFLUENT", "Shanghai"),
        (d4, "C2", "MASS", "Shenzhen"),
        (d5, "C1", "MASS", "Shanghai"),
        (d5, "C2", "MASS", "Shenzhen"),
    ]
    assert rows(db, "select count(*) from analytics.fct_transactions") == [(39,)]  # T3A40 more, T2A11 re-delivered away
    assert rows(db, "select count(*) from analytics.fct_calls where customer_key = -1") == [(2,)]  # K0c, K1c


def test_late_arriving_members_are_repaired_by_the_next_run(db, dbt):
    d1, d2 = DAYS[:2]
    rf.deliver(
        db,
        d1,
        load_id=1,
        customers=[rf.customer("C1")],
        accounts=[rf.account("A1", "C1")],
        agents=[rf.agent("AG1")],
        transactions=[
            rf.txn("T1", "A1", f"{d1}T09:00:00+08:00", "10.00"),
            rf.txn("T9", "A9", f"{d1}T10:00:00+08:00", "20.00"),
        ],  # account not known yet
        calls=[
            rf.call(
                "K9",
                f"{d1}T11:00:00+08:00",
                f"{d1}T11:05:00+08:00",
                "ANSWERED",
                customer_id="C9",
                agent_id="AG9",
                answer_ts=f"{d1}T11:00:10+08:00",
            )
        ],
    )
    dbt(BUILD_NO_TESTS, business_date=d1)
    assert rows(
        db, "select customer_key, account_key from analytics.fct_transactions where txn_id = 'T9'"
    ) == [(-1, -1)]
    assert rows(db, "select customer_key, agent_key from analytics.fct_calls where call_id = 'K9'") == [
        (-1, -1)
    ]

    # D2 brings C9, A9 and AG9; the D2 run also re-resolves D1's unknown members
    rf.deliver(
        db,
        d2,
        load_id=2,
        customers=[rf.customer("C1"), rf.customer("C9", segment="PRIVATE")],
        accounts=[rf.account("A1", "C1"), rf.account("A9", "C9")],
        agents=[rf.agent("AG1"), rf.agent("AG9")],
        transactions=[rf.txn("T2", "A9", f"{d2}T09:00:00+08:00", "5.00")],
        calls=[],
    )
    dbt(BUILD_NO_TESTS, business_date=d2)
    repaired = rows(
        db,
        """select f.txn_id, f.business_date::text, c.customer_id, c.segment, a.account_id
                           from analytics.fct_transactions f
                           join analytics.dim_customer c using (customer_key)
                           join analytics.dim_account a using (account_key) order by 1""",
    )
    assert repaired == [
        ("T1", d1, "C1", "MASS", "A1"),
        ("T2", d2, "C9", "PRIVATE", "A9"),
        ("T9", d1, "C9", "PRIVATE", "A9"),
    ]
    assert rows(
        db,
        """select c.customer_id, g.agent_id from analytics.fct_calls f
                       join analytics.dim_customer c using (customer_key)
                       join analytics.dim_agent g using (agent_key)""",
    ) == [("C9", "AG9")]

    # a corrected re-delivery of D2 without any ledger entry replaces the date: T2 is gone
    rf.deliver(db, d2, load_id=3, transactions=[])
    dbt(["build"], business_date=d2)  # dbt tests too: the reconciliation holds per business date
    assert rows(db, "select txn_id from analytics.fct_transactions order by 1") == [("T1",), ("T9",)]


def test_a_daily_run_in_date_order_reads_the_previous_build_of_the_snapshot_models(db, dbt):
    """int_customers_versioned and dim_account read their previous build and the new snapshots
    when a run only adds later dates (macros/snapshot_increment.sql), and every snapshot otherwise.
    A value planted in the previous build shows which of the two a run did."""
    drops = history_drops()
    reset(db)
    d1, d2, d3, d4, _ = DAYS
    for day in (d1, d2, d3):
        rf.deliver(db, day, load_id=DAYS.index(day) + 1, **drops[day])
        dbt(BUILD_NO_TESTS, business_date=day)

    def planted():
        return rows(db, "select join_date::text from staging.int_customers_versioned where customer_id = 'C3'"
                        " union all select branch_id from analytics.dim_account where account_id = 'A3'")

    # C3 and A3 are in no snapshot after D3: nothing but the previous build can carry the plant
    db.execute("update staging.int_customers_versioned set join_date = '1999-09-09' where customer_id = 'C3'")
    db.execute("update analytics.dim_account set branch_id = 'PLANTED' where account_id = 'A3'")
    db.commit()
    rf.deliver(db, d4, load_id=DAYS.index(d4) + 1, **drops[d4])  # D4 delivers no snapshot
    dbt(BUILD_NO_TESTS, business_date=d4)
    assert planted() == [("1999-09-09",), ("PLANTED",)], "the run in date order rebuilt from every snapshot"

    # D2 delivered again (a new load): not after every date seen, so every snapshot is read again
    rf.deliver(db, d2, load_id=99, **drops[d2])
    dbt(BUILD_NO_TESTS, business_date=d2)
    assert planted() == [("2026-03-04",), ("BR001",)], "the out-of-order run kept the previous build"


def test_the_facts_statistics_include_the_business_date_just_built(db, dbt):
    """Statistics from before a date estimate its rows at about one; the daily tests' joins,
    planned so, took 10 to 100 times longer (macros/business_dates.sql, analyze_business_dates)."""
    drops = history_drops()
    reset(db)
    for day in DAYS[:2]:
        rf.deliver(db, day, load_id=DAYS.index(day) + 1, **drops[day])
        dbt(BUILD_NO_TESTS, business_date=day)
        for fact in ("fct_transactions", "fct_calls"):
            known = rows(db, "select coalesce(most_common_vals::text, '') || coalesce(histogram_bounds::text, '')"
                             " from pg_stats where tablename = %s and attname = 'business_date'", (fact,))
            assert len(known) == 1 and day in known[0][0], f"{fact} on {day}: {known}"
