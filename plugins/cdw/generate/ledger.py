"""Posted ledger entries of a business day, vectorised with numpy.

Balances are kept in integer cents per account and carried from day to day; every
entry's ``balance_after`` is the previous balance of its account plus the signed
amount, in ``txn_ts`` order (ties broken by ``txn_id``, which follows file order).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np

from . import reference as ref
from .clock import Clock
from .population import Bank

# share of ledger entries by channel, customer-initiated (SYSTEM comes on top at month end)
CHANNEL_P = {
    ref.ATM: 0.22,
    ref.POS: 0.28,
    ref.PHONE: 0.27,
    ref.BRANCH: 0.15,
    ref.ONLINE: 0.03,
    ref.MOBILE: 0.05,
}

PRODUCT_BY_CHANNEL = {
    ref.ATM: {ref.CURRENT: 0.85, ref.SAVINGS: 0.15},
    ref.POS: {ref.CURRENT: 0.55, ref.CREDIT_CARD: 0.45},
    ref.PHONE: {ref.CURRENT: 0.50, ref.SAVINGS: 0.20, ref.CREDIT_CARD: 0.20, ref.LOAN: 0.10},
    ref.BRANCH: {
        ref.CURRENT: 0.45,
        ref.SAVINGS: 0.25,
        ref.TIME_DEPOSIT: 0.15,
        ref.WEALTH: 0.10,
        ref.LOAN: 0.05,
    },
    ref.ONLINE: {
        ref.CURRENT: 0.55,
        ref.SAVINGS: 0.15,
        ref.CREDIT_CARD: 0.15,
        ref.WEALTH: 0.10,
        ref.LOAN: 0.05,
    },
    ref.MOBILE: {
        ref.CURRENT: 0.55,
        ref.SAVINGS: 0.15,
        ref.CREDIT_CARD: 0.15,
        ref.WEALTH: 0.10,
        ref.LOAN: 0.05,
    },
}

_REMOTE = (ref.PHONE, ref.ONLINE, ref.MOBILE)
# (txn_type, is_credit, probability, median CNY, sigma, round to) per (channel, product group)
_DEP = {
    ref.ATM: [(ref.WITHDRAWAL, False, 0.82, 0, 0, 100), (ref.DEPOSIT, True, 0.18, 1500, 0.8, 100)],
    ref.POS: [(ref.CARD_PURCHASE, False, 1.0, 85, 1.1, 0)],
    ref.BRANCH: [
        (ref.DEPOSIT, True, 0.33, 3500, 1.2, 100),
        (ref.WITHDRAWAL, False, 0.35, 4000, 1.1, 100),
        (ref.TRANSFER, False, 0.20, 8000, 1.3, 0),
        (ref.TRANSFER, True, 0.12, 8000, 1.3, 0),
    ],
    "remote": [
        (ref.TRANSFER, False, 0.38, 1500, 1.3, 0),
        (ref.TRANSFER, True, 0.24, 2100, 1.3, 0),
        (ref.PAYMENT, False, 0.38, 350, 1.1, 0),
    ],
}
_CARD = {
    ref.POS: [(ref.CARD_PURCHASE, False, 1.0, 120, 1.1, 0)],
    "remote": [(ref.PAYMENT, True, 1.0, 3000, 0.9, 0)],
}
# time deposits and wealth products move in slices of what is held (placements, redemptions)
_INVEST = [(ref.TRANSFER, True, 0.5, 20_000, 0.8, 100), (ref.TRANSFER, False, 0.5, 20_000, 0.8, 100)]
_LOAN = [(ref.LOAN_REPAYMENT, False, 1.0, 4500, 0.5, 0)]
_ATM_NOTES = np.array([100, 200, 300, 500, 1000, 2000, 3000, 5000])
_ATM_NOTES_P = np.array([0.10, 0.14, 0.10, 0.22, 0.22, 0.12, 0.05, 0.05])


def _menu(channel: int, product: int):
    if product == ref.LOAN:
        return _LOAN
    if product in (ref.TIME_DEPOSIT, ref.WEALTH):
        return _INVEST
    table = _CARD if product == ref.CREDIT_CARD else _DEP
    return table["remote" if channel in _REMOTE else channel]


def _hours(weights: list[float]) -> np.ndarray:
    w = np.array(weights, dtype=float)
    return w / w.sum()


# intraday profile by channel: few entries at night
HOURS = {
    ref.ATM: _hours(
        [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 3, 4, 5, 6, 6.5, 7, 6, 5.5, 5.5, 6, 7, 7.5, 6.5, 5, 4, 3, 1.8]
    ),
    ref.POS: _hours(
        [0.8, 0.4, 0.2, 0.1, 0.1, 0.3, 1, 3, 4, 3.5, 4, 6, 8, 6, 4.5, 4.5, 5, 6.5, 8, 8.5, 7.5, 6, 4, 2]
    ),
    ref.PHONE: _hours(
        [0.1, 0, 0, 0, 0, 0, 0.2, 1, 4, 7, 9, 8, 5.5, 7, 8.5, 7.5, 6.5, 5, 3.5, 2.5, 2, 1, 0.4, 0.2]
    ),
    ref.BRANCH: _hours([0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 10, 9, 6, 7, 9, 8.5, 6.5, 2, 0, 0, 0, 0, 0, 0]),
    ref.ONLINE: _hours(
        [1.5, 0.8, 0.4, 0.2, 0.2, 0.3, 0.8, 2, 3.5, 5, 6, 6, 6, 5.5, 5.5, 5.5, 5.5, 5.5, 6, 7, 8, 8, 6, 3]
    ),
    ref.MOBILE: _hours(
        [2, 1, 0.5, 0.3, 0.2, 0.4, 1.2, 3, 4.5, 5, 5.5, 6, 7, 6, 5, 5, 5, 5.5, 6.5, 7.5, 8.5, 8.5, 6.5, 3.5]
    ),
}


def volume_factor(day: date) -> float:
    """Ledger volume relative to the average day: weekdays busier, month end busiest."""
    f = (1.08, 1.08, 1.08, 1.08, 1.08, 0.85, 0.75)[day.weekday()]
    if day.day == calendar.monthrange(day.year, day.month)[1]:
        f *= 1.15
    elif day.day in (10, 15):  # pay days
        f *= 1.10
    return f


@dataclass
class LedgerDay:
    """A day's entries in file order; ``reverses`` is a row index, ``branch`` an index into branch names."""

    acct: np.ndarray
    ts: np.ndarray  # elapsed seconds from the start of the business date (see ``Clock``)
    amount: np.ndarray  # cents > 0
    credit: np.ndarray
    channel: np.ndarray
    ttype: np.ndarray
    branch: np.ndarray  # -1: none; else index into ``branches``
    cp_acct: np.ndarray  # -1: none
    cp_bank: np.ndarray  # -1: none
    reverses: np.ndarray  # -1: none
    balance_after: np.ndarray
    branches: list[str]

    def __len__(self) -> int:
        return len(self.acct)


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _entries(n: int, **cols) -> dict:
    base = {
        "acct": np.zeros(n, np.int64),
        "ts": np.zeros(n, np.int64),
        "amount": np.zeros(n, np.int64),
        "credit": np.zeros(n, bool),
        "channel": np.zeros(n, np.int8),
        "ttype": np.zeros(n, np.int8),
        "cp_acct": np.full(n, -1, np.int64),
        "cp_bank": np.full(n, -1, np.int8),
        "reverses": np.full(n, -1, np.int64),
        "tiebreak": np.zeros(n, np.float64),
    }
    for k, v in cols.items():
        base[k] = np.asarray(v, dtype=base[k].dtype) if np.ndim(v) else np.full(n, v, base[k].dtype)
    return base


