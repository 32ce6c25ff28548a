"""Raw load of one business date's drop (``cdw load``; the DAG's ``load_raw`` task).

Order of work, so that nothing is ever half-visible:

1. take the date's lock (two loads of one date never interleave) and record RUNNING;
   remove the work folders that loads no longer running left behind;
2. check the whole drop without touching the warehouse: manifest, then every
   file's checksum, compression, encoding, header, records and row count, and
   the set-aside share against the threshold;
3. in ONE transaction: remove the date's earlier raw rows (a re-delivery),
   COPY the good records, set aside ids already loaded for another date (under a
   lock per entity held to commit: loads of two dates may run together),
   write the audit rows, mark earlier loads of the date SUPERSEDED, record LOADED.

A failure at any point leaves the previous state of the date as it was, and
the audit trail says FAILED with the reason. A process killed mid-way leaves
its transaction rolled back; the next load of the date records it as FAILED.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from cdw import warehouse
from cdw.landing import contract
from cdw.landing.files import FileFault, Manifest, inspect_file, printable, read_manifest
from cdw.landing.masking import mask_record
from cdw.landing.readers import ParsedFile, read_file
from cdw.landing.records import Context
from cdw.settings import get_settings
from cdw.version import code_version

log = logging.getLogger(__name__)
# psycopg's queue holds up to 1024 chunks (128 MB) when PostgreSQL stores more slowly than
# the checks produce: 16 MB, about one batch ahead, is enough to keep both busy
COPY_QUEUE_CHUNKS = 128
STATISTICS_CONNECTIONS = 2


class _CopyWriter(QueuedLibpqWriter):
    """psycopg's queued COPY writer (checks and COPY overlap) with a shorter queue."""

    def __init__(self, cursor):
        super().__init__(cursor)
        self._queue = queue.Queue(maxsize=COPY_QUEUE_CHUNKS)


class LoadFailed(Exception):
    """The date's load failed for a reason in the data (a contract violation): do not retry."""

    def __init__(self, message: str, *, code: str | None = None, file_name: str | None = None):
        super().__init__(message)
        self.code, self.file_name = code, file_name


@dataclass
class FileOutcome:
    file_name: str
    sha256: str
    manifest_rows: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int


@dataclass
class LoadResult:
    business_date: date
    load_id: int
    files: list[FileOutcome] = field(default_factory=list)

    def file_lines(self) -> list[str]:
        return [
            f"{self.business_date} {f.file_name}: {f.rows_read} read = {f.rows_loaded} loaded"
            f" + {f.rows_quarantined} set aside"
            for f in self.files
        ]

    def summary(self) -> str:
        read = sum(f.rows_read for f in self.files)
        loaded = sum(f.rows_loaded for f in self.files)
        aside = sum(f.rows_quarantined for f in self.files)
        return (f"{self.business_date} {len(self.files)} files: {read} read = {loaded} loaded"
                f" + {aside} set aside (load {self.load_id})")


def _lock_key(business_date: date) -> str:
    return f"cdw.load.{business_date.isoformat()}"


def _ids_lock_key(src: contract.SourceFile) -> str:
    return f"cdw.ids.{src.entity}"


