"""Checked records as PostgreSQL's binary COPY format, built a batch at a time.

In the binary format the server stores numbers, dates and timestamps as they arrive
instead of parsing their text: for the ledger that is a third of the COPY's time
(1.5 s -> 1.0 s for a million entries on PostgreSQL 15). The values were parsed by
the record checks already, so the client pays little for it.

A row is a 16-bit field count, then per field a 32-bit length (-1 for NULL) and the
value's bytes, all big-endian. Fixed-width fields are laid out in numpy; the row is
joined per record by pyarrow (``binary_join_element_wise``), never in a Python loop.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdw.landing.contract import Column
from cdw.landing.records import same_length_matrix

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # flags 0, no header extension
TRAILER = b"\xff\xff"

_PG_EPOCH_DAYS = 10_957  # PostgreSQL counts dates and times from 2000-01-01, not 1970-01-01
_PG_EPOCH_MICROS = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.binary())
_NUMERIC_POSITIVE, _NUMERIC_NEGATIVE = 0x0000, 0x4000


class Rows:
    """The fields of a batch's rows, added column by column in the COPY's column order."""

    def __init__(self, n: int, columns: int):
        self.n = n
        self._parts: list[pa.Array] = []  # joined per row, in order
        # fixed-width pieces not yet turned into a part: bytes the same in every row, or (n, width) blocks
        self._fixed: list[bytes | np.ndarray] = [columns.to_bytes(2, "big")]

    def bigint(self, values: np.ndarray) -> None:
        self._value(_be(values.astype(np.int64), 8), None)

    def date(self, days_since_1970: np.ndarray, valid: np.ndarray | None = None) -> None:
        self._value(_be((days_since_1970 - _PG_EPOCH_DAYS).astype(np.int32), 4), valid)

    def column(self, col: Column, values: pa.Array, instants: pa.Array | None = None) -> None:
        """One column of the contract, as checked (strings); ``instants``: a timestamp's UTC microseconds."""
        if isinstance(values, pa.ChunkedArray):  # (combine_chunks copies even a single chunk)
            values = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
        valid = _valid(values)
        if col.kind in ("text", "code"):
            self._text(values)
        elif col.kind == "timestamp":
            micros = pc.fill_null(instants, 0).to_numpy(zero_copy_only=False)
            self._value(_be(micros - _PG_EPOCH_MICROS, 8), valid)
        elif col.kind == "decimal":
            self._value(_numeric(_cents(values)), valid)
        elif col.kind == "date":
            days = pc.fill_null(pc.cast(values, pa.date32()), 0).cast(pa.int32())
            self.date(days.to_numpy(zero_copy_only=False), valid)
        elif col.kind == "int":
            number = pc.fill_null(pc.cast(values, pa.int32()), 0)
            self._value(_be(number.to_numpy(zero_copy_only=False), 4), valid)
        elif col.kind == "bool":
            flag = pc.fill_null(pc.equal(values, "true"), False).cast(pa.uint8())
            self._value(flag.to_numpy(zero_copy_only=False).reshape(self.n, 1), valid)
        else:
            raise ValueError(f"no binary COPY form for column kind {col.kind!r}")

    def encode(self) -> memoryview:
        """The rows' bytes (without the stream's signature and trailer)."""
        self._close_fixed()
        # a NULL text's part is skipped: its length says -1 and it has no bytes
        joined = pc.binary_join_element_wise(*self._parts, b"", null_handling="skip")
        offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=self.n + 1, offset=joined.offset * 4)
        return memoryview(joined.buffers()[2])[offsets[0]:offsets[-1]]

    # ---- internals --------------------------------------------------------------------

    def _value(self, block: np.ndarray, valid: np.ndarray | None) -> None:
        """A fixed-width value: its length, then its bytes; NULL (length -1) where not ``valid``."""
        length = block.shape[1].to_bytes(4, "big")
        if valid is None or valid.all():
            self._fixed += [length, block]
        else:
            self._part(pc.if_else(pa.array(valid), _binary(self._laid_out([length, block])), _NULL))

    def _text(self, values: pa.Array) -> None:
        same_length = None if values.null_count else same_length_matrix(values)
        if same_length is not None:  # ids, account numbers, currencies: as fixed-width as a number
            self._fixed += [same_length.shape[1].to_bytes(4, "big"), same_length]
            return
        raw = values.cast(pa.binary())
        lengths = pc.fill_null(pc.binary_length(raw), -1).to_numpy(zero_copy_only=False)
        self._fixed.append(_be(lengths.astype(np.int32), 4))
        self._part(raw)

    def _part(self, array: pa.Array) -> None:
        self._close_fixed()
        self._parts.append(array)

    def _close_fixed(self) -> None:
        if self._fixed:
            self._parts.append(_binary(self._laid_out(self._fixed)))
            self._fixed = []

    def _laid_out(self, pieces: list[bytes | np.ndarray]) -> np.ndarray:
        """The pieces side by side, one row of bytes per record (one copy of each block)."""
        widths = [len(p) if isinstance(p, bytes) else p.shape[1] for p in pieces]
        out = np.empty((self.n, sum(widths)), dtype=np.uint8)
        at = 0
        for piece, width in zip(pieces, widths, strict=True):
            out[:, at:at + width] = np.frombuffer(piece, dtype=np.uint8) if isinstance(piece, bytes) else piece
            at += width
        return out


def _be(values: np.ndarray, width: int) -> np.ndarray:
    """Big-endian bytes of integers, a row of ``width`` bytes per value."""
    return np.ascontiguousarray(values.astype(f">i{width}")).view(np.uint8).reshape(len(values), width)


def _binary(block: np.ndarray) -> pa.Array:
    n, width = block.shape
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(block)])
    return fixed.cast(pa.binary())


def _valid(values: pa.Array) -> np.ndarray | None:
    if not values.null_count:
        return None
    bits = np.frombuffer(values.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little", count=values.offset + len(values))[values.offset:].view(bool)


def _cents(values: pa.Array) -> np.ndarray:
    """Decimal text (checked: at most 16 digits and 2 decimals) as whole cents."""
    exact = pc.cast(pc.fill_null(values, "0"), pa.decimal128(18, 2))
    # a decimal128 is two little-endian 64-bit words; below 10^18 the low word is the value
    words = np.frombuffer(exact.buffers()[1], dtype=np.int64, count=2 * (exact.offset + len(exact)))
    return words[2 * exact.offset::2].copy()


def _numeric(cents: np.ndarray) -> np.ndarray:
    """numeric(18,2) in the server's binary form: base-10000 digits, always five of them.

    Weight 3 (the first digit counts 10^12) with one digit after the point covers every
    value of 16 integer digits; the server strips the leading and trailing zero digits.
    """
    n = len(cents)
    whole, fraction = np.divmod(np.abs(cents), 100)
    words = np.empty((n, 9), dtype=np.int64)
    words[:, 0] = 5  # digits
    words[:, 1] = 3  # weight of the first digit
    words[:, 2] = np.where(cents < 0, _NUMERIC_NEGATIVE, _NUMERIC_POSITIVE)
    words[:, 3] = 2  # display scale
    words[:, 4] = whole // 10**12 % 10_000
    words[:, 5] = whole // 10**8 % 10_000
    words[:, 6] = whole // 10**4 % 10_000
    words[:, 7] = whole % 10_000
    words[:, 8] = fraction * 100
    return np.ascontiguousarray(words.astype(">i2")).view(np.uint8).reshape(n, 18)
