"""The landing generator: determinism, manifests, realism of the bank's data, known defects."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from cdw.cli import EXIT_OK, EXIT_USAGE, main
from cdw.generate import generate_landing
from cdw.landing import contract
from cdw.landing.files import FileFault, inspect_file, read_manifest
from cdw.landing.readers import read_file
from cdw.landing.records import Context

START, END = date(2026, 3, 27), date(2026, 4, 2)  # a weekend and a month end
SMALL = dict(customers=600, agents=30, transactions_per_day=3000, calls_per_day=400)
DEPOSITS = {"CURRENT", "SAVINGS", "TIME_DEPOSIT", "WEALTH"}
FX = {"CNY": 1.0, "USD": 7.2, "HKD": 0.92}


def _days(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir())


def _text(path: Path, encoding: str = "utf-8") -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode(encoding)


def _csv(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    # a deliberately malformed record (defects mode) is skipped here: the loader sets it aside
    return pd.read_csv(
        io.StringIO(_text(path, encoding)), dtype=str, keep_default_na=False, on_bad_lines="skip"
    )


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate_landing(out, START, END, seed=7, **SMALL)
    return out


@pytest.fixture(scope="module")
def ledger(landing) -> pd.DataFrame:
    tx = pd.concat([_csv(d / "transactions.csv.gz").assign(day=d.name) for d in _days(landing)])
    tx["amt"] = tx.amount.astype(float)
    tx["bal"] = tx.balance_after.astype(float)
    return tx


@pytest.fixture(scope="module")
def calls(landing) -> pd.DataFrame:
    frames = []
    for d in _days(landing):
        recs = [json.loads(line) for line in _text(d / "calls.jsonl.gz").splitlines()]
        assert all(list(r) == list(contract.CALLS.column_names) for r in recs)  # every field, always
        frames.append(pd.DataFrame(recs).assign(day=d.name))
    return pd.concat(frames, ignore_index=True)


def _ts(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True, format="ISO8601")


# ---- files and manifests ---------------------------------------------------------------


def test_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = dict(seed=3, customers=200, agents=12, transactions_per_day=800, calls_per_day=150)
    generate_landing(a, date(2026, 3, 6), date(2026, 3, 8), **args)
    generate_landing(b, date(2026, 3, 6), date(2026, 3, 8), **args)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    generate_landing(b, date(2026, 3, 6), date(2026, 3, 8), **{**args, "seed": 4})
    assert (a / "2026-03-06/customers.csv").read_bytes() != (b / "2026-03-06/customers.csv").read_bytes()


def test_manifest_lists_every_file_with_rows_and_checksum(landing):
    for d in _days(landing):
        manifest = json.loads((d / "_manifest.json").read_text())
        assert manifest["business_date"] == d.name
        assert manifest["timezone"] == "Asia/Shanghai"
        assert manifest["generated_at"] == f"{date.fromisoformat(d.name) + timedelta(days=1)}T01:10:00+08:00"
        on_disk = {p.name for p in d.iterdir()} - {"_manifest.json"}
        assert set(manifest["files"]) == on_disk
        weekend = date.fromisoformat(d.name).weekday() >= 5
        assert ("agents.csv" in on_disk) != weekend  # the roster does not change at weekends
        for name, entry in manifest["files"].items():
            assert entry["sha256"] == hashlib.sha256((d / name).read_bytes()).hexdigest()
            text = _text(d / name)
            lines = text.splitlines()
            assert entry["rows"] == (len(lines) if name.startswith("calls") else len(lines) - 1)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="before"):
        generate_landing(tmp_path, date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(ValueError, match="time zone"):
        generate_landing(tmp_path, date(2026, 3, 2), date(2026, 3, 2), timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="customers"):
        generate_landing(tmp_path, date(2026, 3, 2), date(2026, 3, 2), customers=0)
    with pytest.raises(ValueError, match="at least 8 business dates"):
        generate_landing(tmp_path, date(2026, 3, 2), date(2026, 3, 8), defects=True)


# ---- ledger ------------------------------------------------------------------------------


def test_channel_mix(ledger):
    share = ledger.channel.value_counts(normalize=True) * 100
    assert abs(share.get("ATM", 0) + share.get("POS", 0) - 50) <= 5
    assert abs(share.get("PHONE", 0) - 27) <= 5
    assert abs(share.get("BRANCH", 0) - 15) <= 5
    assert abs(share.get("ONLINE", 0) + share.get("MOBILE", 0) - 8) <= 5


def test_ledger_values_follow_the_contract(ledger):
    assert ledger.amount.str.fullmatch(r"\d{1,16}\.\d{2}").all() and (ledger.amt > 0).all()
    assert ledger.balance_after.str.fullmatch(r"-?\d{1,16}\.\d{2}").all()
    assert (ledger.txn_ts.str[:10] == ledger.day).all()
    assert ledger.txn_ts.str.endswith("+08:00").all()
    assert ledger.txn_id.is_unique
    branch = ledger[ledger.channel == "BRANCH"]
    assert len(branch) and (branch.branch_id != "").all()
    assert (ledger[ledger.channel != "BRANCH"].branch_id == "").all()
    moves = ledger[ledger.txn_type.isin(["TRANSFER", "PAYMENT"])]
    assert (moves.counterparty_account != "").all() and (moves.counterparty_bank != "").all()
    hour = ledger.txn_ts.str[11:13].astype(int)
    assert (hour.between(1, 4)).mean() < 0.02  # few entries at night
    assert hour.between(10, 11).mean() > 3 * hour.between(1, 4).mean()


def test_balance_chain_holds_for_every_account(landing, ledger):
    tx = ledger.sort_values(["account_id", "txn_ts", "txn_id"])
    signed = np.where(tx.direction == "CREDIT", tx.amt, -tx.amt)
    prev = tx.groupby("account_id").bal.shift()
    ok = prev.isna() | ((prev + signed - tx.bal).abs() < 0.005)
    assert ok.all(), tx[~ok].head()
    accounts = _csv(_days(landing)[-1] / "accounts.csv")
    product = tx.account_id.map(accounts.set_index("account_id")["product"])
    assert set(product[tx.bal < 0]) <= {"CURRENT"}  # overdraft only on current accounts
    status = tx.account_id.map(accounts.set_index("account_id").status)
    assert not (status == "DORMANT").any()


def test_month_end_interest_and_fees_by_the_bank(ledger):
    system = ledger[ledger.channel == "SYSTEM"]
    assert set(system.day) == {"2026-03-31"}
    assert set(zip(system.txn_type, system.direction, strict=True)) == {
        ("INTEREST", "CREDIT"),
        ("FEE", "DEBIT"),
    }


def test_reversals_point_to_an_earlier_entry(ledger):
    rev = ledger[ledger.txn_type == "REVERSAL"]
    assert len(rev) > 0
    orig = ledger.set_index("txn_id").loc[rev.reverses_txn_id]
    assert (orig.account_id.to_numpy() == rev.account_id.to_numpy()).all()
    assert (orig.txn_ts.to_numpy() <= rev.txn_ts.to_numpy()).all()
    assert (orig.amount.to_numpy() == rev.amount.to_numpy()).all()


def _deposits_by_customer(landing, ledger):
    accounts = _csv(_days(landing)[-1] / "accounts.csv")
    last = ledger.sort_values(["txn_ts", "txn_id"]).groupby("account_id").tail(1)
    last = last.merge(accounts, on="account_id", suffixes=("", "_acc"))
    dep = last[last["product"].isin(DEPOSITS)]
    cny = dep.bal.clip(lower=0) * dep.currency.map(FX)
    # only customers whose deposit accounts all show a balance in the range
    seen = set(dep.account_id)
    held = accounts[accounts["product"].isin(DEPOSITS) & (accounts.status == "ACTIVE")]
    complete = held.groupby("customer_id").account_id.apply(lambda s: set(s) <= seen)
    total = cny.groupby(dep.customer_id).sum()
    return total, total[total.index.isin(complete[complete].index)]


def test_wealth_is_concentrated(landing, ledger):
    total, _ = _deposits_by_customer(landing, ledger)
    top = total.sort_values(ascending=False).iloc[: len(total) // 5].sum() / total.sum()
    assert 0.70 <= top <= 0.90


def test_segment_follows_deposits_for_most(landing, ledger):
    _, total = _deposits_by_customer(landing, ledger)
    customers = _csv(_days(landing)[-1] / "customers.csv").set_index("customer_id")
    tier = pd.cut(total, [-1, 100_000, 1_000_000, 1e18], labels=["MASS", "AFFLUENT", "PRIVATE"], right=False)
    agree = (customers.segment.reindex(total.index) == tier.astype(str)).mean()
    assert agree >= 0.85
    assert set(customers.segment) == {"MASS", "AFFLUENT", "PRIVATE"}


def test_master_data_changes_over_the_days(landing):
    days = _days(landing)
    first, last = _csv(days[0] / "customers.csv"), _csv(days[-1] / "customers.csv")
    assert len(last) > len(first)
    new = last[~last.customer_id.isin(first.customer_id)]
    assert set(new.join_date) <= {d.name for d in days[1:]}
    both = first.merge(last, on="customer_id", suffixes=("_a", "_b"))
    for col in ("segment", "city", "kyc_status", "education"):
        assert (both[f"{col}_a"] != both[f"{col}_b"]).any(), col
    assert first.full_name.str.contains(r"[\u4e00-\u9fff]").all()
    accounts = _csv(days[-1] / "accounts.csv")
    assert 1.5 <= len(accounts) / len(last) <= 2.5
    assert {"ACTIVE", "DORMANT", "CLOSED"} == set(accounts.status)
    closed = accounts[accounts.status == "CLOSED"]
    assert (closed.close_date >= closed.open_date).all() and (closed.close_date != "").all()
    assert accounts.currency.value_counts(normalize=True)["CNY"] > 0.85
    assert {"USD", "HKD"} <= set(accounts.currency)


# ---- calls -------------------------------------------------------------------------------


def test_call_timestamps_are_ordered(calls):
    t = {
        c: _ts(calls[c])
        for c in ("ivr_entry_ts", "ivr_exit_ts", "queue_entry_ts", "queue_exit_ts", "answer_ts", "end_ts")
    }
    assert (calls.ivr_entry_ts.str[:10] == calls.day).all()
    assert (t["ivr_exit_ts"] >= t["ivr_entry_ts"]).all()
    q = calls.queue_entry_ts.notna()
    assert (t["queue_entry_ts"][q] >= t["ivr_exit_ts"][q]).all()
    assert (t["queue_exit_ts"][q] >= t["queue_entry_ts"][q]).all()
    a = calls.answer_ts.notna()
    assert (t["answer_ts"][a & q] >= t["queue_entry_ts"][a & q]).all()
    for col in t:
        has = calls[col].notna()
        assert (t["end_ts"][has] >= t[col][has]).all(), col
    assert (calls.end_ts.str[:10] > calls.day).any()  # some calls end after midnight


def test_call_outcomes(calls):
    answered = calls[calls.outcome == "ANSWERED"]
    abandoned = calls[calls.outcome == "ABANDONED"]
    ivr_only = calls[calls.outcome == "IVR_ONLY"]
    assert answered.agent_id.notna().all() and answered.answer_ts.notna().all()
    assert abandoned.queue_entry_ts.notna().all() and abandoned.agent_id.isna().all()
    assert abandoned.answer_ts.isna().all()
    assert ivr_only.queue_entry_ts.isna().all() and ivr_only.agent_id.isna().all()
    waited = (_ts(abandoned.queue_exit_ts) - _ts(abandoned.queue_entry_ts)).dt.total_seconds()
    assert (waited < 5).any()
    assert 0.02 < len(abandoned) / calls.queue_entry_ts.notna().sum() < 0.20
    talk = (_ts(answered.end_ts) - _ts(answered.answer_ts)).dt.total_seconds()
    assert (answered.hold_seconds <= talk).all() and (answered.wrap_up_seconds >= 0).all()
    complaint = (answered.reason_code == "COMPLAINT").mean()
    assert 0.01 <= complaint <= 0.08
    assert 0.2 <= answered.csat_score.notna().mean() <= 0.4
    assert answered.csat_score.dropna().between(1, 5).all()
    assert answered.resolved.isin([True, False]).all()


def test_call_arrivals_peak_in_office_hours(calls):
    hour = calls.ivr_entry_ts.str[11:13].astype(int)
    by_hour = hour.value_counts().reindex(range(24), fill_value=0)
    assert by_hour[10] > 5 * by_hour[3] and by_hour[14] > 5 * by_hour[3]
    assert by_hour[10] > by_hour[12] and by_hour[14] > by_hour[12]
    per_day = calls.groupby("day").size()
    weekend = [d for d in per_day.index if date.fromisoformat(d).weekday() >= 5]
    assert per_day.drop(weekend).min() > per_day[weekend].max()


def test_callers_services_and_agents(landing, calls):
    days = _days(landing)
    customers = _csv(days[-1] / "customers.csv").set_index("customer_id")
    prospects = calls[calls.service == "PROSPECT"]
    assert len(prospects) and prospects.customer_id.isna().all()
    assert calls[calls.service != "PROSPECT"].customer_id.isna().any()  # unidentified callers
    premium = calls[(calls.service == "PREMIUM") & calls.customer_id.notna()]
    assert customers.segment.reindex(premium.customer_id).isin(["AFFLUENT", "PRIVATE"]).mean() > 0.9
    number = calls.caller_number.dropna()
    assert number.str.fullmatch(r"\+86\d{9,11}").all()
    out = calls[calls.direction == "OUTBOUND"]
    assert len(out) and out.campaign_id.str.fullmatch(r"CMP-2026Q[12]-(CARD|WEALTH)").all()
    assert (out.reason_code == "SALES").any()
    assert calls[calls.direction == "INBOUND"].campaign_id.isna().all()
    roster = set()
    for d in days:  # the roster in force: the latest agents snapshot
        if (d / "agents.csv").exists():
            roster = set(_csv(d / "agents.csv").agent_id)
        agents = calls[(calls.day == d.name) & calls.agent_id.notna()].agent_id
        assert set(agents) <= roster
    teams = _csv(days[0] / "agents.csv")
    assert {"RETAIL-A", "PREMIUM", "CARDS", "DIGITAL"} <= set(teams.team)
    assert set(teams.site) == {"Shanghai", "Chengdu"}


# ---- defects -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def defective(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("defects")
    generate_landing(
        out, date(2026, 3, 2), date(2026, 3, 10), seed=11, defects=True,
        customers=300, agents=20, transactions_per_day=1500, calls_per_day=250,
    )  # fmt: skip
    return out


def test_expected_outcome_covers_every_rule_and_fault(defective):
    expected = json.loads((defective / "_expected.json").read_text())
    assert expected["generator"]["seed"] == 11
    dates = expected["dates"]
    assert list(dates) == [d.name for d in _days(defective)]
    faults = [v["fault"]["code"] for v in dates.values() if v["status"] == "FAILED"]
    assert faults == [
        "checksum_mismatch", "row_count_mismatch", "missing_columns", "undecodable",
        "truncated_compression", "missing_manifest", "quarantine_threshold_exceeded",
    ]  # fmt: skip
    assert list(dates.values())[-1]["files"]
    rules = set()
    for v in dates.values():
        for f in v.get("files", {}).values():
            assert f["rows_loaded"] + f["rows_quarantined"] == f["rows_read"]
            assert sum(f["reasons"].values()) == f["rows_quarantined"]  # one defect per record
            rules.update(r.split(":")[0] for r in f["reasons"])
    assert rules == set(contract.RULES)


def test_clean_dates_stay_under_the_threshold(defective):
    dates = json.loads((defective / "_expected.json").read_text())["dates"]
    for day, v in dates.items():
        if v["status"] == "LOADED":
            for name, f in v["files"].items():
                assert f["rows_quarantined"] / f["rows_read"] <= 0.01, (day, name)
                manifest = json.loads((defective / day / "_manifest.json").read_text())
                assert manifest["files"][name]["rows"] == f["rows_read"]
    last = list(dates.values())[-1]
    (f,) = last["files"].values()
    assert f["rows_quarantined"] / f["rows_read"] > 0.01


def test_faulty_files_are_faulty_in_the_intended_way(defective):
    dates = json.loads((defective / "_expected.json").read_text())["dates"]
    by_code = {v["fault"]["code"]: (day, v["fault"]["file"]) for day, v in dates.items() if "fault" in v}

    def entry(code):
        day, name = by_code[code]
        return defective / day / name, json.loads((defective / day / "_manifest.json").read_text())["files"][
            name
        ]

    path, e = entry("checksum_mismatch")
    assert e["sha256"] != hashlib.sha256(path.read_bytes()).hexdigest()
    path, e = entry("row_count_mismatch")
    assert e["rows"] != len(_text(path).splitlines()) - 1
    path, e = entry("missing_columns")
    assert "currency" not in _text(path).splitlines()[0].split(",")
    assert e["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    path, e = entry("undecodable")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    assert e["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    path, e = entry("truncated_compression")
    with pytest.raises((EOFError, zlib.error, OSError)):
        gzip.decompress(path.read_bytes())
    assert e["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    day, name = by_code["missing_manifest"]
    assert name == "_manifest.json" and not (defective / day / name).exists()
    assert (defective / day / "transactions.csv.gz").exists()


def test_legacy_gb18030_customers_keep_chinese_names(defective):
    found = []
    for d in _days(defective):
        manifest_path = d / "_manifest.json"
        if not manifest_path.exists():
            continue
        entry = json.loads(manifest_path.read_text())["files"].get("customers.csv", {})
        if entry.get("encoding") == "gb18030":
            found.append(d)
            raw = (d / "customers.csv").read_bytes()
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            names = _csv(d / "customers.csv", "gb18030").full_name
            assert names.str.contains(r"[\u4e00-\u9fff]").mean() > 0.9
    assert len(found) == 1


def test_other_time_zone_offsets(tmp_path):
    generate_landing(
        tmp_path, date(2026, 3, 7), date(2026, 3, 8), timezone="America/New_York",
        customers=100, agents=8, transactions_per_day=300, calls_per_day=60,
    )  # fmt: skip
    tx = _csv(tmp_path / "2026-03-08" / "transactions.csv.gz")
    assert {ts[-6:] for ts in tx.txn_ts} <= {"-05:00", "-04:00"}
    local = [datetime.fromisoformat(ts).date() for ts in tx.txn_ts]
    assert set(local) == {date(2026, 3, 8)}


# ---- output of the default options is pinned ----------------------------------------------

# sha256 of every file of two default drops (seed 42, default scale, Asia/Shanghai, gzip), taken
# with the generator as it was before zones, date ranges and empty days were generalised: a change
# here changes what every existing seed writes
DEFAULT_DROP_SHA256 = {
    "2026-03-30/_manifest.json": "d5eed0d30844f3a26adcbb7b379a4c0380b7cbc57aa60680f0aeb137c1053bca",
    "2026-03-30/accounts.csv": "7558f9d221cf10899a0ff4a786bdb36c5492f19cf659da5ba80957a0fccdfe1a",
    "2026-03-30/agents.csv": "5c1775935f75f50421b2d9aa50b03aaabcb4d152b055dd46eee4c8cf5b888920",
    "2026-03-30/calls.jsonl.gz": "f44cb282c3cf507140073ae9af5d668735a589c6db6e62277d67e35945dde21f",
    "2026-03-30/customers.csv": "16fcf5dbd0b3c688942b60a17b52b039c6d294ec1600a35eefa8bdbd94345260",
    "2026-03-30/transactions.csv.gz": "6e9bc1a4d96536928d623cedf121068c9c017e1291fd6a667bb16ec2d4b217ff",
    "2026-03-31/_manifest.json": "f735200b16a40777a793434a7312e810edd42b8ae89884a52daf1ae035950ec0",
    "2026-03-31/accounts.csv": "23ad841e4613ab6a98c1271e943061cdf9dfca98d55c3b5922fe0b4c96c32590",
    "2026-03-31/agents.csv": "5c1775935f75f50421b2d9aa50b03aaabcb4d152b055dd46eee4c8cf5b888920",
    "2026-03-31/calls.jsonl.gz": "094b772b8b96d8d8320d9ca084624efd618b93b9a151332f7e31ab175dcbb76a",
    "2026-03-31/customers.csv": "9a895c1fe9da667b3a923e87c66dde83e42c1165b34b06b29e7ed94bc01f3983",
    "2026-03-31/transactions.csv.gz": "cc1560538b68a8743f2a9dd15d76ed655c43628f44ac2b4e7565f09c067bdaeb",
}
# the same .gz files decompressed: tells a change of the text from a zlib that compresses differently
DEFAULT_DROP_TEXT_SHA256 = {
    "2026-03-30/calls.jsonl.gz": "cebed6b3b05672630938d714bf1267eb20f7361d0aa7193b2ee221e0bac04e6a",
    "2026-03-30/transactions.csv.gz": "9173df4a86a799f5cfe2173deea034f7d549a3408da76b81fb4fa5e24092fa97",
    "2026-03-31/calls.jsonl.gz": "a7760a0ac0eaeb4c5e11e7e1f2d5f3e2b583d279e9a4325866513c97e24f7736",
    "2026-03-31/transactions.csv.gz": "fbe4fa569bd5ff0eee471f738490cd731d8266e79e65115d8960754be618c037",
}
# sha256 over "<path> <sha256>\n" of every file (sorted) of the module's fixtures, taken the same way
LANDING_FIXTURE_SHA256 = "fe2d7f17e4c5a4639cd4bbd06e815755d8b726deb7318649b9ad3ac5bab2e005"
# the --defects catalogue gained unexpected_field (an unknown JSON key, docs/contracts/landing-additions.md):
# taken again after that change only; the clean fixture above is unchanged
DEFECTS_FIXTURE_SHA256 = "d88baf7725650da847917dab828e540bf277c6bac7d4c3581a8ed36863e52ae1"


def _file_digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _digest_of(digests: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{p} {h}\n" for p, h in sorted(digests.items())).encode()).hexdigest()


def test_default_options_write_the_same_bytes_as_before(tmp_path):
    generate_landing(tmp_path, date(2026, 3, 30), date(2026, 3, 31))  # a Monday and a month end
    text = {
        name: hashlib.sha256(gzip.decompress((tmp_path / name).read_bytes())).hexdigest()
        for name in DEFAULT_DROP_TEXT_SHA256
    }
    assert text == DEFAULT_DROP_TEXT_SHA256  # the generated text itself
    assert _file_digests(tmp_path) == DEFAULT_DROP_SHA256, "same text: has zlib (level 3) changed?"


def test_fixtures_write_the_same_bytes_as_before(landing, defective):
    assert _digest_of(_file_digests(landing)) == LANDING_FIXTURE_SHA256
    assert _digest_of(_file_digests(defective)) == DEFECTS_FIXTURE_SHA256


# ---- any zone, any date, empty days ----------------------------------------------------------

CALL_TS = ("ivr_entry_ts", "ivr_exit_ts", "queue_entry_ts", "queue_exit_ts", "answer_ts", "end_ts")
TINY = dict(customers=150, agents=16, transactions_per_day=3000, calls_per_day=600)


def _named(d: Path, stem: str) -> Path:
    return next(p for p in d.iterdir() if p.name.startswith(stem))


def _calls_of(d: Path) -> list[dict]:
    return [json.loads(line) for line in _text(_named(d, "calls")).splitlines()]


def _loader_verdict(root: Path, work: Path) -> dict:
    """What the loader's file and record checks (no database) make of every drop, dates in order:
    {date: {file: (records read, reasons of those set aside)}}, or {date: fault code} for a date
    whose load fails. Duplicate ids are not judged (the database finds them)."""
    verdict, snapshot_ids = {}, {}
    for d in _days(root):
        day = date.fromisoformat(d.name)
        files, ids = {}, dict(snapshot_ids)  # a date that fails leaves the snapshots in force
        try:
            manifest = read_manifest(d, day, contract.DEFAULT_TIMEZONE)
            for src in contract.SOURCE_FILES:  # snapshots before the files that refer to them
                entry = manifest.files.get(src.entity)
                if entry is None:
                    continue
                inspected = inspect_file(d, entry, day, work / f"{src.entity}.txt", 1 << 30)
                ctx = Context(day, manifest.timezone, 4096)
                ctx.reference_ids = {entity: ids[entity] for _, entity in src.references}
                parsed = read_file(inspected, ctx, lambda _chunk: None, load_id=1)
                files[entry.name] = (parsed.rows_read, Counter(r for a in parsed.set_aside for r in a.reasons))
                if src.is_snapshot:
                    ids[src.entity] = parsed.good_ids.all_ids()
        except FileFault as fault:
            verdict[d.name] = fault.code
            continue
        verdict[d.name], snapshot_ids = files, ids
    return verdict


def _assert_loads_clean(root: Path, work: Path) -> None:
    for day, files in _loader_verdict(root, work).items():
        manifest = json.loads((root / day / "_manifest.json").read_text())
        assert isinstance(files, dict), (day, files)
        for name, (read, reasons) in files.items():
            assert read == manifest["files"][name]["rows"], (day, name)
            assert reasons == Counter(), (day, name)


def _assert_true_local_times(root: Path, zone_name: str) -> list[datetime]:
    """Every timestamp names a wall-clock time the zone has, with the zone's offset at that
    instant; ledger entries and IVR entries fall on the business date. Returns the timestamps."""
    zone = ZoneInfo(zone_name)
    seen = []
    for d in _days(root):
        day = date.fromisoformat(d.name)
        manifest = json.loads((d / "_manifest.json").read_text())
        assert manifest["timezone"] == zone_name
        stamps = [("generated_at", manifest["generated_at"])]
        stamps += [("txn_ts", t) for t in _csv(_named(d, "transactions")).txn_ts]
        calls = _calls_of(d)
        stamps += [(f, c[f]) for c in calls for f in CALL_TS if c[f] is not None]
        for field_name, text in stamps:
            ts = datetime.fromisoformat(text)
            local = ts.astimezone(zone)
            assert ts.utcoffset() == local.utcoffset(), (field_name, text, local.isoformat())
            assert ts.replace(tzinfo=None) == local.replace(tzinfo=None), (field_name, text)
            if field_name in ("txn_ts", "ivr_entry_ts"):
                assert local.date() == day, (field_name, text)
            seen.append(ts)
        for c in calls:  # in time, whatever the text says
            t = {f: datetime.fromisoformat(c[f]) for f in CALL_TS if c[f] is not None}
            assert all(t["end_ts"] >= v for v in t.values()) and t["ivr_exit_ts"] >= t["ivr_entry_ts"], c
    return seen


# (zone, business date, local hour that occurs twice on a fall-back day)
ZONE_DAYS = [
    ("Europe/Prague", date(2026, 3, 29), None),  # 02:00 -> 03:00
    ("Europe/Prague", date(2026, 10, 25), 2),  # 03:00 -> 02:00
    ("Europe/Prague", date(2024, 3, 31), None),  # spring forward on a month end: interest at 23:50
    ("America/New_York", date(2026, 3, 8), None),
    ("America/New_York", date(2026, 11, 1), 1),
    ("Asia/Shanghai", date(1991, 9, 15), 1),  # the default zone kept summer time 1986-1991
    ("Asia/Kolkata", date(2026, 3, 8), None),  # +05:30
    ("Asia/Kathmandu", date(2026, 10, 25), None),  # +05:45
]


@pytest.mark.parametrize(("zone", "day", "repeated_hour"), ZONE_DAYS, ids=lambda v: str(v))
def test_timestamps_are_true_instants_of_the_zone(tmp_path, zone, day, repeated_hour):
    out = tmp_path / "landing"
    generate_landing(out, day, day, seed=5, timezone=zone, **TINY)
    stamps = _assert_true_local_times(out, zone)
    _assert_loads_clean(out, tmp_path)
    local = [ts.astimezone(ZoneInfo(zone)) for ts in stamps]
    offsets = {ts.utcoffset() for ts in local if ts.date() == day}
    start, end = (datetime.combine(d, datetime.min.time(), ZoneInfo(zone)) for d in (day, day + timedelta(1)))
    hours = (end.timestamp() - start.timestamp()) / 3600  # (aware datetimes of one zone subtract naively)
    assert len(offsets) == (1 if hours == 24 else 2)
    if repeated_hour is not None:  # both occurrences of the repeated hour are used
        assert {ts.utcoffset() for ts in local if ts.date() == day and ts.hour == repeated_hour} == offsets
    if day.day == 31:
        tx = _csv(_named(out / day.isoformat(), "transactions"))
        assert (tx.channel == "SYSTEM").sum() > 0  # month-end interest and fees, still on the date


def test_dates_far_back_and_ahead(tmp_path):
    for zone, start, end in [
        ("Asia/Shanghai", date(1994, 1, 27), date(1994, 2, 2)),
        ("America/New_York", date(2031, 3, 9), date(2031, 3, 9)),  # a DST day too
        ("Europe/Prague", date(1999, 12, 30), date(2000, 1, 2)),  # across a year boundary
    ]:
        out = tmp_path / start.isoformat()
        generate_landing(out, start, end, seed=9, timezone=zone, **TINY)
        _assert_true_local_times(out, zone)
        _assert_loads_clean(out, tmp_path)
        agents = None
        for d in _days(out):
            day = d.name
            oldest = f"{int(day[:4]) - 120}{day[4:]}"
            customers = _csv(d / "customers.csv")
            assert (customers.birth_date <= day).all() and (customers.birth_date > oldest).all()
            assert (customers.join_date <= day).all() and (customers.birth_date < customers.join_date).all()
            accounts = _csv(d / "accounts.csv")
            closed = accounts[accounts.close_date != ""]
            assert (accounts.open_date <= day).all()
            assert (closed.close_date >= closed.open_date).all() and (closed.close_date <= day).all()
            if (d / "agents.csv").exists():
                agents = _csv(d / "agents.csv")
            assert (agents.hire_date <= day).all()
            tx, calls = _csv(_named(d, "transactions")), _calls_of(d)
            assert tx.txn_id.str.startswith(f"T{day.replace('-', '')}").all()
            assert all(c["call_id"].startswith(f"CL{day.replace('-', '')}") for c in calls)
            assert {c["campaign_id"][4:8] for c in calls if c["campaign_id"]} <= {day[:4]}


def test_defects_far_back_get_exactly_the_expected_reasons_from_the_loader(tmp_path):
    out = tmp_path / "landing"
    generate_landing(
        out, date(1994, 1, 25), date(1994, 2, 2), seed=11, defects=True,
        customers=300, agents=20, transactions_per_day=1500, calls_per_day=250,
    )  # fmt: skip
    verdict = _loader_verdict(out, tmp_path)
    for day, want in json.loads((out / "_expected.json").read_text())["dates"].items():
        if "fault" in want and want["fault"]["code"] != contract.FAULT_THRESHOLD:  # (a share, judged later)
            assert verdict[day] == want["fault"]["code"], day
            continue
        for name, counts in want["files"].items():
            reasons = Counter({r: n for r, n in counts["reasons"].items() if not r.startswith("duplicate_id")})
            assert verdict[day][name] == (counts["rows_read"], reasons), (day, name)


def test_dates_and_zones_the_generator_cannot_write_are_refused(tmp_path):
    with pytest.raises(ValueError, match="local mean time"):  # +08:05:43 until 1901
        generate_landing(tmp_path, date(1899, 12, 30), date(1900, 1, 2))
    with pytest.raises(ValueError, match="outside the dates"):
        generate_landing(tmp_path, date(999, 12, 31), date(1000, 1, 2))
    with pytest.raises(ValueError, match="weekday"):
        generate_landing(tmp_path, date(2026, 3, 2), date(2026, 3, 2), closed_days=["FUNDAY"])
    with pytest.raises(ValueError, match="closed on 2026-03-08"):
        generate_landing(
            tmp_path, date(2026, 3, 2), date(2026, 3, 10), defects=True, closed_days=["SUN"],
            customers=300, agents=20, transactions_per_day=1500, calls_per_day=250,
        )  # fmt: skip
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_closed_days_have_an_empty_calls_file_and_the_usual_ledger(tmp_path):
    args = dict(seed=5, customers=150, agents=16, transactions_per_day=800, calls_per_day=200)
    start, end = date(2026, 3, 6), date(2026, 3, 9)  # Friday to Monday
    generate_landing(tmp_path / "open", start, end, **args)
    generate_landing(tmp_path / "closed", start, end, closed_days=[date(2026, 3, 9), "sun"], **args)
    closed = {"2026-03-08", "2026-03-09"}
    open_files, closed_files = _file_digests(tmp_path / "open"), _file_digests(tmp_path / "closed")
    assert open_files.keys() == closed_files.keys()
    changed = {f for f in open_files if open_files[f] != closed_files[f]}
    assert changed == {f"{d}/{name}" for d in closed for name in ("calls.jsonl.gz", "_manifest.json")}
    for d in closed:
        drop = tmp_path / "closed" / d
        assert gzip.decompress((drop / "calls.jsonl.gz").read_bytes()) == b""
        entry = json.loads((drop / "_manifest.json").read_text())["files"]["calls.jsonl.gz"]
        digest = hashlib.sha256((drop / "calls.jsonl.gz").read_bytes()).hexdigest()
        assert entry == {"rows": 0, "sha256": digest}
    _assert_loads_clean(tmp_path / "closed", tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_zero_volumes_write_valid_empty_files(tmp_path, gz):
    out = tmp_path / "landing"
    generate_landing(
        out, date(2026, 3, 30), date(2026, 3, 31), gzip=gz, customers=50, agents=5,
        transactions_per_day=0, calls_per_day=0,
    )  # fmt: skip
    suffix = ".gz" if gz else ""
    for d in _days(out):
        files = json.loads((d / "_manifest.json").read_text())["files"]
        for name, text in ((f"transactions.csv{suffix}", ",".join(contract.TRANSACTIONS.column_names) + "\n"),
                           (f"calls.jsonl{suffix}", "")):  # no month-end interest either
            assert _text(d / name) == text
            assert files[name] == {"rows": 0, "sha256": hashlib.sha256((d / name).read_bytes()).hexdigest()}
        assert files["customers.csv"]["rows"] >= 50
    _assert_loads_clean(out, tmp_path)


def test_a_minimal_bank(tmp_path):
    out = tmp_path / "landing"
    generate_landing(
        out, date(2026, 3, 27), date(2026, 4, 1), customers=1, agents=1,
        transactions_per_day=500, calls_per_day=100,
    )  # fmt: skip
    first = _days(out)[0]
    assert len(_csv(first / "agents.csv")) >= 1 and len(_csv(first / "customers.csv")) >= 1
    _assert_true_local_times(out, "Asia/Shanghai")
    _assert_loads_clean(out, tmp_path)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--closed-days", "FUNDAY"], "--closed-days: 'FUNDAY' is neither a date YYYY-MM-DD nor a weekday"),
        (["--closed-days", "2026-02-30"], "--closed-days: '2026-02-30' is neither"),
        (["--closed-days", "2026-03-08,,SUN"], "--closed-days: an empty item"),
        (["--calls-per-day", "-1"], "--calls-per-day: must be 0 or more"),
        (["--transactions-per-day", "1.5"], "--transactions-per-day: not a whole number"),
        (["--agents", "0"], "--agents: must be greater than 0"),
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
        (["--defects", "--closed-days", "SUN"], "defects need"),
    ],
)
def test_bad_generate_options_exit_2_with_one_line(tmp_path, capsys, option, message):
    argv = ["generate", "--out", str(tmp_path / "x"), "--start", "2026-03-02", "--end", "2026-03-09"]
    assert main(argv + option) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "x").exists()


def test_generate_command_writes_empty_and_closed_days(tmp_path, capsys):
    argv = ["generate", "--out", str(tmp_path), "--start", "2026-03-07", "--end", "2026-03-08",
            "--customers", "1", "--agents", "1", "--transactions-per-day", "0", "--calls-per-day", "50",
            "--closed-days", "sat", "--closed-days", "2026-12-25", "--no-gzip"]  # fmt: skip
    assert main(argv) == EXIT_OK
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("wrote 2 drops")
    assert (tmp_path / "2026-03-07" / "calls.jsonl").read_bytes() == b""
    assert (tmp_path / "2026-03-08" / "calls.jsonl").read_bytes() != b""
    assert len((tmp_path / "2026-03-08" / "transactions.csv").read_bytes().splitlines()) == 1