def load_date(landing: Path, business_date: date, *, url: str | None = None,
              progress: Callable[[str], None] | None = None) -> LoadResult:
    """Check and load the drop ``landing/<business_date>``; raise :class:`LoadFailed` on a data fault."""
    settings = get_settings()
    say = progress or (lambda message: log.info(message))
    _return_freed_batches_to_the_system()
    drop = Path(landing) / business_date.isoformat()
    version = code_version()
    # schema changes need the warehouse's owner; everything after runs as the pipeline's role
    with warehouse.connect(url, autocommit=True) as admin:
        warehouse.ensure_schema(admin)
    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        # a session lock, held until this connection closes (or the process dies)
        conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (_lock_key(business_date),))
        _close_abandoned_loads(conn, business_date, version)
        load_id = conn.execute("select nextval('audit.load_id_seq')").fetchone()[0]
        started_at = conn.execute(
            "insert into audit.load_runs (load_id, business_date, started_at, status, code_version, landing_path)"
            " values (%s, %s, clock_timestamp(), 'RUNNING', %s, %s) returning started_at",
            (load_id, business_date, version, str(drop)),
        ).fetchone()[0]
        say(f"{business_date} load {load_id}: checking {drop}")
        parsed: list[ParsedFile] = []
        try:
            with _work_folder(settings.work_dir, load_id) as work:
                manifest = read_manifest(drop, business_date, settings.timezone, warehouse.recorded_timezone(conn))
                # One transaction: nothing of the date changes for anyone else until every check passed.
                with conn.transaction():
                    _delete_date(conn, business_date)
                    _load_files(conn, drop, manifest, load_id, work, parsed, say)
                    _record_timezone(conn, manifest, load_id)
                    _write_audit(conn, business_date, load_id, parsed)
                    conn.execute(
                        "insert into audit.load_runs (load_id, business_date, started_at, finished_at, status,"
                        " code_version, landing_path)"
                        " select load_id, business_date, started_at, clock_timestamp(), 'SUPERSEDED', code_version,"
                        " landing_path from audit.load_runs_latest"
                        " where business_date = %s and load_id <> %s and status in ('LOADED', 'PUBLISHED')",
                        (business_date, load_id),
                    )
                    _record_status(conn, load_id, business_date, started_at, "LOADED", None, version, drop)
        except FileFault as fault:
            reason = str(fault)
            with conn.transaction():
                _write_audit(conn, business_date, load_id, parsed, committed=False)
                _record_status(conn, load_id, business_date, started_at, "FAILED", reason, version, drop)
            raise LoadFailed(reason, code=fault.code, file_name=fault.file_name) from None
        except BaseException as exc:
            # not a data fault (lost connection, disk full, a bug, SIGTERM): record it if we still can
            reason = failure_message(business_date, exc)
            try:
                _record_status(conn, load_id, business_date, started_at, "FAILED", reason, version, drop)
            except Exception:  # the connection may be the thing that broke
                log.warning("could not record the failure of load %s", load_id)
            raise
        # (still holding the date's lock: the next load of the date waits for these statistics)
        _refresh_raw_statistics(url)
    result = LoadResult(business_date, load_id, [_outcome(p) for p in parsed])
    return result


def failure_message(business_date: date, exc: BaseException) -> str:
    """One line for a load stopped by a fault that is not the data's: the date, the file being
    loaded (when it got that far), and the fault (cli.md)."""
    file_name = getattr(exc, "cdw_file_name", None)
    where = f"{business_date} {file_name}" if file_name else f"{business_date}"
    if isinstance(exc, LoadFailed):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return f"{where}: load interrupted: Ctrl-C"
    return f"{where}: load interrupted: {type(exc).__name__}: {printable(' '.join(str(exc).split()), 300)}"


