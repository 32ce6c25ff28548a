"""Read a checked file's records, apply the record rules, and split good from set-aside.

Good records are streamed, in the raw table's column order, into the loader's COPY
(PostgreSQL's binary format, ``cdw.landing.pgcopy``); set-aside records keep their line
number, original text and reasons. Memory stays bounded by the batch size.

Records are numbered by *ordinal*: the position of a well-formed record among
the file's well-formed records (the raw tables keep it as ``source_row``).
The line number and original text of the few records set aside are found
afterwards by one more pass over the file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cdw.landing import contract, pgcopy
from cdw.landing.files import SPOOL_ERRORS, SURROGATE, FileFault, InspectedFile
from cdw.landing.masking import field_label
from cdw.landing.records import Context, check_batch

BATCH_ROWS = 100_000
# the Python pass must read every record the pyarrow reader accepted (its default is 128 KiB)
csv.field_size_limit(1 << 30)
CSV_BLOCK_BYTES = 12 << 20  # a record up to twice this long can be read
CSV_BLOCKS_AHEAD = 2  # blocks read ahead of the checks (memory: this times the block)
PACE_WAIT_SECONDS = 5


@dataclass
class SetAside:
    line_number: int
    raw_record: str
    reasons: list[str]


class GoodIds:
    """The good records' ids, as the duplicate checks need them.

    While the ids increase, as core systems issue them, none can repeat: only the lowest
    and the highest are kept, so a load's memory does not grow with the file. From the
    first id out of order on, ids are kept with their ordinals; if earlier ones were not
    kept (``complete`` False), the file's repeats are looked for in the raw table instead.
    A snapshot keeps every id (``keep_all``): they are the references of the files after it.
    """

    def __init__(self, keep_all: bool):
        self.keep_all = keep_all
        self.increasing = True
        self.complete = True  # ``ids`` hold every good record's id
        self.count = 0
        self.lowest: str | None = None
        self.highest: str | None = None
        self.ids: list[pa.Array] = []
        self.ordinals: list[pa.Array] = []

    def add(self, ids: pa.Array, ordinals: np.ndarray) -> None:
        if len(ids) == 0:
            return
        if self.increasing and not _increasing(ids, after=self.highest):
            self.increasing = False
            self.complete = self.keep_all or self.count == 0
        low, high = (v.as_py() for v in pc.min_max(ids).values())
        self.lowest = low if self.lowest is None else min(self.lowest, low)
        self.highest = high if self.highest is None else max(self.highest, high)
        self.count += len(ids)
        if self.keep_all or not self.increasing:
            self.ids.append(ids)
            self.ordinals.append(pa.array(ordinals, type=pa.int64()))

    def all_ids(self) -> pa.Array:
        return pa.concat_arrays(self.ids) if self.ids else pa.array([], type=pa.string())


def _increasing(ids: pa.Array, after: str | None) -> bool:
    """Each id sorts (byte order, as Python compares str) after the one before it, the first after ``after``."""
    if after is not None and not ids[0].as_py() > after:
        return False
    return len(ids) < 2 or pc.all(pc.greater(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py()


@dataclass
class ParsedFile:
    """A file after the record rules: counts, the good records' ids, and what was set aside."""

    inspected: InspectedFile
    rows_read: int = 0
    rows_good: int = 0
    set_aside: list[SetAside] = field(default_factory=list)
    # reasons by ordinal, resolved to lines by locate() once the file is read
    _pending: dict[int, list[str]] = field(default_factory=dict)
    _valid_lines: list[int] | None = None  # JSONL: line of each ordinal
    header: list[str] | None = None  # CSV: column names in the file's order
    # the good records' ids, for the duplicate checks and a snapshot's references
    good_ids: GoodIds = field(default_factory=lambda: GoodIds(keep_all=True))

    @property
    def rows_set_aside(self) -> int:
        return len(self.set_aside)

    def set_aside_ordinals(self, reasons_by_ordinal: dict[int, list[str]]) -> None:
        """Set aside records that were loaded-to-be (found later, e.g. duplicates across dates)."""
        self._pending.update(reasons_by_ordinal)
        self._resolve()

    def _resolve(self) -> None:
        if not self._pending:
            return
        located = _locate(self.inspected, set(self._pending), self._valid_lines)
        for ordinal, reasons in sorted(self._pending.items()):
            line, text = located[ordinal]
            self.set_aside.append(SetAside(line, text, reasons))
        self._pending.clear()
        self.set_aside.sort(key=lambda s: s.line_number)


