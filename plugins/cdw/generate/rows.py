"""Turning the simulation's arrays into the text of landing records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import numpy as np

from cdw.landing.contract import TRANSACTIONS

from . import reference as ref
from .clock import Clock
from .ledger import LedgerDay
from .population import Bank
from .writer import Lines

TXN_COLUMNS = list(TRANSACTIONS.column_names)
CHUNK = 100_000


def money(cents: np.ndarray) -> list[str]:
    """Cents -> decimal text with exactly 2 places."""
    return [f"-{-v // 100}.{-v % 100:02d}" if v < 0 else f"{v // 100}.{v % 100:02d}" for v in cents.tolist()]


def txn_ids(day: date, n: int, start: int = 0) -> list[str]:
    prefix = f"T{day:%Y%m%d}"
    return [f"{prefix}{i:09d}" for i in range(start + 1, start + n + 1)]


def ledger_chunks(
    ld: LedgerDay, bank: Bank, clock: Clock, day: date, *, drop: str | None = None
) -> Iterator[list]:
    """Rows of the transactions file in chunks (columns in contract order, ``drop`` left out)."""
    table = np.array(clock.day_table(), dtype=object)
    acc_ids = np.array(bank.acc_id, dtype=object)
    cur_codes = np.array(ref.CURRENCIES, dtype=object)
    chan = np.array(ref.CHANNELS, dtype=object)
    types = np.array(ref.TXN_TYPES, dtype=object)
    banks = np.array([*ref.BANKS, ""], dtype=object)  # index -1 -> ""
    branches = np.array([*ld.branches, ""], dtype=object)
    keep = [i for i, c in enumerate(TXN_COLUMNS) if c != drop]
    n = len(ld)
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        sl = slice(lo, hi)
        acct = ld.acct[sl]
        rev = ld.reverses[sl]
        rev_ids = [f"T{day:%Y%m%d}{r + 1:09d}" if r >= 0 else "" for r in rev.tolist()]
        cp = ["" if v < 0 else str(v) for v in ld.cp_acct[sl].tolist()]
        cols = [
            txn_ids(day, hi - lo, lo),
            acc_ids[acct].tolist(),
            table[ld.ts[sl]].tolist(),
            money(ld.amount[sl]),
            cur_codes[bank.acc_currency[acct]].tolist(),
            np.where(ld.credit[sl], "CREDIT", "DEBIT").tolist(),
            types[ld.ttype[sl]].tolist(),
            chan[ld.channel[sl]].tolist(),
            branches[ld.branch[sl]].tolist(),
            money(ld.balance_after[sl]),
            cp,
            banks[ld.cp_bank[sl]].tolist(),
            rev_ids,
        ]
        cols = [cols[i] for i in keep]
        yield Lines.of(zip(*cols, strict=True))


def ledger_row(ld: LedgerDay, bank: Bank, clock: Clock, day: date, i: int) -> dict[str, str]:
    """One entry as {column: text} (a base for defective copies)."""
    sub = LedgerDay(
        **{
            k: (getattr(ld, k)[i : i + 1] if k != "branches" else ld.branches)
            for k in ld.__dataclass_fields__
        }
    )
    sub.reverses = np.array([-1])
    row = next(ledger_chunks(sub, bank, clock, day)).rstrip("\n").split(",")
    row[0] = f"T{day:%Y%m%d}{i + 1:09d}"
    return dict(zip(TXN_COLUMNS, row, strict=True))