@contextmanager
def _work_folder(work_dir: Path, load_id: int) -> Iterator[Path]:
    """An owner-only folder for the load's decompressed spools (personal data in clear), removed
    at the end. A load killed before it could remove it leaves it behind, so each load first
    removes the folders of loads no longer running: a running load holds a lock on its folder
    (flock: the kernel drops it when the process dies, whatever the pid is reused for, and it
    does not depend on which warehouse the load was writing to)."""
    work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    guard = os.open(work_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # one load at a time between here and its folder being locked, so none removes another's new folder
        fcntl.flock(guard, fcntl.LOCK_EX)
        _remove_abandoned_work(work_dir)
        folder = Path(tempfile.mkdtemp(prefix=f"load-{load_id}-", dir=work_dir))  # mode 0700
        held = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(guard)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(held)


def _remove_abandoned_work(work_dir: Path) -> None:
    for folder in work_dir.glob("load-*"):
        try:
            held = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a load still running
        else:
            log.warning("removing %s, left behind by a load that stopped before finishing", folder.name)
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(held)


def _refresh_raw_statistics(url: str | None) -> None:
    """Summarise the new BRIN ranges and, when due, analyse the raw tables (a date's reads by
    dbt and the quality gate use them). The load has committed: a failure here only warns.

    ANALYZE is the server's work, one table at a time per connection: two connections (the
    machines have two cores) analyse the five tables in about half the time of one.
    """
    def refresh(src: contract.SourceFile) -> None:
        try:
            with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
                conn.execute("select raw.refresh_after_load(%s)", (src.entity,))
        except (psycopg.Error, warehouse.WarehouseError) as exc:
            log.warning("could not refresh the statistics of raw.%s: %s", src.entity, exc)

    # the largest table first, so that the two connections finish together
    order = sorted(contract.SOURCE_FILES, key=lambda src: src is not contract.TRANSACTIONS)
    with ThreadPoolExecutor(max_workers=STATISTICS_CONNECTIONS, thread_name_prefix="analyze") as pool:
        list(pool.map(refresh, order))


def _return_freed_batches_to_the_system() -> None:
    """pyarrow's default allocator here (mimalloc) keeps the pages of freed batches: a load's
    peak memory was 80 MB higher with it. jemalloc, told not to wait, gives them back."""
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(0)
    except NotImplementedError:  # a pyarrow built without jemalloc: keep its default
        log.debug("pyarrow has no jemalloc; its default allocator stays")


def _record_status(conn, load_id, business_date, started_at, status, reason, version, drop) -> None:
    conn.execute(
        "insert into audit.load_runs (load_id, business_date, started_at, finished_at, status, failure_reason,"
        " code_version, landing_path) values (%s, %s, %s, clock_timestamp(), %s, %s, %s, %s)",
        (load_id, business_date, started_at, status, reason, version, str(drop)),
    )


def _close_abandoned_loads(conn, business_date: date, version: str) -> None:
    """A RUNNING load of this date while we hold its lock died mid-way: say so in the trail."""
    conn.execute(
        "insert into audit.load_runs (load_id, business_date, started_at, finished_at, status, failure_reason,"
        " code_version, landing_path)"
        " select load_id, business_date, started_at, clock_timestamp(), 'FAILED',"
        " 'abandoned: the load stopped before finishing (process killed or connection lost);"
        " nothing of it was published', %s, landing_path"
        " from audit.load_runs_latest where business_date = %s and status = 'RUNNING'",
        (version, business_date),
    )


# ---- steps 2 and 3, inside the date's transaction -------------------------------------------


def _record_timezone(conn, manifest: Manifest, load_id: int) -> None:
    """The first load to commit records the bank's zone; a load checked in another zone fails.

    Under a transaction lock: two first loads started together (each saw no zone) must not
    both commit dates judged in different zones.
    """
    conn.execute("select pg_advisory_xact_lock(hashtext('cdw.warehouse_timezone'))")
    recorded = warehouse.recorded_timezone(conn)
    if recorded is None:
        conn.execute(
            "insert into audit.warehouse_timezone (timezone, source, load_id, business_date)"
            " values (%s, %s, %s, %s)",
            (manifest.timezone, "manifest" if manifest.names_timezone else "CDW_TIMEZONE", load_id,
             manifest.business_date))
    elif recorded != manifest.timezone:
        raise FileFault(manifest.business_date, contract.MANIFEST_NAME, contract.FAULT_BAD_MANIFEST,
                        f"the drop was checked in the zone {manifest.timezone!r}, but this warehouse's zone is"
                        f" {recorded!r} (recorded by a load that committed meanwhile): a warehouse has one zone")


def _delete_date(conn, business_date: date) -> None:
    """A re-delivery replaces the date: its earlier rows go (invisibly, until commit)."""
    for src in contract.SOURCE_FILES:
        conn.execute(sql.SQL("delete from raw.{} where business_date = %s").format(sql.Identifier(src.entity)),
                     (business_date,))
    conn.execute("delete from raw.id_ranges where business_date = %s", (business_date,))


def _load_files(conn, drop: Path, manifest: Manifest, load_id: int, work: Path, parsed: list[ParsedFile],
                say) -> None:
    """Check each file and stream its good records into COPY, in reference order.

    Checking and COPY overlap (PostgreSQL stores one batch while the next is checked);
    a fault anywhere aborts the COPY and the transaction, so nothing becomes visible.
    """
    settings = get_settings()
    business_date = manifest.business_date
    files = [(src, manifest.files[src.entity]) for src in contract.SOURCE_FILES if src.entity in manifest.files]
    # the whole-file checks (checksum, decoding) of the next files run in a thread while this
    # one loads; their faults still surface in file order
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="inspect") as pool:
        inspections = [pool.submit(inspect_file, drop, entry, business_date, work / f"{src.entity}.txt",
                                   settings.max_decompressed_bytes) for src, entry in files]
        try:
            _load_inspected(conn, files, inspections, load_id, manifest, parsed, say)
        finally:
            for inspection in inspections:
                inspection.cancel()


def _load_inspected(conn, files, inspections, load_id: int, manifest: Manifest, parsed: list[ParsedFile],
                    say) -> None:
    snapshot_ids: dict[str, pa.Array] = {}
    for (src, entry), inspection in zip(files, inspections, strict=True):
        try:
            _load_file(conn, src, entry, inspection.result(), load_id, manifest, parsed, snapshot_ids, say)
        except BaseException as exc:
            try:  # for the message of a fault that is not the data's (failure_message)
                exc.cdw_file_name = entry.name
            except (AttributeError, TypeError):
                pass
            raise


