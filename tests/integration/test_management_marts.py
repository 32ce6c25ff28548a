"""The management marts (dbt_project/models/marts/management) on hand-made raw rows.

One scenario, six business dates D1..D6 = 2026-03-02..2026-03-07 (bank zone Asia/Shanghai),
built once with small windows and limits (VARS) so that every rule fires on a few rows; every
expected figure is worked out by hand in the comments. The Erlang C staffing function is
checked against a direct evaluation of the formula in Python and a textbook value. A second
test generates a few days with the landing generator, loads them and checks that every mart
has something to show.
"""

from __future__ import annotations

import math
import statistics
import time
from datetime import date
from decimal import Decimal

import psycopg
import pytest

from cdw.dbt import run_dbt
from tests.integration import raw_fixtures as rf

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _marts_in_analytics(monkeypatch):
    """These tests check the models themselves: dbt writes the marts straight into analytics
    (the pipeline writes them to the private build schema and publishes after the gate)."""
    monkeypatch.setenv("CDW_DBT_MARTS_SCHEMA", "analytics")

D = [f"2026-03-0{d}" for d in range(2, 8)]  # D[0] = D1 ... D[5] = D6 (as_of_date)
D1, D2, D3, D4, D5, D6 = D

# The management marts, everything they depend on, and their data tests.
MANAGEMENT_BUILD = ["build", "--select", "+path:models/marts/management", "--indirect-selection", "cautious"]

# Small windows so that six days exercise every rule; defaults are documented in dbt_project.yml.
VARS = {
    "dormancy_days": 3,
    "churn_recent_days": 2,
    "churn_baseline_days": 3,
    "churn_balance_drop_pct": 30,
    "unusual_min_history_days": 3,
    "unusual_sigma_k": 2,
    "unusual_debit_amount_limit": 50000,
    "unusual_entry_count_limit": 3,
}


def ts(day: str, hms: str) -> str:
    return f"{day}T{hms}+08:00"


CUSTOMERS = [
    rf.customer("C1", segment="MASS", birth_date="1960-01-01", education="SECONDARY"),
    rf.customer("C2", segment="AFFLUENT", birth_date="1980-06-15", education="BACHELOR"),
    rf.customer("C3", segment="MASS"),
    rf.customer("C4", segment="MASS"),
    rf.customer("C5", segment="MASS"),
    rf.customer("C6", segment="MASS"),
    rf.customer("C7", segment="PRIVATE"),  # no account
]
ACCOUNTS = [
    rf.account("A1", "C1"),
    rf.account("A2", "C2", product="SAVINGS", currency="USD"),
    rf.account("A3", "C3"),
    rf.account("A4", "C4"),
    rf.account("A5", "C5", product="SAVINGS", status="DORMANT"),  # the bank's DORMANT, never used
    rf.account("A6", "C5", open_date="2020-01-01"),  # ACTIVE but never used
    rf.account("A7", "C5"),
    rf.account("A8", "C5", status="CLOSED", close_date="2025-12-01"),
    rf.account("A9", "C6"),
]
AGENTS = [
    rf.agent("AG1", team="T-RETAIL"),
    rf.agent("AG2", team="T-PREMIUM"),
    rf.agent("AG3", team="T-RETAIL"),
]


def t(txn_id, account, day, hms, amount, direction, balance, channel="MOBILE", txn_type="PAYMENT", **kw):
    return rf.txn(
        txn_id, account, ts(day, hms), amount, direction=direction, balance_after=balance,
        channel=channel, txn_type=txn_type, **kw,
    )  # fmt: skip


