"""Masking of records set aside: safe by default.

``audit.quarantined_records`` is read by auditors (and its examples reach the data-quality
report), so its ``raw_record`` shows a record with everything not known to be safe masked;
the original text is kept in ``restricted.quarantined_originals``, readable only by the loader.

Shown as sent: the contract's keys and columns, and the values of the contract's fields that
are not personal when they are plain values (text, number, true/false, null). Masked (first
character kept, then ``*``): personal fields whatever their JSON type, the values of keys and
columns the contract does not know, anything nested in an object or array, and keys that do
not look like field names. A line that cannot be read as a record keeps only its shape
(separators, quotes, braces), since nobody can tell which part of it is personal.

Masking its own output changes nothing, so the report can mask what the trail holds again.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

from cdw.landing.contract import SourceFile

MASK = "*"
_CONTENT = re.compile(r"[^\s,;:\"'{}\[\]()]")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def mask_value(value: str) -> str:
    """Keep the first character, hide the rest: enough for an auditor to recognise a kind of value."""
    return value[:1] + MASK * max(3, len(value) - 1) if value else value


def field_label(key: str) -> str:
    """A JSON key as a reason or the trail may show it: a field name as it is; anything else
    (it may be data, e.g. a phone number used as a key) masked, in quotes."""
    return key if _FIELD_NAME.fullmatch(key) else json.dumps(_masked_key(key), ensure_ascii=False)


def _masked_key(key: str) -> str:
    return key if _FIELD_NAME.fullmatch(key) else mask_value(key)


def mask_line(text: str) -> str:
    return _CONTENT.sub(MASK, text)


def mask_record(src: SourceFile, raw_record: str, header: list[str] | None,
                value_mask: Callable[[str], str] = mask_value) -> str:
    """``raw_record`` with what is not known safe to show masked by ``value_mask``."""
    shown = {c.name for c in src.columns if not c.personal}
    if src.fmt == "jsonl":
        return _mask_json(raw_record, shown, value_mask)
    return _mask_csv(raw_record, header, shown, value_mask)


class _Object(list):
    """A JSON object's (key, value) pairs as sent, repeated keys included."""


def _mask_json(text: str, shown: set[str], value_mask: Callable[[str], str]) -> str:
    try:
        record = json.loads(text, object_pairs_hook=_Object)
    except (ValueError, RecursionError):
        return mask_line(text)
    if not isinstance(record, _Object):
        return mask_line(text)
    try:
        return _json(_Object((_masked_key(k), v if k in shown and not isinstance(v, list)
                              else _masked(v, value_mask)) for k, v in record))
    except RecursionError:  # nested deeper than Python recurses: its shape only
        return mask_line(text)


def _masked(value, value_mask: Callable[[str], str]):
    """A value nobody has said is safe to show: its text masked, its structure kept."""
    if value is None or isinstance(value, bool):
        return value  # nothing to hide in null, true or false
    if isinstance(value, _Object):
        return _Object((_masked_key(k), _masked(v, value_mask)) for k, v in value)
    if isinstance(value, list):
        return [_masked(v, value_mask) for v in value]
    return value_mask(value if isinstance(value, str) else json.dumps(value))


def _json(value) -> str:
    if isinstance(value, _Object):
        return "{" + ", ".join(f"{_json(k)}: {_json(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _mask_csv(text: str, header: list[str] | None, shown: set[str], value_mask: Callable[[str], str]) -> str:
    try:
        fields = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:
        return mask_line(text)
    if not header or len(fields) != len(header):
        return mask_line(text)
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        [v if name in shown else value_mask(v) for name, v in zip(header, fields, strict=True)])
    return out.getvalue()