def _load_file(conn, src: contract.SourceFile, entry, inspected, load_id: int, manifest: Manifest,
               parsed: list[ParsedFile], snapshot_ids: dict[str, pa.Array], say) -> None:
    settings = get_settings()
    business_date = manifest.business_date
    # JSON can spell a NUL as \u0000, which the raw text does not show
    ctx = Context(business_date, manifest.timezone, settings.max_field_chars,
                  may_hold_nul=src.fmt != "csv" or inspected.has_nul)
    for _column, entity in src.references:
        if entity not in snapshot_ids:
            snapshot_ids[entity] = _snapshot_ids_in_force(conn, entity, business_date)
        ctx.reference_ids[entity] = snapshot_ids[entity]
    columns = sql.SQL(", ").join(
        sql.Identifier(c) for c in ("load_id", "business_date", "source_row", *src.column_names))
    copy = sql.SQL("copy {table} ({columns}) from stdin (format binary)").format(
        table=sql.Identifier("raw", src.entity), columns=columns)
    with conn.cursor() as cur, cur.copy(copy, writer=_CopyWriter(cur)) as cp:
        p = read_file(inspected, ctx, cp.write, load_id)
        repeated = _repeated_in_file(p)  # while PostgreSQL finishes the COPY
    if repeated is None:
        repeated = _repeated_in_raw(conn, src, business_date)
    parsed.append(p)
    _set_aside_duplicates(conn, p, src, business_date, repeated)
    say(f"{business_date} {entry.name}: {p.rows_read} read, {p.rows_good} loaded,"
        f" {p.rows_set_aside} set aside")
    _check_threshold(business_date, [p], settings.quarantine_threshold)
    if src.is_snapshot:
        snapshot_ids[src.entity] = p.good_ids.all_ids()


def _snapshot_ids_in_force(conn, entity: str, business_date: date) -> pa.Array:
    """Ids of the latest snapshot delivered before this date (the one that stands)."""
    src = contract.BY_ENTITY[entity]
    query = sql.SQL(
        "select {id} from raw.{table} where business_date ="
        " (select max(business_date) from raw.{table} where business_date < %s)"
    ).format(id=sql.Identifier(src.id_column), table=sql.Identifier(entity))
    rows = conn.execute(query, (business_date,)).fetchall()
    return pa.array([r[0] for r in rows], type=pa.string())


def _check_threshold(business_date: date, parsed: list[ParsedFile], threshold: float) -> None:
    for p in parsed:
        if p.rows_read and p.rows_set_aside / p.rows_read > threshold:
            # the commonest reason says what the source got wrong (e.g. a field added to every record)
            reason, count = Counter(r for s in p.set_aside for r in s.reasons).most_common(1)[0]
            raise FileFault(business_date, p.inspected.entry.name, contract.FAULT_THRESHOLD,
                            f"{p.rows_set_aside} of {p.rows_read} records set aside"
                            f" ({p.rows_set_aside / p.rows_read:.2%}), more than the {threshold:.2%} allowed;"
                            f" most often {reason} ({count})")


def _set_aside_duplicates(conn, p: ParsedFile, src: contract.SourceFile, business_date: date,
                          repeated: set[int]) -> None:
    """Set aside ids loaded twice: later occurrences in the file (``repeated``), and (ledger
    entries, calls) ids already loaded for another business date. The first good occurrence stays."""
    rows = set(repeated)
    if src.id_unique_across_history and p.good_ids.count:
        rows |= _loaded_for_another_date(conn, p, src, business_date)
    if not rows:
        return
    conn.execute(sql.SQL("delete from raw.{t} where business_date = %(d)s and source_row = any(%(rows)s)")
                 .format(t=sql.Identifier(src.entity)), {"d": business_date, "rows": sorted(rows)})
    p.set_aside_ordinals({o: [f"duplicate_id:{src.id_column}"] for o in sorted(rows)})
    p.rows_good -= len(rows)


def _repeated_in_file(p: ParsedFile) -> set[int] | None:
    """Ordinals of the good records whose id an earlier good record of the file has
    (None: not every id was kept, ask the raw table).

    Sorted in memory by (id, ordinal): a few bytes a record, faster and smaller than a hash
    of the ids, and no query whose plan depends on statistics the fresh rows lack.
    """
    kept = p.good_ids
    if kept.increasing:
        return set()
    if not kept.complete:
        return None
    records = pa.table({"id": pa.chunked_array(kept.ids, type=pa.string()),
                        "ordinal": pa.chunked_array(kept.ordinals, type=pa.int64())})
    ordered = records.take(pc.sort_indices(records, sort_keys=[("id", "ascending"), ("ordinal", "ascending")]))
    ids = ordered.column("id").combine_chunks()
    # a record whose id equals the one before it in this order repeats an earlier record
    repeats = pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    later = pc.indices_nonzero(repeats).to_numpy() + 1
    return set(ordered.column("ordinal").combine_chunks().take(pa.array(later)).to_pylist())