TXNS = {
    D1: [
        t("t01", "A1", D1, "10:00:00", "600000.00", "CREDIT", "600000.00", "BRANCH", "DEPOSIT"),
        t("t02", "A2", D1, "10:05:00", "100.00", "DEBIT", "20000.00", currency="USD"),
        t("t03", "A4", D1, "11:00:00", "10000.00", "CREDIT", "10000.00", "BRANCH", "DEPOSIT"),
        t("t04", "A7", D1, "12:00:00", "500.00", "CREDIT", "500.00", "ONLINE", "TRANSFER"),
        t("t05", "A9", D1, "13:00:00", "100.00", "DEBIT", "99900.00"),
    ],
    D2: [
        t("t06", "A3", D2, "10:00:00", "40000.00", "CREDIT", "50000.00", "ONLINE", "TRANSFER"),
        t("t07", "A9", D2, "13:00:00", "200.00", "DEBIT", "99700.00"),
    ],
    D3: [
        t("t08", "A3", D3, "10:00:00", "20000.00", "DEBIT", "30000.00", "ATM", "WITHDRAWAL"),
        t("t09", "A9", D3, "13:00:00", "300.00", "DEBIT", "99400.00"),
    ],
    D4: [
        t("t10", "A4", D4, "10:00:00", "8000.00", "DEBIT", "2000.00", "POS", "CARD_PURCHASE"),
        t(
            "t11", "A7", D4, "23:55:00", "10.00", "DEBIT", "490.00", "SYSTEM", "FEE"
        ),  # the bank's: no activity
        t("t12", "A9", D4, "13:00:00", "450.00", "DEBIT", "98950.00"),
    ],
    D5: [
        t(f"t1{3 + i}", "A9", D5, f"{9 + i:02d}:00:00", "10.00", "DEBIT", f"{98940 - 10 * i}.00")
        for i in range(4)
    ],
    D6: [
        t("t17", "A7", D6, "10:00:00", "100.00", "CREDIT", "590.00", "MOBILE", "TRANSFER"),
        t("t18", "A9", D6, "11:00:00", "60000.00", "DEBIT", "38910.00", "ONLINE", "TRANSFER"),
    ],
}


def answered(call_id, day, hms_ivr, wait, talk, wrap, agent, **kw):
    """An inbound call: 10 s IVR, ``wait`` s queue, ``talk`` s with the agent."""
    h, m, s = map(int, hms_ivr.split(":"))
    t0 = h * 3600 + m * 60 + s

    def at(sec):
        return ts(day, f"{sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}")

    return rf.call(
        call_id, at(t0), at(t0 + 10 + wait + talk), "ANSWERED", ivr_exit_ts=at(t0 + 10),
        queue_entry_ts=at(t0 + 10), queue_exit_ts=at(t0 + 10 + wait), answer_ts=at(t0 + 10 + wait),
        agent_id=agent, wrap_up_seconds=wrap, **kw,
    )  # fmt: skip


def outbound(call_id, day, hms, outcome, **kw):
    start = ts(day, hms)
    extra = {"answer_ts": start, "agent_id": "AG1"} if outcome == "ANSWERED" else {"queue_entry_ts": start}
    return rf.call(call_id, start, ts(day, hms[:6] + "59"), outcome, direction="OUTBOUND", **extra, **kw)


CALLS = {
    D2: [
        answered(
            "k1",
            D2,
            "10:00:00",
            5,
            600,
            0,
            "AG2",
            service="PREMIUM",
            customer_id="C7",
            reason_code="COMPLAINT",
            resolved=False,
        ),
    ],  # fmt: skip
    D3: [
        outbound("o1", D3, "14:00:00", "ANSWERED", campaign_id="CMP1", reason_code="SALES", resolved=True),
        outbound("o2", D3, "14:10:00", "ANSWERED", campaign_id="CMP1", reason_code="SALES", resolved=False),
        outbound("o3", D3, "14:20:00", "ANSWERED", campaign_id="CMP1", reason_code="INQUIRY", resolved=True),
        outbound("o4", D3, "14:30:00", "ABANDONED", campaign_id="CMP1"),
        outbound("o5", D3, "14:40:00", "ABANDONED", campaign_id="CMP2"),
    ],
    D4: [
        # RETAIL 10:00-10:30: waits 0, 10, 30; handle 300, 240, 330 + 30 = 360; one short abandon
        answered("i1", D4, "10:01:00", 0, 300, 0, "AG1"),
        answered("i2", D4, "10:05:00", 10, 240, 0, "AG3"),
        answered("i3", D4, "10:20:00", 30, 330, 30, "AG1"),
        rf.call(
            "i4",
            ts(D4, "10:25:00"),
            ts(D4, "10:25:13"),
            "ABANDONED",
            ivr_exit_ts=ts(D4, "10:25:10"),
            queue_entry_ts=ts(D4, "10:25:10"),
            queue_exit_ts=ts(D4, "10:25:13"),
        ),
    ],  # fmt: skip
    D5: [
        answered(
            "k2",
            D5,
            "09:00:00",
            5,
            400,
            20,
            "AG2",
            service="PREMIUM",
            customer_id="C7",
            reason_code="COMPLAINT",
            resolved=True,
        ),
        answered(
            "k3",
            D5,
            "11:00:00",
            5,
            400,
            20,
            "AG1",
            customer_id="C4",
            reason_code="COMPLAINT",
            resolved=True,
            csat_score=2,
        ),
        answered("k4", D5, "13:00:00", 5, 400, 20, "AG3", reason_code="COMPLAINT"),
    ],  # fmt: skip
}


