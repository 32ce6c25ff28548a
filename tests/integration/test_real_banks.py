"""Banks unlike the generator's: other zones, dates decades back and after 2030, DST days, empty
days, a bank with one customer, one agent and one service, master data without optional fields.

Each scenario is a fresh warehouse fed hand-made drops, date after date, through the same
steps as the DAG without Airflow (``cdw.load.load_date``, then ``cdw.publication.publish``:
dbt build of the date, the Great Expectations gate, publication). The published figures are
compared with ``tests/published_figures.py``, which works them out from the drop files in
Python, and with values worked out by hand below. The DAG path itself (Europe/Prague, 1994,
a closed day, a 23-hour day) is in test_pipeline.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cdw.load import load_date
from cdw.publication import publish
from tests import published_figures as expected
from tests.landing_builder import write_drop

# single_server: the dbt side of these cases runs on every server in test_dbt_any_bank.py
pytestmark = [pytest.mark.slow, pytest.mark.single_server]


def local(zone: str, day: date, hh: int, mm: int, ss: int = 0, *, fold: int = 0, days: int = 0) -> str:
    """ISO 8601 with the zone's offset at that wall-clock time (``fold=1``: the second occurrence of a
    repeated hour)."""
    moment = datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=ZoneInfo(zone), fold=fold)
    return (moment + timedelta(days=days)).isoformat() if days else moment.isoformat()


@dataclass
class Bank:
    """A bank's master data and what it delivers per business date."""

    zone: str
    customers: list[dict]
    accounts: list[dict]
    agents: list[dict]
    ledger: dict[date, list[dict]] = field(default_factory=dict)
    calls: dict[date, list[dict]] = field(default_factory=dict)
    #: dates whose drop carries the master-data snapshots (the others: the previous one stands)
    snapshot_dates: set[date] = field(default_factory=set)

    def write(self, root: Path, day: date) -> None:
        records = {"transactions": self.ledger.get(day, []), "calls": self.calls.get(day, [])}
        if day in self.snapshot_dates:
            records |= {"customers": self.customers, "accounts": self.accounts, "agents": self.agents}
        write_drop(root, records, day=day, manifest_extra={"timezone": self.zone})


def entry(txn_id: str, account: str, ts: str, amount: str, *, direction: str = "CREDIT",
          channel: str = "MOBILE", balance: str = "1000.00") -> dict:
    return dict(txn_id=txn_id, account_id=account, txn_ts=ts, amount=amount, currency="USD", direction=direction,
                txn_type="DEPOSIT" if direction == "CREDIT" else "PAYMENT", channel=channel, branch_id=None,
                balance_after=balance, counterparty_account=None, counterparty_bank=None, reverses_txn_id=None)


def call(call_id: str, entry_ts: datetime, *, outcome: str = "ANSWERED", wait: int = 10, talk: int = 300,
         service: str = "RETAIL", agent: str | None = "AG1", customer: str | None = "C1", csat: int | None = 5,
         resolved: bool | None = True, wrap_up: int | None = 30) -> dict:
    """An inbound call entering the IVR at ``entry_ts`` (aware), 30 s in the IVR, then ``wait`` s in queue.

    Durations are added in UTC: aware arithmetic in a zone is wall-clock arithmetic, which
    loses the second occurrence of a repeated hour (``fold``)."""
    zone, entry_ts = entry_ts.tzinfo, entry_ts.astimezone(ZoneInfo("UTC"))
    ivr_exit = entry_ts + timedelta(seconds=30)
    queued = outcome != "IVR_ONLY"
    answer = ivr_exit + timedelta(seconds=wait) if outcome == "ANSWERED" else None
    queue_exit = ivr_exit + timedelta(seconds=wait) if queued else None
    end = (answer + timedelta(seconds=talk)) if answer else (queue_exit or ivr_exit) + timedelta(seconds=1)
    iso = lambda t: t.astimezone(zone).isoformat() if t else None  # noqa: E731
    answered = outcome == "ANSWERED"
    return dict(call_id=call_id, direction="INBOUND", customer_id=customer, caller_number=None, service=service,
                priority=0, ivr_entry_ts=iso(entry_ts), ivr_exit_ts=iso(ivr_exit),
                queue_entry_ts=iso(ivr_exit) if queued else None, queue_exit_ts=iso(queue_exit),
                answer_ts=iso(answer), end_ts=iso(end), outcome=outcome, agent_id=agent if answered else None,
                hold_seconds=None, wrap_up_seconds=wrap_up if answered else None,
                reason_code="INQUIRY" if answered else None, resolved=resolved if answered else None,
                csat_score=csat if answered else None, campaign_id=None)


def _at(zone: str, day: date, hh: int, mm: int, *, fold: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZoneInfo(zone), fold=fold)


# ---- New York, November 2031: Saturday, the Sunday clocks go back (25 hours), an empty Monday ---------

NY = "America/New_York"
NY_SAT, NY_SUN, NY_MON = date(2031, 11, 1), date(2031, 11, 2), date(2031, 11, 3)


