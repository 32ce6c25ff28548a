"""The CSV reader is kept to a few blocks ahead of the checks (memory stays bounded by them)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv

from cdw.landing.readers import _PacedFile

BLOCK = 64 << 10


def test_the_reader_reads_no_further_ahead_than_allowed(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text("".join(f"T{i:09d},{i}.00,CNY\n" for i in range(200_000)))  # about 4 MB, 60+ blocks
    spool = _PacedFile(path, BLOCK, ahead=2)
    furthest_ahead = 0
    rows = 0
    reader = pacsv.open_csv(spool, read_options=pacsv.ReadOptions(block_size=BLOCK, use_threads=False,
                                                                  column_names=["id", "amount", "currency"]),
                            convert_options=pacsv.ConvertOptions(column_types={"amount": pa.string()}))
    for batch in reader:
        furthest_ahead = max(furthest_ahead, spool._bytes_read - spool._taken * BLOCK)
        spool.batch_taken()
        rows += batch.num_rows
    spool.close()
    assert rows == 200_000
    # two blocks ahead, plus the one read that finds the limit reached
    assert furthest_ahead <= 3 * BLOCK
    # without pacing pyarrow reads the whole file ahead (up to 32 blocks): the check can fail
    assert path.stat().st_size > 32 * BLOCK