def erlang_c_service_level(n: int, a: float, t: float, aht: float) -> float:
    """Direct Erlang C: C = (A^N/N! * N/(N-A)) / (sum_{k<N} A^k/k! + A^N/N! * N/(N-A))."""
    top = a**n / math.factorial(n) * n / (n - a)
    c = top / (sum(a**k / math.factorial(k) for k in range(n)) + top)
    return 1 - c * math.exp(-(n - a) * t / aht)


def erlang_c_agents(calls: float, aht: float, target=0.8, t=20.0, interval=1800.0) -> int:
    a = calls * aht / interval
    n = math.floor(a) + 1
    while erlang_c_service_level(n, a, t, aht) < target:
        n += 1
    return n


def fetch(conn, query, params=None) -> list[dict]:
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def by(rows, *keys):
    return {tuple(str(r[k]) for k in keys) if len(keys) > 1 else str(r[keys[0]]): r for r in rows}


def approx(value, want, tol=1e-6):
    return value is not None and float(value) == pytest.approx(float(want), abs=tol)


@pytest.fixture
def built(warehouse_url, tmp_path):
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for day in D:
            rf.deliver(
                conn, day, customers=CUSTOMERS, accounts=ACCOUNTS, agents=AGENTS,
                transactions=TXNS.get(day, []), calls=CALLS.get(day, []),
            )  # fmt: skip
    started = time.monotonic()
    run_dbt(MANAGEMENT_BUILD, url=warehouse_url, vars=VARS, target_path=str(tmp_path / "target"))
    print(f"dbt build: {time.monotonic() - started:.1f}s")
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn


def test_management_marts_on_a_hand_made_bank(built):
    conn = built
    c360 = by(fetch(conn, "select * from analytics.customer_360"), "customer_id")
    assert set(c360) == {"C1", "C2", "C3", "C4", "C5", "C6", "C7"}
    assert {r["as_of_date"].isoformat() for r in c360.values()} == {D6}

    # ---- balances (end of D6, CNY; USD x 7.2) and average daily balances over the known days
    assert c360["C1"]["current_balance"] == Decimal("600000.00")
    assert c360["C2"]["savings_balance"] == Decimal("144000.00")  # 20000 USD x 7.2
    assert c360["C2"]["deposit_balance"] == Decimal("144000.00")
    assert c360["C5"]["deposit_balance"] == Decimal("590.00")  # A7 only: A5, A6 unknown, A8 closed
    assert c360["C3"]["adb_30d"] == Decimal("34000.00")  # D2..D6: 50000, 30000 x 4
    assert c360["C4"]["adb_90d"] == Decimal("6000.00")  # 10000 x 3, 2000 x 3
    assert c360["C7"]["adb_90d"] is None and c360["C7"]["deposit_balance"] == 0
    # ---- activity by channel group; inflows (customer-initiated credits); growth
    c3 = c360["C3"]
    assert (c3["digital_txn_count_30d"], c3["digital_txn_amount_30d"]) == (1, Decimal("40000.00"))
    assert (c3["self_service_txn_count_90d"], c3["self_service_txn_amount_90d"]) == (1, Decimal("20000.00"))
    assert c3["assisted_txn_count_90d"] == 0
    assert c3["inflow_90d"] == Decimal("40000.00") and c3["balance_growth_90d"] == Decimal("-20000.00")
    assert c360["C5"]["inflow_90d"] == Decimal("600.00")  # 500 + 100; the SYSTEM fee is not an inflow
    # ---- contacts, last activity, tenure
    c4 = c360["C4"]
    assert (c4["calls_90d"], c4["complaints_90d"], c4["csat_avg_90d"]) == (1, 1, Decimal("2"))
    assert c4["last_customer_entry_date"].isoformat() == D4 and c4["last_activity_date"].isoformat() == D5
    assert c360["C7"]["complaints_90d"] == 2
    assert c360["C1"]["tenure_days"] == (date(2026, 3, 7) - date(2015, 1, 1)).days

    # ---- tiers: adb_90d C1 600000 -> AFFLUENT (bank: MASS); C7 none -> MASS (bank: PRIVATE)
    assert {k: r["tier"] for k, r in c360.items()} == {
        "C1": "AFFLUENT", "C2": "AFFLUENT", "C3": "MASS", "C4": "MASS", "C5": "MASS", "C6": "MASS", "C7": "MASS",
    }  # fmt: skip
    mismatches = by(fetch(conn, "select * from analytics.segment_tier_mismatches"), "customer_id")
    assert {k: (r["segment"], r["tier"], r["direction"]) for k, r in mismatches.items()} == {
        "C1": ("MASS", "AFFLUENT", "SEGMENT_BELOW_TIER"),
        "C7": ("PRIVATE", "MASS", "SEGMENT_ABOVE_TIER"),
    }
    # ---- value quadrants: C1 600000 / inflow 600000 KEY; C2 144000 / nothing in MAINTAIN;
    #      C3 30000 / inflow 40000 DEVELOP; the rest low/low REVIEW
    assert {k: r["value_quadrant"] for k, r in c360.items()} == {
        "C1": "KEY", "C2": "MAINTAIN", "C3": "DEVELOP", "C4": "REVIEW", "C5": "REVIEW", "C6": "REVIEW",
        "C7": "REVIEW",
    }  # fmt: skip
    # ---- wealth prospect: only C1 has > 500000; age 66 at D6 (born 1960-01-01), SECONDARY education
    prospects = {k: r["wealth_prospect_reason"] for k, r in c360.items() if r["is_wealth_prospect"]}
    assert prospects == {"C1": "deposit balance 600000.00 > 500000; age 66 > 55"}

    # ---- dormancy (N = 3): A5 bank DORMANT throughout; A6 never used, dormant once 3 days of ledger
    #      are loaded (D3); A1, A2 last entry D1 -> dormant D4; A7 entry D1, only a SYSTEM fee D4 ->
    #      dormant D4, reactivated by its D6 entry; A3 last entry D3 -> dormant D6.
    #      Effective (open, not dormant, known balance <> 0): D1 A1 A2 A4 A7 A9; D2-D3 + A3;
    #      D4-D5 A3 A4 A9; D6 A4 A7 A9.
    activity = by(fetch(conn, "select * from analytics.customer_activity_daily"), "calendar_date")
    got = {
        k: (r["open_accounts"], r["dormant_accounts"], r["effective_accounts"], r["effective_customers"],
            r["accounts_turned_dormant"], r["accounts_reactivated"])
        for k, r in activity.items()
    }  # fmt: skip
    assert got == {
        D1: (8, 1, 5, 5, 0, 0),
        D2: (8, 1, 6, 6, 0, 0),
        D3: (8, 2, 6, 6, 1, 0),
        D4: (8, 5, 3, 3, 3, 0),
        D5: (8, 5, 3, 3, 0, 0),
        D6: (8, 5, 3, 3, 1, 1),
    }
    basis = by(
        fetch(conn, "select account_id, dormancy_basis from staging.int_account_days_classified where snapshot_date = %s", (D6,)),
        "account_id",
    )  # fmt: skip
    assert {k: r["dormancy_basis"] for k, r in basis.items() if r["dormancy_basis"]} == {
        "A1": "LEDGER_INACTIVITY", "A2": "LEDGER_INACTIVITY", "A3": "LEDGER_INACTIVITY",
        "A5": "BANK_STATUS", "A6": "NEVER_USED",
    }  # fmt: skip
    assert (c360["C5"]["dormant_accounts"], c360["C5"]["open_accounts"], c360["C5"]["is_effective"]) == (
        2,
        3,
        True,
    )
    assert c360["C1"]["is_effective"] is False and c360["C1"]["is_fully_dormant"] is True

    # ---- concentration: D1 positive balances C1 600000, C2 144000, C4 10000, C5 500, C6 99900;
    #      top 20 % of 5 = 1 customer: 600000 / 854400
    conc = by(fetch(conn, "select * from analytics.balance_concentration_daily"), "calendar_date")
    d1 = conc[D1]
    assert (d1["customers_with_balance"], d1["top_customers"], d1["total_balance"]) == (
        5,
        1,
        Decimal("854400.00"),
    )
    assert approx(d1["top_share_of_balance"], 600000 / 854400)
    # D6: C1 600000, C2 144000, C3 30000, C4 2000, C5 590, C6 38910 -> 6 customers, top ceil(1.2) = 2
    d6 = conc[D6]
    assert (d6["customers_with_balance"], d6["top_customers"]) == (6, 2)
    assert approx(d6["top_share_of_balance"], 744000 / 815500)

    # ---- complaints: k1 D2 C7 PREMIUM (AG2, not resolved); k2 D5 C7 PREMIUM resolved, repeat of k1
    #      (2 days 23 h < 7 days); k3 D5 C4 RETAIL (AG1) resolved; k4 D5 unidentified RETAIL (AG3), no mark
    comp = by(fetch(conn, "select * from analytics.complaints_daily"), "calendar_date", "service", "team")
    got = {
        k: (r["complaints"], r["resolved_first_contact"], r["first_contact_resolution_share"], r["repeat_complaints"],
            r["complaining_customers"])
        for k, r in comp.items()
    }  # fmt: skip
    assert got == {
        (D2, "PREMIUM", "T-PREMIUM"): (1, 0, Decimal("0"), 0, 1),
        (D5, "PREMIUM", "T-PREMIUM"): (1, 1, Decimal("1"), 1, 1),
        (D5, "RETAIL", "T-RETAIL"): (2, 1, Decimal("1"), 0, 1),
    }
    # per 1,000 customers on D5: PRIVATE 1 of 1 customer; MASS 1 (C4) of 5; AFFLUENT 0 of 1; UNKNOWN k4
    seg = by(
        fetch(conn, "select * from analytics.complaints_segment_daily where calendar_date = %s", (D5,)),
        "segment",
    )
    assert {
        k: (r["complaints"], r["customers"], r["complaints_per_1000_customers"]) for k, r in seg.items()
    } == {
        "PRIVATE": (1, 1, Decimal("1000")),
        "MASS": (1, 5, Decimal("200")),
        "AFFLUENT": (0, 1, Decimal("0")),
        "UNKNOWN": (1, None, None),
    }

    # ---- unusual activity on A9 (k = 2, at least 3 history days, limits 50000 / 3 entries):
    #      D4: 450 > mean(100, 200, 300) + 2 x sd 100 = 400; D5: 4 entries > 3;
    #      D6: 60000 > 50000, and > mean + 2 sd of (100, 200, 300, 450, 40)
    unusual = by(
        fetch(conn, "select * from analytics.unusual_account_activity"), "account_id", "calendar_date"
    )
    assert {k: r["rules_fired"] for k, r in unusual.items()} == {
        ("A9", D4): "DEBIT_AMOUNT_SIGMA",
        ("A9", D5): "ENTRY_COUNT_LIMIT",
        ("A9", D6): "DEBIT_AMOUNT_LIMIT, DEBIT_AMOUNT_SIGMA",
    }
    d4 = unusual[("A9", D4)]
    assert (d4["history_days"], d4["history_mean_debit_amount"], d4["history_sd_debit_amount"]) == (
        3, Decimal("200.00"), Decimal("100.00"),
    )  # fmt: skip
    d6 = unusual[("A9", D6)]
    history = [100, 200, 300, 450, 40]
    assert d6["history_days"] == 5 and d6["debit_amount"] == Decimal("60000.00")
    assert approx(d6["history_sd_debit_amount"], statistics.stdev(history), 0.006)

    # ---- churn (recent 2 days, baseline 3 days before, drop > 30 %):
    #      C4 baseline D2..D4 (10000, 10000, 2000) = 7333.33, recent D5..D6 2000: drop 72.7 %, complained
    #      on D5 and no customer-initiated entry since D4: at risk. C6 dropped 30.6 % (99350 -> 68910)
    #      but transacted on D6 and never complained: not at risk.
    churn = by(fetch(conn, "select * from analytics.churn_risk"), "customer_id")
    assert set(churn) == {"C4"}
    assert churn["C4"]["reasons"] == (
        "2-day average balance 2000.00 is 72.7 % below the previous 3 days (7333.33); "
        "1 complaint(s) in 90 days; no customer-initiated entry in 2 days"
    )
    assert approx(c360["C6"]["balance_drop_share"], 1 - 68910 / 99350) and not c360["C6"]["is_churn_risk"]

    # ---- campaigns: CMP1 4 dialled, 3 answered, 1 SALES + resolved; CMP2 1 dialled, none answered
    camp = by(fetch(conn, "select * from analytics.campaign_daily"), "campaign_id")
    c1 = camp["CMP1"]
    assert (c1["attempted"], c1["connected"], c1["converted"]) == (4, 3, 1)
    assert (
        approx(c1["connect_rate"], 0.75)
        and approx(c1["conversion_rate"], 1 / 3)
        and approx(c1["attempt_conversion_rate"], 0.25)
    )
    c2 = camp["CMP2"]
    assert (c2["attempted"], c2["connected"], c2["converted"], c2["conversion_rate"]) == (1, 0, 0, None)
    assert approx(c2["connect_rate"], 0)

    # ---- interval D4 10:00 RETAIL: offered 4, short abandon 1, within 20 s: 2 -> SL 2/3;
    #      AHT (300 + 240 + 360) / 3 = 300; A = 4 x 300 / 1800 = 2/3; agents answered AG1, AG3
    interval = fetch(
        conn, "select * from analytics.call_center_interval where interval_start_local = %s and service = 'RETAIL'",
        (f"{D4} 10:00:00",),
    )  # fmt: skip
    assert len(interval) == 1
    row = interval[0]
    assert (row["offered"], row["answered"], row["short_abandoned"], row["answered_within_threshold"]) == (
        4,
        3,
        1,
        2,
    )
    assert (
        approx(row["service_level"], 2 / 3)
        and approx(row["aht_seconds"], 300)
        and approx(row["traffic_erlangs"], 2 / 3)
    )
    assert row["agents_required"] == erlang_c_agents(4, 300) == 2
    assert (row["agents_answered"], row["staffing_gap"]) == (2, 0)
    # k1 alone in D2 10:00 PREMIUM: handle 600, A = 1/3
    k1 = fetch(
        conn,
        "select * from analytics.call_center_interval where interval_start_local = %s",
        (f"{D2} 10:00:00",),
    )
    assert [(r["agents_required"], r["agents_answered"]) for r in k1] == [(erlang_c_agents(1, 600), 1)]

    # ---- the Erlang C function against the formula evaluated directly, over a grid
    grid = [(c, aht) for c in (1, 3, 10, 25, 60, 100, 180) for aht in (60, 180, 300, 420)]
    for calls, aht in grid:
        got = conn.execute(
            "select analytics.erlang_c_agents_required(%s, %s, 1800, 0.8, 20)", (calls, aht)
        ).fetchone()[0]
        assert got == erlang_c_agents(calls, aht), (calls, aht)
    # textbook: A = 10 Erlang (100 calls x 180 s / 1800 s), T = 20 s: N = 13 gives SL 0.796, N = 14 gives 0.888
    assert erlang_c_service_level(14, 10, 20, 180) == pytest.approx(0.888, abs=0.001)
    assert erlang_c_service_level(13, 10, 20, 180) == pytest.approx(0.796, abs=0.001)
    assert (
        conn.execute("select analytics.erlang_c_agents_required(100, 180, 1800, 0.8, 20)").fetchone()[0] == 14
    )
    assert conn.execute("select analytics.erlang_c_agents_required(0, 180, 1800, 0.8, 20)").fetchone()[0] == 0
    assert (
        conn.execute("select analytics.erlang_c_agents_required(5, null, 1800, 0.8, 20)").fetchone()[0]
        is None
    )