def read_file(inspected: InspectedFile, ctx: Context, sink: Callable[[memoryview], None], load_id: int) -> ParsedFile:
    """Apply the record rules to every record; hand the good ones to ``sink`` as a binary COPY stream.

    The stream holds the raw table's columns: load_id, business_date, source_row, then the
    contract's columns. The good records' ids are kept as the duplicate checks need them
    (:class:`GoodIds`).
    """
    src = inspected.entry.source
    parsed = ParsedFile(inspected, good_ids=GoodIds(keep_all=src.is_snapshot))
    batches = (_csv_batches(inspected, parsed, ctx.business_date) if src.fmt == "csv"
               else _jsonl_batches(inspected, parsed))
    names = list(src.column_names)
    business_day = (ctx.business_date - date(1970, 1, 1)).days

    sink(memoryview(pgcopy.SIGNATURE))
    ordinal = 0
    for batch, pre_reasons in batches:
        n = len(batch[names[0]])
        checked = check_batch(src, batch, ctx, pre_reasons)
        bad = np.zeros(n, dtype=bool)
        bad[checked.bad_rows] = True
        for row, reasons in zip(checked.bad_rows, checked.bad_reasons, strict=True):
            parsed._pending[ordinal + row + 1] = reasons  # ordinals are 1-based
        ordinals = np.flatnonzero(~bad) + ordinal + 1
        kept = len(ordinals)
        if kept:
            rows = pgcopy.Rows(kept, 3 + len(src.columns))
            rows.bigint(np.full(kept, load_id))
            rows.date(np.full(kept, business_day))
            rows.bigint(ordinals)
            for col in src.columns:
                rows.column(col, checked.good.column(col.name), checked.instants.get(col.name))
            sink(rows.encode())
        ids = checked.good.column(src.id_column)
        parsed.good_ids.add(ids.chunk(0) if ids.num_chunks == 1 else ids.combine_chunks(), ordinals)
        parsed.rows_good += kept
        ordinal += n
    if parsed.rows_read != inspected.entry.rows:
        raise FileFault(ctx.business_date, inspected.entry.name, contract.FAULT_ROW_COUNT,
                        f"{parsed.rows_read} records, the manifest says {inspected.entry.rows}")
    sink(memoryview(pgcopy.TRAILER))
    parsed._resolve()
    return parsed


# ---- CSV ---------------------------------------------------------------------------


class _PacedFile(io.RawIOBase):
    """The spool as pyarrow's CSV reader reads it: at most ``ahead`` blocks before the batches taken.

    The reader reads up to 32 blocks ahead in a background thread (a 1M-row file: all of it,
    in memory). A read waits for the batches to be taken, but never longer than
    ``PACE_WAIT_SECONDS``: should a batch need more blocks than allowed, reading slows, never stops.
    """

    def __init__(self, path: Path, block_bytes: int, ahead: int):
        super().__init__()
        self._file = path.open("rb")
        self._limit_step, self._ahead = block_bytes, ahead
        self._bytes_read = 0
        self._taken = 0
        self._paced = threading.Condition()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        with self._paced:
            self._paced.wait_for(lambda: self.closed or self._bytes_read < (self._taken + self._ahead) * self._limit_step,
                                 timeout=PACE_WAIT_SECONDS)
        if self.closed:
            return 0
        count = self._file.readinto(buffer)
        self._bytes_read += count
        return count

    def batch_taken(self) -> None:
        with self._paced:
            self._taken += 1
            self._paced.notify_all()

    def close(self) -> None:
        with self._paced:
            if not self.closed:
                self._file.close()
                super().close()
            self._paced.notify_all()



def _csv_header(inspected: InspectedFile, business_date) -> list[str]:
    with inspected.spool.open(encoding="utf-8", errors=SPOOL_ERRORS, newline="") as fh:
        header = next(csv.reader(fh), [])
    src = inspected.entry.source
    fault = _fault_for(inspected, business_date)
    missing = [c for c in src.column_names if c not in header]
    if missing:
        raise fault(contract.FAULT_MISSING_COLUMNS, f"header lacks {', '.join(missing)}")
    unexpected = [c for c in header if c not in src.column_names]
    if unexpected:
        raise fault(contract.FAULT_UNEXPECTED_COLUMNS,
                    f"header has columns outside the contract: {', '.join(c[:40] for c in unexpected[:5])}")
    if len(set(header)) != len(header):
        raise fault(contract.FAULT_MALFORMED_FILE, "header names a column twice")
    return header


