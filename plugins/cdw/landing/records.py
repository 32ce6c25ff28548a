"""Record-level rules of the landing contract, checked a batch at a time.

A batch is a dict of column name -> pyarrow string array (null = empty field).
Checks are vectorised with pyarrow compute so that a million ledger entries
cost about as much as their COPY; Python touches only the few bad rows.
A check that needs a parsed value is skipped where the value is missing or
unparseable, so each record gets the reasons that really apply to it.
Duplicate ids are found afterwards, set-based in PostgreSQL (``cdw.load``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
    # timestamp column -> UTC microseconds since 1970 of the good rows (null where empty)
    instants: dict[str, pa.Array] = field(default_factory=dict)


@dataclass
class Context:
    """What the rules need beyond the record itself."""

    business_date: date
    timezone: str
    max_field_chars: int
    # referenced entity -> ids in the snapshot in force
    reference_ids: dict[str, pa.Array] = field(default_factory=dict)
    # False when the file holds no NUL character at all (known from reading it): no value to search
    may_hold_nul: bool = True
    _id_sets: dict[str, IdSet] = field(default_factory=dict, repr=False)

    def id_set(self, entity: str) -> IdSet | None:
        """The ids of ``entity`` in force, ready for lookups (built once, used by every batch)."""
        ids = self.reference_ids.get(entity)
        if ids is None:
            return None
        cached = self._id_sets.get(entity)
        if cached is None or cached.source is not ids:
            cached = self._id_sets[entity] = IdSet(ids)
        return cached


class IdSet:
    """A snapshot's ids, looked up by every batch of the files that refer to it.

    ``pc.is_in`` builds a hash table of its value set on every call: with 330,000 accounts,
    that was 80 ms per batch of 100,000 ledger entries, more than all their other checks.
    Here the ids are hashed once (numpy, sorted); a batch's values are hashed the same way
    and binary-searched, and a value is known only when the id found is the same string.
    Should two different strings share a hash, those few values are looked up with
    ``pc.is_in`` instead: the answer is always exactly ``pc.is_in``'s.
    """

    def __init__(self, ids: pa.Array):
        self.source = ids  # as given (Context.id_set knows it by it)
        self.ids = ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        hashes = _hash_strings(ids)
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._ids_by_hash = ids.take(pa.array(order))

    def contains(self, values: pa.Array) -> np.ndarray:
        """True where a value is one of the ids (False where it is null)."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        n = len(values)
        if n == 0 or len(self.ids) == 0:
            return np.zeros(n, dtype=bool)
        hashes = _hash_strings(values)
        # searched in order: neighbouring lookups then read neighbouring memory (twice as fast)
        order = np.argsort(hashes)
        at = np.empty(n, dtype=np.int64)
        at[order] = np.searchsorted(self._hashes, hashes[order])
        at = at.clip(0, len(self._hashes) - 1)
        same_hash = self._hashes[at] == hashes
        candidates = self._ids_by_hash.take(pa.array(at))
        found = same_hash & _np_mask(pc.equal(values, candidates), n)
        collided = np.flatnonzero(same_hash & ~found & _np_mask(pc.is_valid(values), n))
        if len(collided):  # the hash of another id: ask the exact (slower) way
            found[collided] = _np_mask(pc.is_in(values.take(pa.array(collided)), value_set=self.ids), len(collided))
        return found


