"""Record-level rules of the landing contract, checked a batch at a time.

A batch is a dict of column name -> pyarrow string array (null = empty field).
Checks are vectorised with pyarrow compute so that a million ledger entries
cost about as much as their COPY; Python touches only the few bad rows.
A check that needs a parsed value is skipped where the value is missing or
unparseable, so each record gets the reasons that really apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdw.landing.contract import Column, SourceFile

TS_PATTERN = (
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?P<frac>\.\d{1,6})?(?P<tz>Z|[+-](?P<oh>\d{2}):(?P<om>\d{2}))$"
)
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
DECIMAL_PATTERN = r"^-?\d{1,16}(\.\d{1,2})?$"
INT_PATTERN = r"^-?\d{1,9}$"


@dataclass
class Checked:
    """Outcome of one batch: which rows are good, and the reasons of the others."""

    good: pa.Table
    bad_rows: list[int]  # positions in the batch
    bad_reasons: list[list[str]]


@dataclass
class Context:
    """What the rules need beyond the record itself."""

    business_date: date
    timezone: str
    max_field_chars: int
    # referenced entity -> ids in the snapshot in force (a pyarrow array for is_in)
    reference_ids: dict[str, pa.Array] = field(default_factory=dict)
    # ids already taken in this file (duplicate detection across batches)
    seen_ids: set[str] = field(default_factory=set)


class _Reasons:
    """Collects (mask, reason) pairs; masks are numpy bool arrays of the batch length."""

    def __init__(self, n: int):
        self.n = n
        self.masks: list[np.ndarray] = []
        self.reasons: list[str] = []

    def add(self, mask, reason: str) -> None:
        arr = _np_mask(mask, self.n)
        if arr.any():
            self.masks.append(arr)
            self.reasons.append(reason)

    def any_bad(self) -> np.ndarray:
        if not self.masks:
            return np.zeros(self.n, dtype=bool)
        return np.logical_or.reduce(self.masks)


def _np_mask(mask, n: int) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        return mask
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    # null (unknown) counts as "rule not broken": the value was missing or unparseable,
    # which its own check reports.
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _valid_date(strings: pa.Array) -> pa.Array:
    """True where a YYYY-MM-DD string is a real calendar date (no 2026-02-30)."""
    parsed = pc.strptime(strings, format="%Y-%m-%d", unit="s", error_is_null=True)
    return pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), strings)


def _group_int(parts, name: str) -> pa.Array:
    """A regex group as int; a group that did not take part ("") or a null row counts as 0."""
    text = pc.fill_null(pc.struct_field(parts, name), "")
    return pc.cast(pc.if_else(pc.equal(text, ""), "0", text), pa.int32())


class _Timestamps:
    """Parses ISO 8601 timestamps with offset into UTC microseconds (null where invalid)."""

    def __init__(self, values: pa.Array):
        parts = pc.extract_regex(values, TS_PATTERN)  # null where the shape is wrong
        self.shape_ok = pc.is_valid(parts)
        d = pc.struct_field(parts, "date")
        h, m, s, oh, om = (_group_int(parts, k) for k in ("h", "m", "s", "oh", "om"))
        in_range = pc.and_(
            pc.and_(pc.less_equal(h, 23), pc.less_equal(m, 59)),
            pc.and_(pc.less_equal(s, 59), pc.and_(pc.less_equal(oh, 14), pc.less_equal(om, 59))),
        )
        self.ok = pc.and_(pc.and_(self.shape_ok, _valid_date(d)), in_range)
        # whole seconds with a numeric offset, for strptime's %z; the fraction is added below
        whole = pc.replace_substring_regex(values, r"\.\d{1,6}", "")
        whole = pc.replace_substring_regex(whole, r"Z$", "+00:00")
        seconds = pc.strptime(pc.if_else(self.ok, whole, None), format="%Y-%m-%dT%H:%M:%S%z",
                              unit="us", error_is_null=True)
        frac = pc.struct_field(parts, "frac")
        frac = pc.if_else(pc.equal(pc.fill_null(frac, ""), ""), ".0", frac)
        micros = pc.cast(pc.utf8_slice_codeunits(pc.utf8_rpad(pc.utf8_slice_codeunits(frac, 1, 7), 6, "0"), 0, 6),
                         pa.int64(), safe=False)
        self.utc = pc.add(pc.cast(seconds, pa.int64()), micros)  # microseconds since epoch, UTC

    def local_date_string(self, timezone: str) -> pa.Array:
        ts = pc.cast(pc.cast(self.utc, pa.timestamp("us")), pa.timestamp("us", tz="UTC"))
        return pc.strftime(pc.cast(ts, pa.timestamp("us", tz=timezone)), format="%Y-%m-%d")


def check_batch(src: SourceFile, batch: dict[str, pa.Array], ctx: Context,
                pre_reasons: list[list[str]] | None = None) -> Checked:
    """Check every record of a batch against ``src``'s rules.

    ``pre_reasons`` carries reasons found while reading (e.g. a JSON field of the
    wrong type, whose value then arrives here as null).
    """
    n = len(next(iter(batch.values())))
    r = _Reasons(n)
    present: dict[str, np.ndarray] = {}
    parsed_ok: dict[str, np.ndarray] = {}
    timestamps: dict[str, _Timestamps] = {}

    for col in src.columns:
        values = batch[col.name]
        is_set = pc.is_valid(values)
        present[col.name] = _np_mask(is_set, n)
        if col.required:
            r.add(pc.invert(is_set), f"missing_value:{col.name}")
        r.add(pc.match_substring(values, "\x00"), "malformed_record:line")
        ok = _check_column(col, values, ctx, r, timestamps)
        parsed_ok[col.name] = present[col.name] & _np_mask(ok, n)

    _check_rows(src, batch, ctx, r, present, parsed_ok, timestamps)

    for column, entity in src.references:
        ids = ctx.reference_ids.get(entity)
        if ids is None:
            continue
        known = pc.is_in(batch[column], value_set=ids)
        r.add(pc.and_(pc.is_valid(batch[column]), pc.invert(known)), f"unknown_reference:{column}")

    bad = r.any_bad()
    if pre_reasons is not None:
        bad |= np.fromiter((bool(p) for p in pre_reasons), dtype=bool, count=n)

    # Duplicates only among records that are otherwise good: the first good one loads.
    id_values = batch[src.id_column].to_pylist()
    seen = ctx.seen_ids
    dup = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(~bad):
        key = id_values[i]
        if key in seen:
            dup[i] = True
        else:
            seen.add(key)
    r.add(dup, f"duplicate_id:{src.id_column}")
    bad |= dup

    bad_rows = np.flatnonzero(bad).tolist()
    bad_reasons = []
    for i in bad_rows:
        reasons = list(pre_reasons[i]) if pre_reasons is not None else []
        reasons += [reason for mask, reason in zip(r.masks, r.reasons, strict=True) if mask[i]]
        # a JSON value of the wrong type arrives as null: it is a bad value, not a missing one
        wrong_type = {x.split(":", 1)[1] for x in reasons if x.startswith("bad_value:")}
        reasons = [x for x in reasons if not (x.startswith("missing_value:") and x[14:] in wrong_type)]
        bad_reasons.append(list(dict.fromkeys(reasons)))  # keep order, drop repeats
    good = pa.table({c.name: batch[c.name] for c in src.columns}).filter(pa.array(~bad))
    return Checked(good=good, bad_rows=bad_rows, bad_reasons=bad_reasons)


def _check_column(col: Column, values: pa.Array, ctx: Context, r: _Reasons,
                  timestamps: dict[str, _Timestamps]) -> pa.Array:
    """Add this column's own reasons; return a mask (no nulls) of values that parsed."""
    rule = "bad_value"
    if col.kind == "text":
        limit = min(col.max_len or ctx.max_field_chars, ctx.max_field_chars)
        ok = pc.less_equal(pc.utf8_length(values), limit)
    elif col.kind == "code":
        ok = pc.is_in(values, value_set=pa.array(sorted(col.codes)))
        rule = "unknown_code"
    elif col.kind == "decimal":
        ok = pc.match_substring_regex(values, DECIMAL_PATTERN)
    elif col.kind == "timestamp":
        ts = _Timestamps(values)
        timestamps[col.name] = ts
        ok = ts.ok
    elif col.kind == "date":
        shaped = pc.match_substring_regex(values, DATE_PATTERN)
        ok = pc.and_(shaped, _valid_date(pc.if_else(shaped, values, None)))
    elif col.kind == "int":
        ok = pc.match_substring_regex(values, INT_PATTERN)
    elif col.kind == "bool":
        ok = pc.is_in(values, value_set=pa.array(["true", "false"]))
    else:
        raise ValueError(f"unknown column kind {col.kind!r}")
    ok = pc.fill_null(ok, False)
    r.add(pc.and_(pc.is_valid(values), pc.invert(ok)), f"{rule}:{col.name}")

    if col.kind == "decimal" and col.name == "amount":
        number = pc.cast(pc.if_else(ok, values, None), pa.float64())
        r.add(pc.less_equal(number, 0), "not_positive:amount")
    if col.kind == "int":
        number = pc.cast(pc.if_else(ok, values, None), pa.int64())
        if col.min_value is not None:
            r.add(pc.less(number, col.min_value), f"out_of_range:{col.name}")
        if col.max_value is not None:
            r.add(pc.greater(number, col.max_value), f"out_of_range:{col.name}")
    return ok