def _fault_for(inspected: InspectedFile, business_date):
    def fault(code: str, detail: str) -> FileFault:
        return FileFault(business_date, inspected.entry.name, code, detail)

    return fault


def _csv_batches(inspected: InspectedFile, parsed: ParsedFile, business_date) -> Iterator[tuple[dict, None]]:
    fault = _fault_for(inspected, business_date)
    header = _csv_header(inspected, business_date)
    parsed.header = header
    invalid: list[int] = []

    def on_invalid(row) -> str:
        invalid.append(row.number if row.number is not None else -1)
        return "skip"

    options = {
        "read_options": pacsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES, column_names=header,
                                          skip_rows=1),
        "parse_options": pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True,
                                            invalid_row_handler=on_invalid),
        "convert_options": pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header}, null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            # a lone surrogate in the spool is not UTF-8: the reader would fail the whole file on it,
            # so its values are checked per batch here instead (_without_surrogates)
            check_utf8=not inspected.has_surrogate),
    }
    spool = _PacedFile(inspected.spool, CSV_BLOCK_BYTES, CSV_BLOCKS_AHEAD)
    try:
        # (opening reads the first block: a record longer than the reader takes fails there)
        for record_batch in pacsv.open_csv(spool, **options):
            spool.batch_taken()
            parsed.rows_read += record_batch.num_rows
            batch = {name: record_batch.column(name) for name in header}
            yield batch, (_without_surrogates(batch) if inspected.has_surrogate else None)
    except pa.ArrowInvalid as exc:
        raise fault(contract.FAULT_MALFORMED_FILE, f"CSV cannot be parsed: {str(exc)[:200]}") from None
    finally:
        spool.close()
    # Blank lines (skipped by the reader) and lines with the wrong number of fields are
    # records too, set aside as malformed. Only when the line count says the file is not
    # plainly one record per line is the slower pass that finds them needed.
    records = parsed.rows_read + len(invalid)
    if invalid or inspected.physical_lines not in (records, records + 1):
        malformed = list(_invalid_csv_records(inspected, len(header)))
        non_blank = sum(1 for _line, text in malformed if text.strip("\r\n"))
        if non_blank != len(invalid):
            raise fault(contract.FAULT_MALFORMED_FILE,
                        f"records cannot be told apart reliably (quoting): {non_blank} vs {len(invalid)}")
        for line, text in malformed:
            parsed.set_aside.append(SetAside(line, text, ["malformed_record:line"]))
        parsed.rows_read += len(malformed)