def _hash_strings(strings: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string's bytes (sum of byte x 31^position, and the length; a null's
    means nothing), a slice at a time: its temporaries take 8 bytes per byte of text."""
    return np.concatenate([np.zeros(0, dtype=np.uint64)] + [
        _hash_slice(strings.slice(start, _HASH_SLICE)) for start in range(0, len(strings), _HASH_SLICE)])


_HASH_SLICE = 1 << 16


def _hash_slice(strings: pa.Array) -> np.ndarray:
    offsets, data = _string_buffers(strings)
    lengths = np.diff(offsets)
    powers = np.cumprod(np.full(int(lengths.max(initial=0)) + 1, 31, dtype=np.uint64))  # (wraps around 2^64)
    same_length = _as_matrix(offsets, data)
    if same_length is not None:  # ids of one width: a row of bytes each, no positions to work out
        hashes = same_length.astype(np.uint64) @ powers[:same_length.shape[1]]
    else:
        span = data[offsets[0]:offsets[-1]].astype(np.uint64)
        position = np.arange(len(span)) - np.repeat(offsets[:-1] - offsets[0], lengths)  # within its string
        running = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(span * powers[position])])
        hashes = running[offsets[1:] - offsets[0]] - running[offsets[:-1] - offsets[0]]
    return hashes + lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)


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
    if mask.null_count:
        mask = pc.fill_null(mask, False)
    # unpacked from the bitmap directly: Array.to_numpy would import pandas (half a second, 40 MB)
    bits = np.frombuffer(mask.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little", count=mask.offset + n)[mask.offset:].view(bool)


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _calendar_ok(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """True where y-m-d is a real date (no 2026-02-30, no month 13)."""
    month_ok = (m >= 1) & (m <= 12) & (y >= 1)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    days = _MONTH_DAYS[np.clip(m, 0, 12)] + ((m == 2) & leap)
    return month_ok & (d >= 1) & (d <= days)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm, vectorised)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _valid_date(strings: pa.Array) -> pa.Array:
    """True where a string has the YYYY-MM-DD shape and is a real calendar date."""
    shaped = _np_mask(pc.match_substring_regex(strings, DATE_PATTERN), len(strings))
    safe = pc.if_else(pa.array(shaped), strings, "1970-01-01")
    digits = _FixedWidth(safe, head=10, tail=0)
    ok = shaped & _calendar_ok(digits.number(0, 4), digits.number(5, 7), digits.number(8, 10))
    return pa.array(ok)


class _FixedWidth:
    """The first and last characters of every string of an array without nulls, read from its buffers.

    Only for ASCII positions whose shape the caller has checked (a regex): a byte
    there is a character. Strings shorter than ``head`` or ``tail`` read as zeros.
    """

    def __init__(self, strings: pa.Array, head: int, tail: int):
        offsets, data = _string_buffers(strings)
        starts, ends = offsets[:-1], offsets[1:]
        self.lengths = ends - starts
        rows = _as_matrix(offsets, data)
        if rows is not None and rows.shape[1] >= max(head, tail):
            self.head, self.tail = rows[:, :head], rows[:, rows.shape[1] - tail:]
            return
        data = np.concatenate([data, np.zeros(max(head, tail), np.uint8)])  # reads past a short string stay inside
        self.head = data[starts[:, None] + np.arange(head)]  # bytes: a row of characters per string
        self.tail = data[(ends - tail).clip(0)[:, None] + np.arange(tail)]

    def number(self, start: int, stop: int) -> np.ndarray:
        """The number the digits at positions start..stop-1 of the head spell."""
        return _digits(self.head[:, start:stop])

    def tail_number(self, start: int, stop: int) -> np.ndarray:
        return _digits(self.tail[:, start:stop])


def _string_buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets as int64, UTF-8 bytes) of a string array, without copying the bytes."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.chunk(0) if strings.num_chunks == 1 else strings.combine_chunks()
    width = 8 if pa.types.is_large_string(strings.type) else 4
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64 if width == 8 else np.int32, count=len(strings) + 1,
                            offset=strings.offset * width).astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def _as_matrix(offsets: np.ndarray, data: np.ndarray) -> np.ndarray | None:
    """The strings as a matrix of bytes (a view) when they all have the same length, else None."""
    lengths = np.diff(offsets)
    if len(lengths) == 0 or not (lengths == lengths[0]).all():
        return None
    return data[offsets[0]:offsets[-1]].reshape(len(lengths), int(lengths[0]))


def same_length_matrix(strings: pa.Array) -> np.ndarray | None:
    """The bytes of strings that all have the same length, as a matrix (a view); else None."""
    return _as_matrix(*_string_buffers(strings))


# YYYY-MM-DDThh:mm:ss+hh:mm, the form the source systems write: its shape can be checked by position
_PLAIN_TS_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24]
_PLAIN_TS_MARKS = {4: b"-", 7: b"-", 10: b"T", 13: b":", 16: b":", 22: b":"}


def _all_plain_timestamps(values: pa.Array) -> bool:
    """True when every value has the plain form (no fraction, a numeric offset): no regex needed.

    Other forms (a fraction, Z, nulls) are left to the regex; this only spares its cost
    where the answer is certain.
    """
    if values.null_count:
        return False
    rows = same_length_matrix(values)
    if rows is None or rows.shape[1] != 25:
        return False
    digits = rows[:, _PLAIN_TS_DIGITS]
    if not ((digits >= ord("0")) & (digits <= ord("9"))).all():
        return False
    marks = all((rows[:, at] == ord(mark)).all() for at, mark in _PLAIN_TS_MARKS.items())
    return marks and bool(((rows[:, 19] == ord("+")) | (rows[:, 19] == ord("-"))).all())


def _digits(characters: np.ndarray) -> np.ndarray:
    return (characters.astype(np.int64) - ord("0")) @ (10 ** np.arange(characters.shape[1] - 1, -1, -1))


class _Timestamps:
    """ISO 8601 timestamps with an offset, as UTC microseconds since the epoch.

    The shape is fixed up to the seconds and in the offset, so the digits are read
    straight from the string buffer by position and the arithmetic is done in numpy:
    pyarrow's strptime, or a slice and a cast per field, would cost seconds per
    million values.
    """

    def __init__(self, values: pa.Array):
        n = len(values)
        if _all_plain_timestamps(values):
            shaped = np.ones(n, dtype=bool)
        else:
            shaped = _np_mask(pc.match_substring_regex(values, TS_PATTERN), n)
        v = values if shaped.all() else pc.if_else(pa.array(shaped), values, "1970-01-01T00:00:00Z")
        # YYYY-MM-DDThh:mm:ss[.f] at the start, +hh:mm (or Z) at the end
        digits = _FixedWidth(v, head=20, tail=6)
        y, mo, d = digits.number(0, 4), digits.number(5, 7), digits.number(8, 10)
        h, mi, sec = digits.number(11, 13), digits.number(14, 16), digits.number(17, 19)
        zulu = digits.tail[:, 5] == ord("Z")
        sign = np.where(digits.tail[:, 0] == ord("-"), -1, 1)
        oh = np.where(zulu, 0, digits.tail_number(1, 3))
        om = np.where(zulu, 0, digits.tail_number(4, 6))
        self.ok = pa.array(shaped & _calendar_ok(y, mo, d) & (h <= 23) & (mi <= 59) & (sec <= 59)
                           & (oh <= 14) & (om <= 59))
        micros = np.zeros(n, dtype=np.int64)
        has_fraction = (digits.lengths > 20) & (digits.head[:, 19] == ord("."))
        if has_fraction.any():
            idx = np.flatnonzero(has_fraction)
            frac = pc.struct_field(pc.extract_regex(v.take(pa.array(idx)), r"\.(?P<f>\d{1,6})"), "f")
            micros[idx] = pc.cast(pc.utf8_rpad(frac, 6, "0"), pa.int64()).to_numpy(zero_copy_only=False)
        seconds = (_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
                   - sign * (oh * 3600 + om * 60))
        utc = seconds * 1_000_000 + micros
        self.utc = pa.array(utc, mask=~_np_mask(self.ok, n))

    def on_local_date(self, day: date, timezone: str) -> np.ndarray:
        """True where the instant falls on ``day`` in ``timezone`` (local midnight to midnight)."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(day, time.min, tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
        lo, hi = int(start.timestamp()) * 1_000_000, int(end.timestamp()) * 1_000_000
        utc = pc.fill_null(self.utc, 0).to_numpy(zero_copy_only=False)
        return (utc >= lo) & (utc < hi)


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
        if ctx.may_hold_nul:
            r.add(pc.match_substring(values, "\x00"), "malformed_record:line")
        ok = _check_column(col, values, ctx, r, timestamps)
        parsed_ok[col.name] = present[col.name] & _np_mask(ok, n)

    _check_rows(src, batch, ctx, r, present, parsed_ok, timestamps)

    for column, entity in src.references:
        ids = ctx.id_set(entity)
        if ids is None:
            continue
        known = ids.contains(batch[column])
        r.add(present[column] & ~known, f"unknown_reference:{column}")

    bad = r.any_bad()
    if pre_reasons is not None:
        bad |= np.fromiter((bool(p) for p in pre_reasons), dtype=bool, count=n)

    bad_rows = np.flatnonzero(bad).tolist()
    bad_reasons = []
    for i in bad_rows:
        reasons = list(pre_reasons[i]) if pre_reasons is not None else []
        reasons += [reason for mask, reason in zip(r.masks, r.reasons, strict=True) if mask[i]]
        # a JSON value of the wrong type arrives as null: it is a bad value, not a missing one
        wrong_type = {x.split(":", 1)[1] for x in reasons if x.startswith("bad_value:")}
        reasons = [x for x in reasons if not (x.startswith("missing_value:") and x[14:] in wrong_type)]
        bad_reasons.append(list(dict.fromkeys(reasons)))  # keep order, drop repeats
    good = pa.table({c.name: batch[c.name] for c in src.columns})
    instants = {name: ts.utc for name, ts in timestamps.items()}
    if bad_rows:  # (a filter copies every column, even when it keeps them all)
        keep = pa.array(~bad)
        good = good.filter(keep)
        instants = {name: utc.filter(keep) for name, utc in instants.items()}
    return Checked(good=good, bad_rows=bad_rows, bad_reasons=bad_reasons, instants=instants)


def _check_column(col: Column, values: pa.Array, ctx: Context, r: _Reasons,
                  timestamps: dict[str, _Timestamps]) -> pa.Array:
    """Add this column's own reasons; return a mask (no nulls) of values that parsed."""
    rule = "bad_value"
    if col.kind == "text":
        limit = min(col.max_len or ctx.max_field_chars, ctx.max_field_chars)
        # a value has no more characters than bytes: only the few longer in bytes are counted
        ok = pc.less_equal(pc.binary_length(values), limit)
        if not pc.all(ok).as_py():
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
        ok = _valid_date(values)
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
        r.add(parsed_ok["txn_ts"] & ~ts.on_local_date(ctx.business_date, ctx.timezone),
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
              & ~timestamps["ivr_entry_ts"].on_local_date(ctx.business_date, ctx.timezone),
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
