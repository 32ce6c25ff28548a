"""A drop's manifest and the checks that decide whether a file can be trusted as a whole.

Nothing here touches the warehouse: a drop is checked completely before any of
it is loaded. A file that fails raises :class:`FileFault` naming the business
date, the file and the fault.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import logging
import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdw.landing import contract
from cdw.landing.contract import SourceFile

log = logging.getLogger(__name__)
CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 1 << 20
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
SURROGATE = re.compile("[\ud800-\udfff]")
#: Spools are UTF-8, except that a lone surrogate (which some encodings, e.g. utf-7, decode to)
#: is kept as its three bytes: read them with this, and the records holding one are set aside.
SPOOL_ERRORS = "surrogatepass"


class FileFault(Exception):
    """A file (or the manifest) that cannot be trusted as a whole: the date's load fails."""

    def __init__(self, business_date: date, file_name: str, code: str, detail: str):
        file_name, detail = printable(file_name, 120), printable(detail, 600)
        self.business_date, self.file_name, self.code, self.detail = business_date, file_name, code, detail
        super().__init__(f"{business_date} {file_name}: {code}: {detail}")


def printable(text: str, limit: int) -> str:
    """Text safe for a one-line message and a PostgreSQL text column (no NUL, no newline)."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text)[: limit + 1])
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@dataclass(frozen=True)
class FileEntry:
    """One file the manifest lists."""

    name: str
    source: SourceFile
    rows: int
    sha256: str
    encoding: str

    @property
    def compressed(self) -> bool:
        return self.name.endswith(".gz")


@dataclass
class Manifest:
    business_date: date
    timezone: str
    files: dict[str, FileEntry]  # entity -> entry
    ignored: list[str] = field(default_factory=list)
    #: whether the manifest named the zone itself (else it is the warehouse's or CDW_TIMEZONE)
    names_timezone: bool = False


def _reject_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"duplicate key(s) {', '.join(map(repr, dupes))}")
    return dict(pairs)


def read_manifest(drop: Path, business_date: date, default_timezone: str,
                  warehouse_timezone: str | None = None) -> Manifest:
    """Read and check ``_manifest.json`` of the drop for ``business_date``.

    ``warehouse_timezone``: the zone the warehouse recorded at its first load; a manifest
    naming another zone is refused (a warehouse has one zone). Without it, a manifest
    without a zone gets ``default_timezone``.
    """
    name = contract.MANIFEST_NAME
    path = drop / name
    if not path.is_file():
        raise FileFault(business_date, name, contract.FAULT_MISSING_MANIFEST,
                        f"no {name} in {drop}: the drop is not delivered or not complete")

    def bad(detail: str) -> FileFault:
        return FileFault(business_date, name, contract.FAULT_BAD_MANIFEST, detail)

    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise bad(f"larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"), object_pairs_hook=_reject_duplicate_keys)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise bad(f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise bad("not a JSON object")
    declared = doc.get("business_date")
    if declared != business_date.isoformat():
        raise bad(f"business_date is {str(declared)[:40]!r}, not {business_date.isoformat()}: "
                  "the drop is for another date")
    named = doc.get("timezone")
    if named is not None and not isinstance(named, str):
        raise bad("timezone must be an IANA zone name such as Europe/Prague")
    timezone = named or warehouse_timezone or default_timezone
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise bad(f"unknown time zone {str(timezone)[:60]!r}") from None
    if named and warehouse_timezone and named != warehouse_timezone:
        raise bad(f"timezone is {named[:60]!r}, but this warehouse's zone is {warehouse_timezone!r}"
                  " (recorded by its first load): a warehouse has one zone, every drop must name it or none")
    files = doc.get("files")
    if not isinstance(files, dict) or not files:
        raise bad("'files' must be a non-empty object")

    entries: dict[str, FileEntry] = {}
    ignored: list[str] = []
    for file_name, meta in files.items():
        if not isinstance(file_name, str) or not SAFE_NAME.match(file_name) or file_name in (".", ".."):
            raise FileFault(business_date, str(file_name)[:80], contract.FAULT_UNSAFE_PATH,
                            "file names in the manifest must be plain names inside the drop directory")
        src = contract.source_for_file_name(file_name)
        if src is None:
            log.warning("%s: %s is not a file of the landing contract; ignored", business_date, file_name)
            ignored.append(file_name)
            continue
        if src.entity in entries:
            raise bad(f"{src.entity} listed twice ({entries[src.entity].name} and {file_name})")
        if not isinstance(meta, dict):
            raise bad(f"entry of {file_name} is not an object")
        rows, digest = meta.get("rows"), meta.get("sha256")
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise bad(f"rows of {file_name} must be a whole number >= 0")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise bad(f"sha256 of {file_name} must be 64 hex digits")
        encoding = meta.get("encoding") or "utf-8"
        try:
            if not isinstance(encoding, str) or not codecs.lookup(encoding)._is_text_encoding:
                raise LookupError
        except LookupError:
            raise bad(f"unknown encoding {str(encoding)[:40]!r} for {file_name}") from None
        entries[src.entity] = FileEntry(file_name, src, rows, digest.lower(), encoding)

    for src in contract.SOURCE_FILES:
        if src.required_in_drop and src.entity not in entries:
            raise bad(f"every drop must list {src.base_name} (or .gz)")
    listed = {e.name for e in entries.values()} | set(ignored) | {name}
    for extra in sorted(p.name for p in drop.iterdir() if p.name not in listed):
        log.warning("%s: %s is not listed in the manifest; ignored", business_date, extra)
        ignored.append(extra)
    return Manifest(business_date, str(timezone), entries, ignored, names_timezone=bool(named))


@dataclass
class InspectedFile:
    """A file that passed the whole-file checks, decoded to a UTF-8 spool."""

    entry: FileEntry
    spool: Path
    sha256: str
    physical_lines: int
    has_nul: bool = True  # a NUL character anywhere in the text
    has_surrogate: bool = False  # a lone surrogate anywhere in the decoded text


def inspect_file(drop: Path, entry: FileEntry, business_date: date, spool: Path,
                 max_decompressed_bytes: int) -> InspectedFile:
    """Checksum, decompress (bounded), decode strictly, and write the text as UTF-8 to ``spool``."""

    def fault(code: str, detail: str) -> FileFault:
        return FileFault(business_date, entry.name, code, detail)

    path = drop / entry.name
    # the file must be a regular file inside the drop, not a link leading elsewhere
    if path.is_symlink() or not path.resolve().is_relative_to(drop.resolve()):
        raise fault(contract.FAULT_UNSAFE_PATH, "is a link or lies outside the drop directory")
    if not path.is_file():
        raise fault(contract.FAULT_MISSING_FILE, "listed in the manifest but not in the drop")

    # the checksum is computed beside the decoding (hashlib works without the GIL), and
    # judged first: a corrupt file is a checksum fault whatever else is wrong with it
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool:
        hashing = pool.submit(_sha256, path)
        try:
            lines, has_nul, has_surrogate = _decode_to_spool(path, entry, spool, max_decompressed_bytes, fault)
        except FileFault:
            spool.unlink(missing_ok=True)
            _check_sha256(hashing.result(), entry, fault)
            raise
        actual = hashing.result()
    try:
        _check_sha256(actual, entry, fault)
    except FileFault:
        spool.unlink(missing_ok=True)
        raise
    return InspectedFile(entry, spool, actual, lines, has_nul, has_surrogate)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(actual: str, entry: FileEntry, fault) -> None:
    if actual != entry.sha256:
        raise fault(contract.FAULT_CHECKSUM, f"sha256 is {actual[:16]}…, the manifest says {entry.sha256[:16]}…")


def _decode_to_spool(path: Path, entry: FileEntry, spool: Path, max_decompressed_bytes: int,
                     fault) -> tuple[int, bool, bool]:
    """Decompress (bounded) and decode strictly into the UTF-8 spool: (newlines, whether a NUL
    occurs, whether a lone surrogate does)."""
    decoder = codecs.getincrementaldecoder(entry.encoding)(errors="strict")
    # UTF-8 content is its own spool: decoding only proves it valid, the bytes are written as
    # they came (less a BOM) and searched as bytes, which is several times faster than as text
    as_is = codecs.lookup(entry.encoding).name == "utf-8"
    total = 0
    lines = 0
    has_nul = has_surrogate = False
    first = True
    # owner-only before the first byte: the spool holds the file's personal data in clear
    os.close(os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        with _open_bytes(path, entry.compressed) as raw, spool.open("wb") as out:
            while True:
                try:
                    chunk = raw.read(CHUNK)
                except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
                    raise fault(contract.FAULT_TRUNCATED,
                                f"compressed stream ends early or is corrupt after {total} bytes ({exc})") from None
                if not chunk:
                    break
                total += len(chunk)
                if total > max_decompressed_bytes:
                    raise fault(contract.FAULT_TOO_LARGE,
                                f"more than {max_decompressed_bytes} bytes once decompressed")
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    offset = total - len(chunk) + exc.start
                    raise fault(contract.FAULT_UNDECODABLE,
                                f"not valid {entry.encoding} at byte {offset} of the content") from None
                if as_is:
                    if first:
                        chunk = chunk.removeprefix(codecs.BOM_UTF8)  # a BOM is allowed
                        first = False
                    lines += chunk.count(b"\n")
                    has_nul = has_nul or b"\x00" in chunk
                    out.write(chunk)
                    continue
                if first and text:
                    text = text.removeprefix("\ufeff")  # a BOM is allowed
                    first = False
                lines += text.count("\n")
                has_nul = has_nul or "\x00" in text
                # (strict UTF-8 decoding refuses surrogates: only other encodings get here with one)
                has_surrogate = has_surrogate or SURROGATE.search(text) is not None
                out.write(text.encode("utf-8", SPOOL_ERRORS))
            try:
                tail = decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise fault(contract.FAULT_UNDECODABLE,
                            f"not valid {entry.encoding}: the content ends inside a character") from None
            has_nul = has_nul or "\x00" in tail
            has_surrogate = has_surrogate or SURROGATE.search(tail) is not None
            out.write(tail.encode("utf-8", SPOOL_ERRORS))
    except FileFault:
        spool.unlink(missing_ok=True)
        raise
    return lines, has_nul, has_surrogate


def _open_bytes(path: Path, compressed: bool):
    return gzip.open(path, "rb") if compressed else path.open("rb")