# ---------------------------------------------------------------- generated bank
GENERATED_VARS = {  # ten days: windows shrunk so that every rule can fire
    "dormancy_days": 5,
    "churn_recent_days": 3,
    "churn_baseline_days": 7,
    "unusual_min_history_days": 3,
}


def test_generated_bank_fills_every_management_mart(warehouse_url, tmp_path):
    from cdw.generate import generate_landing
    from cdw.load import load_date
    from cdw.marts_summary import summarise

    landing = tmp_path / "landing"
    result = generate_landing(
        landing, date(2026, 3, 2), date(2026, 3, 11), seed=5, customers=300, agents=15,
        transactions_per_day=1200, calls_per_day=200, gzip=False,
    )  # fmt: skip
    for day in result.dates:
        load_date(landing, day, url=warehouse_url)
    started = time.monotonic()
    run_dbt(MANAGEMENT_BUILD, url=warehouse_url, vars=GENERATED_VARS, target_path=str(tmp_path / "target"))
    print(f"dbt build: {time.monotonic() - started:.1f}s")
    # one figure per mart and rule, each of which must be non-zero on ten generated days
    checks = {
        "quadrants": "select count(distinct value_quadrant) from analytics.customer_360",
        "segment/tier mismatches": "select count(*) from analytics.segment_tier_mismatches",
        "wealth prospects": "select count(*) from analytics.customer_360 where is_wealth_prospect",
        "dormant accounts": "select max(dormant_accounts) from analytics.customer_activity_daily",
        "accounts turned dormant": "select sum(accounts_turned_dormant) from analytics.customer_activity_daily",
        "accounts reactivated": "select sum(accounts_reactivated) from analytics.customer_activity_daily",
        "days with effective customers": "select count(*) from analytics.customer_activity_daily"
        " where effective_customers > 0",
        "complaints": "select sum(complaints) from analytics.complaints_daily",
        "complaint rates": "select count(*) from analytics.complaints_segment_daily"
        " where complaints_per_1000_customers > 0",
        "unusual account-days": "select count(*) from analytics.unusual_account_activity",
        "churn candidates": "select count(*) from analytics.churn_risk",
        "campaign conversions": "select sum(converted) from analytics.campaign_daily",
        "understaffed intervals": "select count(*) from analytics.call_center_interval where staffing_gap < 0",
        "concentrated days (top 20 % hold > 50 %)": "select count(*) from analytics.balance_concentration_daily"
        " where top_share_of_balance > 0.5",
    }
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        figures = {name: conn.execute(query).fetchone()[0] or 0 for name, query in checks.items()}
    print(figures)
    print("\n".join(summarise(warehouse_url)))
    assert figures.pop("quadrants") == 4, "KEY, DEVELOP, MAINTAIN and REVIEW customers"
    assert all(value > 0 for value in figures.values()), figures