def _without_surrogates(batch: dict[str, pa.Array]) -> list[list[str]] | None:
    """Null the values holding a lone surrogate (not UTF-8, so no text PostgreSQL takes); their
    records get ``bad_value:<column>``. Only for files known to hold one."""
    reasons: list[list[str]] | None = None
    for name, values in batch.items():
        try:
            values.validate(full=True)  # checks the UTF-8 of the whole column at once
            continue
        except pa.ArrowInvalid:
            pass
        raw = values.view(pa.binary()).to_pylist()
        bad = [i for i, v in enumerate(raw) if v is not None and not _is_utf8(v)]
        reasons = reasons or [[] for _ in range(len(values))]
        for i in bad:
            reasons[i].append(f"bad_value:{name}")
        mask = np.zeros(len(values), dtype=bool)
        mask[bad] = True
        batch[name] = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), values)
    return reasons


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _csv_records(spool: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(first line number, original text, fields) of every data record, header skipped."""
    consumed: list[str] = []
    line_no = 0

    def lines():
        nonlocal line_no
        with spool.open(encoding="utf-8", errors=SPOOL_ERRORS, newline="") as fh:
            for line in fh:
                line_no += 1
                consumed.append(line)
                yield line

    start = 1
    for index, fields in enumerate(csv.reader(lines())):
        text = "".join(consumed).rstrip("\r\n")
        consumed.clear()
        if index > 0:
            yield start, text, fields
        start = line_no + 1


def _invalid_csv_records(inspected: InspectedFile, ncols: int) -> Iterator[tuple[int, str]]:
    for line, text, fields in _csv_records(inspected.spool):
        if len(fields) != ncols:
            yield line, text


def _locate(inspected: InspectedFile, ordinals: set[int], valid_lines: list[int] | None) -> dict:
    """Line number and original text of the well-formed records with these ordinals."""
    found: dict[int, tuple[int, str]] = {}
    if valid_lines is not None:  # JSONL: one record per line, as _jsonl_batches reads them
        wanted = {valid_lines[o - 1]: o for o in ordinals}
        with inspected.spool.open(encoding="utf-8", errors=SPOOL_ERRORS, newline="\n") as fh:
            for line_no, line in enumerate(fh, start=1):
                if line_no in wanted:
                    found[wanted[line_no]] = (line_no, line.rstrip("\r\n"))
        return found
    ncols = len(inspected.entry.source.columns)
    ordinal = 0
    for line, text, fields in _csv_records(inspected.spool):
        if len(fields) != ncols:
            continue
        ordinal += 1
        if ordinal in ordinals:
            found[ordinal] = (line, text)
            if len(found) == len(ordinals):
                break
    return found


# ---- JSON lines --------------------------------------------------------------------


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey("duplicate key")
    return obj


def _jsonl_batches(inspected: InspectedFile, parsed: ParsedFile) -> Iterator[tuple[dict, list]]:
    src = inspected.entry.source
    parsed._valid_lines = []
    pre: list[list[str]] = []
    known = frozenset(src.column_names)
    # per column: its name and the JSON type its value must have
    wanted = [(c.name, _JSON_TYPES.get(c.kind, str)) for c in src.columns]
    rows: list[list[str | None]] = []  # the batch's values, a list per record (turned into columns below)
    # records end at \n (or \r\n) only: a bare \r is whitespace to JSON, not a line end
    with inspected.spool.open(encoding="utf-8", errors=SPOOL_ERRORS, newline="\n") as fh:
        for line_no, line in enumerate(fh, start=1):
            parsed.rows_read += 1
            record = _parse_json_record(line)
            if record is None:
                parsed.set_aside.append(SetAside(line_no, line.rstrip("\r\n"), ["malformed_record:line"]))
                continue
            parsed._valid_lines.append(line_no)
            # a key the contract does not know is a breach, as a CSV column outside it is
            reasons = [] if record.keys() <= known else [
                f"unexpected_field:{field_label(k)}" for k in record if k not in known]
            # a value can hold a lone surrogate only from a \ud800-\udfff escape or a decoded file with one
            surrogates = inspected.has_surrogate or ("\\u" in line and _SURROGATE_ESCAPE.search(line) is not None)
            # each value as the text the record rules read (inline: a function call per value
            # was a third of the file's time)
            row = []
            for name, want in wanted:
                value = record.get(name)
                if value is None:
                    row.append(None)
                elif type(value) is not want:  # the wrong JSON type (the decoder makes exact types: a bool is no int)
                    row.append(None)
                    reasons.append(f"bad_value:{name}")
                elif want is str:
                    if surrogates and SURROGATE.search(value):  # no text PostgreSQL can hold
                        row.append(None)
                        reasons.append(f"bad_value:{name}")
                    else:
                        row.append(value or None)  # "" is no value, as an empty CSV field
                else:
                    row.append(str(value) if want is int else "true" if value else "false")
            rows.append(row)
            pre.append(reasons)
            if len(pre) >= BATCH_ROWS:
                yield _json_columns(wanted, rows), pre
                rows, pre = [], []
    if pre:
        yield _json_columns(wanted, rows), pre


# the JSON type of each column kind's value; every other kind is a string
_JSON_TYPES = {"int": int, "bool": bool}
# one decoder for every line (json.loads with a hook builds a new one per call)
_JSON_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)


def _json_columns(wanted, rows: list[list[str | None]]) -> dict[str, pa.Array]:
    columns = zip(*rows, strict=True) if rows else ([] for _ in wanted)
    return {name: pa.array(values, type=pa.string()) for (name, _want), values in zip(wanted, columns, strict=True)}


def _parse_json_record(line: str) -> dict | None:
    text = line.rstrip("\r\n")
    if not text.strip() or "\x00" in text:
        return None
    try:
        obj = _JSON_DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None