def new_york() -> Bank:
    customers = [dict(customer_id=f"C{i}", full_name=f"Customer {i}", gender="U", birth_date="1970-01-01",
                      education="UNKNOWN", city="New York", phone=None, email=None, segment="MASS",
                      join_date="2001-01-01", kyc_status="VERIFIED") for i in (1, 2)]
    accounts = [dict(account_id=f"A{i}", customer_id=f"C{i}", product="CURRENT", currency="USD",
                     open_date="2001-01-01", close_date=None, status="ACTIVE", branch_id="NY1") for i in (1, 2)]
    agents = [dict(agent_id=a, agent_name=a, team="T", site="NYC", hire_date="2020-01-01") for a in ("AG1", "AG2")]
    bank = Bank(NY, customers, accounts, agents, snapshot_dates={NY_SAT})
    bank.ledger[NY_SAT] = [entry("NY-1", "A1", local(NY, NY_SAT, 9, 0), "100.00"),
                           entry("NY-2", "A2", local(NY, NY_SAT, 23, 59, 59), "50.25")]
    bank.ledger[NY_SUN] = [
        entry("NY-3", "A1", local(NY, NY_SUN, 1, 30), "10.00"),  # 05:30 UTC, first 01:30
        entry("NY-4", "A1", local(NY, NY_SUN, 1, 30, fold=1), "20.00", direction="DEBIT"),  # 06:30 UTC
        entry("NY-5", "A2", local(NY, NY_SUN, 23, 30), "5.50"),
    ]
    bank.calls[NY_SAT] = [call("NY-K1", _at(NY, NY_SAT, 10, 0)),
                          call("NY-K2", _at(NY, NY_SAT, 10, 5), outcome="ABANDONED", wait=3)]
    bank.calls[NY_SUN] = [
        # the repeated hour: 01:10 EDT and 01:10 EST are an hour apart, two intervals
        call("NY-K3", _at(NY, NY_SUN, 1, 10), wait=30, csat=3, agent="AG1"),
        call("NY-K4", _at(NY, NY_SUN, 1, 10, fold=1), wait=5, csat=4, agent="AG2", service="PREMIUM"),
        call("NY-K5", _at(NY, NY_SUN, 1, 20, fold=1), outcome="ABANDONED", wait=60),
        call("NY-K6", _at(NY, NY_SUN, 9, 0), outcome="IVR_ONLY"),
        # enters at 23:58 and ends after midnight: Sunday's call
        call("NY-K7", _at(NY, NY_SUN, 23, 58), wait=0, talk=400, resolved=False, csat=None),
    ]
    # Monday: the ledger and the contact center deliver empty files, no master data
    return bank


def test_new_york_dst_fall_back_and_an_empty_day_after_2030(warehouse_url, db, tmp_path, monkeypatch):
    monkeypatch.setenv("CDW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CDW_TIMEZONE", "Asia/Shanghai")  # the manifests' zone wins at the first load
    bank = new_york()
    landing = tmp_path / "landing"
    for day in (NY_SAT, NY_SUN, NY_MON):
        bank.write(landing, day)
        load = load_date(landing, day)
        assert sum(f.rows_quarantined for f in load.files) == 0, day
        publish(day, load.load_id, target_path=str(tmp_path / "target"))
    statuses = db.execute("select business_date, status from audit.load_runs_latest order by 1").fetchall()
    assert statuses == [(NY_SAT, "PUBLISHED"), (NY_SUN, "PUBLISHED"), (NY_MON, "PUBLISHED")]

    drops = [landing / d.isoformat() for d in (NY_SAT, NY_SUN, NY_MON)]
    # ledger per local date, by hand: Saturday 100.00 + 50.25 (23:59:59 is still Saturday), Sunday
    # 10.00 + 20.00 + 5.50 (both 01:30s), Monday nothing
    ledger = {NY_SAT: (2, Decimal("150.25")), NY_SUN: (3, Decimal("35.50"))}
    assert expected.ledger_by_date(drops, NY) == ledger
    assert expected.published_ledger_by_date(db) == ledger

    daily = expected.call_center_daily(drops, NY)
    published = expected.published_call_center_daily(db)
    expected.assert_call_center_daily(published, daily)
    # by hand: Sunday RETAIL offered K3, K5, K7 (K6 is IVR only), answered K3 and K7; K7 waited 0 s
    sunday_retail = published[(NY_SUN, "RETAIL")]
    assert (sunday_retail["offered"], sunday_retail["answered"], sunday_retail["abandoned"],
            sunday_retail["ivr_only"], sunday_retail["answered_within_threshold"]) == (3, 2, 1, 1, 1)
    assert abs(sunday_retail["service_level"] - Decimal(1) / Decimal(3)) < Decimal("1e-9")
    assert published[(NY_SAT, "RETAIL")]["short_abandoned"] == 1
    assert published[(NY_SAT, "RETAIL")]["service_level"] == Decimal(1)  # 1 within / (2 offered - 1 short)

    # the two 01:10 calls: two intervals an hour apart; K5 (01:20 EST) shares the second with K4's hour
    intervals = db.execute(
        "select service, interval_start_ts, offered from analytics.call_center_interval"
        " where calendar_date = %s order by interval_start_ts, service", (NY_SUN,)).fetchall()
    # bins of 30 minutes from local midnight (04:00 UTC in EDT): K3 05:10, K4 06:10, K5 06:20, K7 04:58 next day
    utc = ZoneInfo("UTC")
    assert [(s, t.astimezone(utc).strftime("%d %H:%M"), n) for s, t, n in intervals] == [
        ("RETAIL", "02 05:00", 1), ("PREMIUM", "02 06:00", 1), ("RETAIL", "02 06:00", 1), ("RETAIL", "03 04:30", 1)]
    assert expected.half_hours_in_local_day(NY_SUN, NY) == 50
    assert db.execute("select date_key from analytics.fct_calls where call_id = 'NY-K7'").fetchone() == (20311102,)
    assert db.execute("select count(*) from analytics.fct_calls f join analytics.dim_date d using (date_key)"
                      " where d.calendar_date = %s", (NY_MON,)).fetchone()[0] == 0