def _running_balance(bank: Bank, e: dict) -> np.ndarray:
    """balance_after of each entry (file order) from the accounts' opening balances."""
    signed = np.where(e["credit"], e["amount"], -e["amount"])
    order = np.argsort(e["acct"], kind="stable")  # file order kept within an account
    acct_sorted = e["acct"][order]
    cs = np.cumsum(signed[order])
    first = np.r_[True, acct_sorted[1:] != acct_sorted[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    before = np.where(group_start > 0, cs[group_start - 1], 0) if len(order) else cs
    bal_sorted = bank.balance[acct_sorted] + cs - before
    out = np.empty_like(bal_sorted)
    out[order] = bal_sorted
    return out


def _file_order(e: dict) -> dict:
    order = np.lexsort((e["tiebreak"], e["ts"]))
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    out = {k: v[order] for k, v in e.items()}
    out["reverses"] = np.where(out["reverses"] >= 0, inverse[np.maximum(out["reverses"], 0)], -1)
    return out


def _empty_day(bank: Bank) -> LedgerDay:
    e = _entries(0)
    return LedgerDay(
        **{k: e[k] for k in ("acct", "ts", "amount", "credit", "channel", "ttype", "cp_acct", "cp_bank")},
        branch=np.zeros(0, np.int64),
        reverses=e["reverses"],
        balance_after=np.zeros(0, np.int64),
        branches=sorted(set(bank.acc_branch)),
    )


def post_day(
    bank: Bank, rng: np.random.Generator, day: date, n_target: int, clock: Clock
) -> tuple[LedgerDay, dict]:
    """Entries of ``day`` (balances of ``bank`` are advanced); also returns day statistics.

    ``n_target`` 0: a day without ledger entries at all (nothing closes, nothing is posted)."""
    stats = {"closures": 0, "flipped": 0, "interest": 0, "fees": 0, "reversals": 0}
    if n_target == 0:
        return _empty_day(bank), stats
    opened = np.array([d <= day for d in bank.acc_open])
    usable = (bank.acc_status == ref.ACTIVE) & opened
    parts = []

    # accounts closed today: the balance is paid out and nothing else posts on them
    cand = np.flatnonzero(
        usable & np.isin(bank.acc_product, (ref.SAVINGS, ref.TIME_DEPOSIT)) & (bank.balance >= 0)
    )
    n_close = min(len(cand), rng.poisson(max(0.3, len(bank.customers) / 2500)))
    closing = rng.choice(cand, size=n_close, replace=False) if n_close else np.array([], np.int64)
    for a in closing:
        bank.acc_status[a] = ref.CLOSED
        bank.acc_close[a] = day
    usable[closing] = False
    payout = closing[bank.balance[closing] > 0]
    if len(payout):
        parts.append(
            _entries(
                len(payout),
                acct=payout,
                ts=clock.from_wall(rng.integers(9 * 3600, 17 * 3600, len(payout))),
                amount=bank.balance[payout],
                credit=False,
                channel=ref.BRANCH,
                ttype=ref.TRANSFER,
                cp_acct=rng.integers(10**15, 10**16, len(payout)),
                cp_bank=0,
                tiebreak=rng.random(len(payout)),
            )
        )
    stats["closures"] = int(n_close)

    # customer-initiated entries
    chan_keys = np.array(list(CHANNEL_P))
    chan_p = np.array(list(CHANNEL_P.values()))
    channel = chan_keys[rng.choice(len(chan_keys), n_target, p=chan_p / chan_p.sum())]
    if day.weekday() >= 5:  # fewer branches open at weekends: their share goes to the app
        weekend_branch = (channel == ref.BRANCH) & (rng.random(n_target) < 0.5)
        channel[weekend_branch] = ref.MOBILE
    product = np.zeros(n_target, np.int8)
    acct = np.zeros(n_target, np.int64)
    pools = {p: np.flatnonzero(usable & (bank.acc_product == p)) for p in range(len(ref.PRODUCTS))}
    for ch, pp in PRODUCT_BY_CHANNEL.items():
        idx = np.flatnonzero(channel == ch)
        if not len(idx):
            continue
        prods = [p for p in pp if len(pools[p])]
        if not prods:
            prods = [p for p in pools if len(pools[p])]
        w = np.array([pp.get(p, 1.0) for p in prods])
        product[idx] = np.array(prods)[rng.choice(len(prods), len(idx), p=w / w.sum())]
    for p, pool in pools.items():
        idx = np.flatnonzero(product == p)
        if len(idx):
            w = bank.activity[pool]
            acct[idx] = pool[rng.choice(len(pool), len(idx), p=w / w.sum())]

    ttype = np.zeros(n_target, np.int8)
    credit = np.zeros(n_target, bool)
    amount = np.zeros(n_target, np.float64)
    wf = np.array(bank.wealth_factor)[bank.acc_cust[acct]]
    for ch in PRODUCT_BY_CHANNEL:
        for p in range(len(ref.PRODUCTS)):
            idx = np.flatnonzero((channel == ch) & (product == p))
            if not len(idx):
                continue
            menu = _menu(ch, p)
            probs = np.array([m[2] for m in menu])
            pick = rng.choice(len(menu), len(idx), p=probs / probs.sum())
            for k, (tt, cr, _, med, sig, step) in enumerate(menu):
                sub = idx[pick == k]
                ttype[sub], credit[sub] = tt, cr
                if tt == ref.WITHDRAWAL and ch == ref.ATM:
                    amt = _ATM_NOTES[rng.choice(len(_ATM_NOTES), len(sub), p=_ATM_NOTES_P)].astype(float)
                else:
                    amt = np.exp(rng.normal(np.log(med), sig, len(sub)))
                    if p in (ref.TIME_DEPOSIT, ref.WEALTH):
                        held = (
                            bank.balance[acct[sub]]
                            / 100
                            * np.array(ref.FX_TO_CNY)[bank.acc_currency[acct[sub]]]
                        )
                        amt = np.where(held > 0, held * rng.uniform(0.03, 0.2, len(sub)), amt * wf[sub])
                    elif tt != ref.LOAN_REPAYMENT:
                        amt *= wf[sub]
                if step:
                    amt = np.maximum(step, np.round(amt / step) * step)
                amount[sub] = amt
    fx = np.array(ref.FX_TO_CNY)[bank.acc_currency[acct]]
    cents = np.maximum(1, np.round(amount / fx * 100)).astype(np.int64)
    cents = np.where(fx > 1.5, np.maximum(100, np.round(cents / 100) * 100), cents).astype(np.int64)

    # debits are sized to what the account can bear at the start of the day
    headroom = bank.balance[acct] - bank.floor[acct]
    cap = np.maximum(0, headroom * 0.3).astype(np.int64)
    debit = ~credit
    cents = np.where(debit & (cents > cap) & (ttype != ref.WITHDRAWAL), np.maximum(cap, 1), cents)
    ts = np.zeros(n_target, np.int64)
    for ch, prof in HOURS.items():
        idx = np.flatnonzero(channel == ch)
        ts[idx] = clock.draw(rng, prof, len(idx))[1]
    cp = np.isin(ttype, (ref.TRANSFER, ref.PAYMENT, ref.LOAN_REPAYMENT))
    cp_acct = np.where(cp, rng.integers(10**15, 10**16, n_target), -1)
    cp_bank = np.where(cp, rng.choice(len(ref.BANKS), n_target, p=ref.BANK_WEIGHTS), -1)
    parts.append(
        _entries(
            n_target,
            acct=acct,
            ts=ts,
            amount=cents,
            credit=credit,
            channel=channel,
            ttype=ttype,
            cp_acct=cp_acct,
            cp_bank=cp_bank,
            tiebreak=rng.random(n_target),
        )
    )
    del (
        channel,
        product,
        acct,
        ttype,
        credit,
        amount,
        cents,
        wf,
        fx,
        headroom,
        cap,
        debit,
        ts,
        cp,
        cp_acct,
        cp_bank,
    )

    # month end: the bank posts interest and account fees itself
    if day.day == calendar.monthrange(day.year, day.month)[1]:
        rate = np.array([0.0020, 0.0035, 0.0175, 0, 0, 0])[bank.acc_product]
        interest = np.round(np.maximum(bank.balance, 0) * rate / 12).astype(np.int64)
        ia = np.flatnonzero(usable & (interest >= 1))
        fee = np.array([1000, 700, 800])[bank.acc_currency]  # 10 CNY / 7 USD / 8 HKD a month
        mass = np.array([c["segment"] == "MASS" for c in bank.customers])[bank.acc_cust]
        fa = np.flatnonzero(usable & (bank.acc_product == ref.CURRENT) & mass & (bank.balance < 1_000_000))
        for sel, amt, cr, tt in ((ia, interest, True, ref.INTEREST), (fa, fee, False, ref.FEE)):
            if len(sel):
                parts.append(
                    _entries(
                        len(sel),
                        acct=sel,
                        ts=clock.from_wall(23 * 3600 + 50 * 60 + rng.integers(0, 540, len(sel))),
                        amount=amt[sel],
                        credit=cr,
                        channel=ref.SYSTEM,
                        ttype=tt,
                        tiebreak=rng.random(len(sel)),
                    )
                )
        stats["interest"], stats["fees"] = len(ia), len(fa)

    e = _concat(parts)
    del parts
    e = _file_order(e)

    # keep every account above its floor: a debit it cannot bear becomes a credit (the customer
    # paid in first); fees and loan repayments it cannot bear are not posted
    for attempt in range(4):
        bal = _running_balance(bank, e)
        bad = bal < bank.floor[e["acct"]]
        if not bad.any():
            break
        if attempt < 3:  # first the earliest breach per account, then all at once
            first = np.zeros_like(bad)
            accts = e["acct"][bad]
            _, pos = np.unique(accts, return_index=True)
            first[np.flatnonzero(bad)[pos]] = True
            bad = first
        drop = bad & np.isin(e["ttype"], (ref.FEE, ref.LOAN_REPAYMENT))
        flip = bad & ~drop
        e["credit"][flip] = True
        t = e["ttype"]
        t[flip & (t == ref.WITHDRAWAL)] = ref.DEPOSIT
        pos_flip = flip & (t == ref.CARD_PURCHASE)
        e["channel"][pos_flip] = ref.MOBILE
        is_card = bank.acc_product[e["acct"]] == ref.CREDIT_CARD
        t[pos_flip & is_card] = ref.PAYMENT
        t[pos_flip & ~is_card] = ref.TRANSFER
        t[flip & (t == ref.PAYMENT) & ~is_card] = ref.TRANSFER
        need_cp = flip & np.isin(t, (ref.TRANSFER, ref.PAYMENT)) & (e["cp_acct"] < 0)
        e["cp_acct"][need_cp] = rng.integers(10**15, 10**16, int(need_cp.sum()))
        e["cp_bank"][need_cp] = rng.choice(len(ref.BANKS), int(need_cp.sum()), p=ref.BANK_WEIGHTS)
        stats["flipped"] += int(flip.sum())
        if drop.any():
            keep = ~drop
            remap = np.cumsum(keep) - 1
            e = {k: v[keep] for k, v in e.items()}
            e["reverses"] = np.where(e["reverses"] >= 0, remap[np.maximum(e["reverses"], 0)], -1)

    # a few entries are reversed later the same day (disputed purchases, ATM dispense errors)
    n_rev = int(rng.binomial(len(e["acct"]), 0.0015)) if len(e["acct"]) >= 200 else 0
    cand = np.flatnonzero(
        ~e["credit"]
        & np.isin(e["ttype"], (ref.CARD_PURCHASE, ref.PAYMENT, ref.WITHDRAWAL))
        & (e["ts"] < clock.length - 400)
    )
    n_rev = min(n_rev, len(cand))
    if n_rev:
        orig = rng.choice(cand, n_rev, replace=False)
        rev = _entries(
            n_rev,
            acct=e["acct"][orig],
            ts=np.minimum(clock.length - 1, e["ts"][orig] + rng.integers(60, 4 * 3600, n_rev)),
            amount=e["amount"][orig],
            credit=True,
            channel=e["channel"][orig],
            ttype=ref.REVERSAL,
            cp_acct=e["cp_acct"][orig],
            cp_bank=e["cp_bank"][orig],
            reverses=orig,
            tiebreak=2.0,  # after anything else at the same second
        )
        e["tiebreak"] = np.arange(len(e["acct"]), dtype=np.float64) / max(1, len(e["acct"]))
        e = _file_order(_concat([e, rev]))
        stats["reversals"] = n_rev
    bal = _running_balance(bank, e)

    # branch of BRANCH entries: the account's home branch, sometimes another one in town
    branches = sorted(set(bank.acc_branch))
    bindex = {b: i for i, b in enumerate(branches)}
    home = np.array([bindex[b] for b in bank.acc_branch])[e["acct"]]
    other = rng.integers(0, len(branches), len(home))
    br = np.where(rng.random(len(home)) < 0.85, home, other)
    branch = np.where(e["channel"] == ref.BRANCH, br, -1)
    rv = e["reverses"] >= 0
    branch[rv] = branch[e["reverses"][rv]]  # a reversal is booked where the entry was

    # advance the accounts' balances to the end of the day
    if len(e["acct"]):
        accts, pos = np.unique(e["acct"][::-1], return_index=True)
        bank.balance[accts] = bal[len(bal) - 1 - pos]
    day_ledger = LedgerDay(
        acct=e["acct"],
        ts=e["ts"],
        amount=e["amount"],
        credit=e["credit"],
        channel=e["channel"],
        ttype=e["ttype"],
        branch=branch,
        cp_acct=e["cp_acct"],
        cp_bank=e["cp_bank"],
        reverses=e["reverses"],
        balance_after=bal,
        branches=branches,
    )
    return day_ledger, stats
