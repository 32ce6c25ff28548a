"""The record checks' shortcuts give exactly the answers of the rules they stand in for.

Timestamps of the plain form are shaped by byte position instead of the regex; text
lengths are judged by bytes first. Both must agree with the full rule on any input.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from cdw.landing.contract import Column
from cdw.landing.records import (
    TS_PATTERN,
    Context,
    _all_plain_timestamps,
    _check_column,
    _Reasons,
    _Timestamps,
)

PLAIN = "2026-03-02T09:15:00+08:00"
# every character a timestamp can hold, and some it must not
ALPHABET = "0123456789-T:+Z.x٣ "


def _mutations():
    at = st.integers(min_value=0, max_value=len(PLAIN) - 1)
    return st.lists(st.tuples(at, st.sampled_from(ALPHABET)), max_size=3).map(
        lambda edits: _edit(PLAIN, edits))


def _edit(text: str, edits) -> str:
    chars = list(text)
    for at, char in edits:
        chars[at] = char
    return "".join(chars)


@settings(max_examples=400, deadline=None)
@given(st.lists(_mutations(), min_size=1, max_size=5))
def test_the_positional_shape_check_never_accepts_what_the_regex_refuses(values):
    strings = pa.array(values)
    if _all_plain_timestamps(strings):
        assert pc.all(pc.match_substring_regex(strings, TS_PATTERN)).as_py()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_mutations(), st.sampled_from(["2026-03-02T09:15:00.5Z", "2026-03-02T09:15:00Z"])),
                min_size=1, max_size=6))
def test_timestamps_parse_the_same_with_or_without_the_shortcut(values):
    strings = pa.array(values)
    fast = _Timestamps(strings)
    # the same values with one null: the shortcut does not apply, the regex decides
    slow = _Timestamps(pa.array([*values, None]))
    assert fast.ok.to_pylist() == slow.ok.to_pylist()[:-1]
    assert fast.utc.to_pylist() == slow.utc.to_pylist()[:-1]


def test_the_shortcut_is_taken_for_the_plain_form_only():
    assert _all_plain_timestamps(pa.array([PLAIN, "1999-12-31T23:59:59-05:30"]))
    assert not _all_plain_timestamps(pa.array([PLAIN, "2026-03-02T09:15:00.5+08:00"]))
    assert not _all_plain_timestamps(pa.array([PLAIN, None]))
    assert not _all_plain_timestamps(pa.array(["2026-03-02T09:15:00.1234Z"]))  # 25 characters, valid, not plain


@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=8))
def test_text_length_by_bytes_first_gives_the_character_count_answer(values):
    col = Column("name", "text", required=False, max_len=5)
    strings = pa.array(values, type=pa.string())
    reasons = _Reasons(len(values))
    ok = _check_column(col, strings, Context(date(2026, 3, 2), "Asia/Shanghai", 4096), reasons, {})
    judged = [i for i, v in enumerate(values) if v is not None]
    assert [ok[i].as_py() for i in judged] == [len(values[i]) <= 5 for i in judged]
    too_long = reasons.any_bad()
    assert too_long.tolist() == [v is not None and len(v) > 5 for v in values]
