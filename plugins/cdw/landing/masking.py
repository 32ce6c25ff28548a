"""Masking of personal data in records set aside.

``audit.quarantined_records`` is read by auditors, so its ``raw_record`` shows a
record with the contract's personal fields masked; the original text is kept
in ``restricted.quarantined_originals``, readable only by the loader.
A line that cannot be read as a record keeps its shape (separators, quotes,
braces) with every other character masked, since nobody can tell which part
of it is personal.
"""

from __future__ import annotations

import csv
import io
import json
import re

from cdw.landing.contract import SourceFile

MASK = "*"
_CONTENT = re.compile(r"[^\s,;:\"'{}\[\]()]")


def mask_value(value: str) -> str:
    """Keep the first character, hide the rest: enough for an auditor to recognise a kind of value."""
    return value[:1] + MASK * max(3, len(value) - 1) if value else value


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def field_label(key: str) -> str:
    """A JSON key as a reason or the trail may show it: a field name as it is; anything else
    (it may be data, e.g. a phone number used as a key) masked, in quotes."""
    return key if _FIELD_NAME.fullmatch(key) else json.dumps(mask_value(key), ensure_ascii=False)


def mask_line(text: str) -> str:
    return _CONTENT.sub(MASK, text)


def mask_record(src: SourceFile, raw_record: str, header: list[str] | None) -> str:
    personal = {c.name for c in src.columns if c.personal}
    if src.fmt == "jsonl":
        try:
            obj = json.loads(raw_record)
        except (ValueError, RecursionError):
            return mask_line(raw_record)
        if not isinstance(obj, dict):
            return mask_line(raw_record)
        masked = {k: (mask_value(v) if k in personal and isinstance(v, str) else v) for k, v in obj.items()}
        return json.dumps(masked, ensure_ascii=False)
    fields = next(csv.reader(io.StringIO(raw_record, newline="")), [])
    if not header or len(fields) != len(header):
        return mask_line(raw_record)
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        [mask_value(v) if name in personal else v for name, v in zip(header, fields, strict=True)])
    return out.getvalue()