def _repeated_in_raw(conn, src: contract.SourceFile, business_date: date) -> set[int]:
    """The same as :func:`_repeated_in_file`, from the rows just copied (ids that turned out of order late)."""
    query = sql.SQL(
        "select source_row from (select source_row, row_number() over (partition by {id} order by source_row) n"
        " from raw.{t} where business_date = %s) numbered where n > 1"
    ).format(t=sql.Identifier(src.entity), id=sql.Identifier(src.id_column))
    conn.execute("set local work_mem = '256MB'")
    return {r[0] for r in conn.execute(query, (business_date,))}


def _loaded_for_another_date(conn, p: ParsedFile, src: contract.SourceFile, business_date: date) -> set[int]:
    """Ordinals of the date's records whose id was loaded for another business date.

    Only dates whose id range (raw.id_ranges) overlaps the day's are looked at: with ids
    issued in increasing order, as core systems issue them, none, so the check costs
    nothing however long the history. Ids in no order make it a scan of the dates they span.
    The day's range is recorded for the loads to come.

    Under a lock per entity held to commit: a load of another date started together would
    otherwise check before this one commits, and both would keep the same ids. Every load
    takes these locks in the order of ``contract.SOURCE_FILES``, so two loads cannot deadlock.
    """
    conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (_ids_lock_key(src),))
    low, high = p.good_ids.lowest, p.good_ids.highest
    conn.execute("insert into raw.id_ranges (entity, business_date, lowest_id, highest_id)"
                 " values (%s, %s, %s, %s)", (src.entity, business_date, low, high))
    overlapping = [r[0] for r in conn.execute(
        "select business_date from raw.id_ranges where entity = %s and business_date <> %s"
        " and lowest_id <= %s and highest_id >= %s", (src.entity, business_date, high, low))]
    if not overlapping:
        return set()
    # Hash joins in memory, never nested loops: a nested loop planned on the fresh rows'
    # missing statistics took minutes for 200k rows. A hash join is linear whatever they say.
    conn.execute("set local work_mem = '256MB'")
    conn.execute("set local enable_nestloop = off")
    elsewhere = sql.SQL(
        "select n.source_row from raw.{t} n"
        " join (select distinct o.{id} from raw.{t} o where o.business_date = any(%(dates)s)) o on o.{id} = n.{id}"
        " where n.business_date = %(d)s").format(t=sql.Identifier(src.entity), id=sql.Identifier(src.id_column))
    rows = {r[0] for r in conn.execute(elsewhere, {"d": business_date, "dates": overlapping})}
    conn.execute("reset enable_nestloop")
    return rows


def _write_audit(conn, business_date: date, load_id: int, parsed: list[ParsedFile], *,
                 committed: bool = True) -> None:
    """File counts and records set aside. A FAILED load (``committed`` False) loaded nothing:
    its files keep what was read and set aside, and 0 loaded (their COPY was rolled back)."""
    for p in parsed:
        o = _outcome(p)
        if not committed:
            o.rows_loaded = 0
        conn.execute(
            "insert into audit.file_reconciliation (load_id, business_date, file_name, sha256, manifest_rows,"
            " rows_read, rows_loaded, rows_quarantined) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (load_id, business_date, o.file_name, o.sha256, o.manifest_rows, o.rows_read, o.rows_loaded,
             o.rows_quarantined),
        )
        if not p.set_aside:
            continue
        src = p.inspected.entry.source
        with conn.cursor() as cur:
            with cur.copy("copy audit.quarantined_records (load_id, business_date, file_name, line_number,"
                          " raw_record, reasons) from stdin") as cp:
                for s in p.set_aside:
                    cp.write_row((load_id, business_date, o.file_name, s.line_number,
                                  storable(mask_record(src, s.raw_record, p.header)),
                                  [storable(r) for r in s.reasons]))
            with cur.copy("copy restricted.quarantined_originals (load_id, file_name, line_number, raw_record)"
                          " from stdin") as cp:
                for s in p.set_aside:
                    cp.write_row((load_id, o.file_name, s.line_number, storable(s.raw_record)))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """Text PostgreSQL can hold, what it could not kept visible: NUL as the two characters \\0,
    a lone surrogate as its escape (\\ud800)."""
    return _UNSTORABLE.sub(lambda m: "\\0" if m[0] == "\x00" else f"\\u{ord(m[0]):04x}", text)


def _outcome(p: ParsedFile) -> FileOutcome:
    e = p.inspected.entry
    return FileOutcome(e.name, p.inspected.sha256, e.rows, p.rows_read, p.rows_good, p.rows_set_aside)
