"""Writing drop files byte-for-byte reproducibly: CSV, JSON lines, gzip without a timestamp."""

from __future__ import annotations

import csv
import gzip as gz
import hashlib
import io
import itertools
import json
import os
from pathlib import Path

_LEVEL = 3  # gzip level: near level 1 in speed, near level 6 in size for these files


class Raw(str):
    """A line written as is (a record that is deliberately not well-formed CSV)."""


class Lines(str):
    """A chunk of ready CSV lines (values known to need no quoting) holding ``rows`` records."""

    rows: int = 0

    @classmethod
    def of(cls, rows) -> Lines:
        rows = list(rows)
        out = cls("".join(",".join(r) + "\n" for r in rows))
        out.rows = len(rows)
        return out


def _open(path: Path, gzip: bool):
    raw = open(path, "wb")  # noqa: SIM115 - closed by the caller via the returned pair
    if gzip:
        # mtime=0 and no file name in the header: same input, same bytes
        return raw, gz.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=_LEVEL)
    return raw, raw


def write_csv(path: Path, header: list[str], chunks, *, gzip: bool = False, encoding: str = "utf-8") -> int:
    """Write a header and the rows of ``chunks`` (lists of rows; a ``Raw`` row is written as is).

    Returns the number of data records. Each chunk is formatted in memory and written at once:
    large files stream through in bounded memory."""
    raw, stream = _open(path, gzip)
    n = 0
    for k, chunk in enumerate(itertools.chain([[header]], chunks)):
        if isinstance(chunk, Lines):
            stream.write(chunk.encode(encoding))
            n += chunk.rows
            continue
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        plain = []
        for row in chunk:
            if isinstance(row, Raw):
                writer.writerows(plain)
                plain = []
                buf.write(row + "\n")
            else:
                plain.append(row)
        writer.writerows(plain)
        stream.write(buf.getvalue().encode(encoding))
        n += len(chunk) if k else 0
    if stream is not raw:
        stream.close()
    raw.close()
    return n


def write_jsonl(path: Path, records: list, *, gzip: bool = False) -> int:
    """One JSON object per line (``Raw`` items written as is)."""
    raw, stream = _open(path, gzip)
    buf = []
    for rec in records:
        buf.append(
            rec if isinstance(rec, Raw) else json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        )
    stream.write(("\n".join(buf) + ("\n" if buf else "")).encode("utf-8"))
    if stream is not raw:
        stream.close()
    raw.close()
    return len(records)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path, manifest: dict) -> None:
    """Written last and renamed into place: the drop is complete only when it exists."""
    tmp = folder / "_manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / "_manifest.json")