# ---- Kolkata (+05:30), across 2000: one customer, one account, one agent, one service -------------

IN = "Asia/Kolkata"
IN_D1, IN_D2 = date(1999, 12, 31), date(2000, 1, 1)


def kolkata() -> Bank:
    customers = [dict(customer_id="C1", full_name="Only Customer", gender="F", birth_date="1950-02-28",
                      education="POSTGRADUATE", city="Kolkata", phone=None, email=None, segment="AFFLUENT",
                      join_date="1999-12-31", kyc_status="PENDING")]
    accounts = [dict(account_id="A1", customer_id="C1", product="SAVINGS", currency="INR", open_date="1999-12-31",
                     close_date=None, status="ACTIVE", branch_id="KOL")]
    agents = [dict(agent_id="AG1", agent_name="Only Agent", team="T", site="KOL", hire_date="1999-12-01")]
    bank = Bank(IN, customers, accounts, agents, snapshot_dates={IN_D1, IN_D2})
    bank.ledger[IN_D1] = [entry("IN-1", "A1", local(IN, IN_D1, 0, 0), "1.00"),
                          entry("IN-2", "A1", local(IN, IN_D1, 23, 45), "2.00")]
    bank.ledger[IN_D2] = [entry("IN-3", "A1", local(IN, IN_D2, 0, 15), "4.00", direction="DEBIT")]
    for row in [*bank.ledger[IN_D1], *bank.ledger[IN_D2]]:
        row["currency"] = "INR"
    bank.calls[IN_D1] = [call("IN-K1", _at(IN, IN_D1, 23, 50), wait=25, talk=900)]  # ends on 1 January
    bank.calls[IN_D2] = [call("IN-K2", _at(IN, IN_D2, 0, 5), wait=20, csat=1, resolved=False)]
    return bank


def test_kolkata_across_2000_with_one_of_everything(warehouse_url, db, tmp_path, monkeypatch):
    monkeypatch.setenv("CDW_HOME", str(tmp_path / "home"))
    bank = kolkata()
    landing = tmp_path / "landing"
    for day in (IN_D1, IN_D2):
        bank.write(landing, day)
        load = load_date(landing, day)
        assert sum(f.rows_quarantined for f in load.files) == 0, day
        publish(day, load.load_id, target_path=str(tmp_path / "target"))

    drops = [landing / d.isoformat() for d in (IN_D1, IN_D2)]
    ledger = {IN_D1: (2, Decimal("3.00")), IN_D2: (1, Decimal("4.00"))}
    assert expected.ledger_by_date(drops, IN) == ledger == expected.published_ledger_by_date(db)
    published = expected.published_call_center_daily(db)
    expected.assert_call_center_daily(published, expected.call_center_daily(drops, IN))
    assert set(published) == {(IN_D1, "RETAIL"), (IN_D2, "RETAIL")}
    assert (published[(IN_D1, "RETAIL")]["answered_within_threshold"],
            published[(IN_D2, "RETAIL")]["answered_within_threshold"]) == (0, 1)  # 25 s > 20 s >= 20 s
    # 23:50 and 00:00 IST: the intervals start at half hours of Kolkata, i.e. :20 and :50 past in UTC
    starts = [t.astimezone(ZoneInfo(IN)).strftime("%Y-%m-%d %H:%M") for (t,) in db.execute(
        "select interval_start_ts from analytics.call_center_interval order by 1").fetchall()]
    assert starts == ["1999-12-31 23:30", "2000-01-01 00:00"]
    assert db.execute("select count(*), min(calendar_date) <= date '1999-12-31', max(calendar_date) >= date"
                      " '2000-01-01' from analytics.dim_date").fetchone()[1:] == (True, True)
    assert db.execute("select count(*) from analytics.dim_customer where customer_id = 'C1'").fetchone()[0] == 1