def _check_rows(src: SourceFile, batch, ctx: Context, r: _Reasons, present, parsed_ok, timestamps) -> None:
    """Rules across the columns of one record."""
    day = ctx.business_date.isoformat()
    if src.entity == "transactions":
        r.add(pc.and_(pc.equal(batch["channel"], "BRANCH"), pc.is_null(batch["branch_id"])),
              "missing_value:branch_id")
        r.add(pc.and_(pc.equal(batch["txn_type"], "REVERSAL"), pc.is_null(batch["reverses_txn_id"])),
              "missing_value:reverses_txn_id")
        ts = timestamps["txn_ts"]
        r.add(parsed_ok["txn_ts"] & _np_mask(pc.not_equal(ts.local_date_string(ctx.timezone), day), r.n),
              "wrong_business_date:txn_ts")
    elif src.entity == "calls":
        outcome = batch["outcome"]
        answered = pc.equal(outcome, "ANSWERED")
        r.add(pc.and_(answered, pc.is_null(batch["answer_ts"])), "missing_value:answer_ts")
        r.add(pc.and_(answered, pc.is_null(batch["agent_id"])), "missing_value:agent_id")
        r.add(pc.or_(pc.and_(pc.equal(outcome, "ABANDONED"), pc.is_null(batch["queue_entry_ts"])),
                     pc.and_(pc.is_valid(batch["queue_exit_ts"]), pc.is_null(batch["queue_entry_ts"]))),
              "missing_value:queue_entry_ts")
        utc = {name: (ts.utc, parsed_ok[name]) for name, ts in timestamps.items()}

        def earlier(a: str, b: str) -> np.ndarray:
            """a < b where both parsed."""
            both = utc[a][1] & utc[b][1]
            return both & _np_mask(pc.less(utc[a][0], utc[b][0]), r.n)

        r.add(earlier("ivr_exit_ts", "ivr_entry_ts"), "out_of_order:ivr_exit_ts")
        r.add(earlier("queue_exit_ts", "queue_entry_ts"), "out_of_order:queue_exit_ts")
        r.add(earlier("answer_ts", "ivr_entry_ts") | earlier("answer_ts", "queue_entry_ts"),
              "out_of_order:answer_ts")
        end_early = np.zeros(r.n, dtype=bool)
        for other in ("ivr_entry_ts", "ivr_exit_ts", "queue_entry_ts", "queue_exit_ts", "answer_ts"):
            end_early |= earlier("end_ts", other)
        r.add(end_early, "out_of_order:end_ts")
        r.add(parsed_ok["ivr_entry_ts"]
              & _np_mask(pc.not_equal(timestamps["ivr_entry_ts"].local_date_string(ctx.timezone), day), r.n),
              "wrong_business_date:ivr_entry_ts")
        # hold time lies inside the talk window of an answered call
        hold = pc.cast(pc.if_else(pa.array(parsed_ok["hold_seconds"]), batch["hold_seconds"], None), pa.int64())
        talk_window = pc.divide(pc.subtract(utc["end_ts"][0], utc["answer_ts"][0]), 1_000_000)
        # a window that is itself out of order is reported as such, not as a hold problem
        talk_known = parsed_ok["end_ts"] & parsed_ok["answer_ts"] & _np_mask(pc.greater_equal(talk_window, 0), r.n)
        too_long = talk_known & _np_mask(pc.greater(hold, talk_window), r.n)
        # an ANSWERED call without answer_ts is reported as that; its hold is not judged
        never_answered = (~present["answer_ts"] & ~_np_mask(answered, r.n)
                          & _np_mask(pc.greater(hold, 0), r.n))
        r.add(too_long | never_answered, "out_of_range:hold_seconds")
    elif src.entity == "customers":
        born = pc.if_else(pa.array(parsed_ok["birth_date"]), batch["birth_date"], None)
        # older than 120: born on or before the business date's day 121 years earlier
        d = ctx.business_date
        limit = (d.replace(year=d.year - 121) if not (d.month == 2 and d.day == 29)
                 else d.replace(year=d.year - 121, day=28)).isoformat()
        r.add(pc.or_(pc.greater(born, day), pc.less_equal(born, limit)), "out_of_range:birth_date")
    elif src.entity == "accounts":
        both = pa.array(parsed_ok["open_date"] & parsed_ok["close_date"])
        r.add(pc.and_(both, pc.less(batch["close_date"], batch["open_date"])), "out_of_order:close_date")
