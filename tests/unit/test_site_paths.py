"""Where a warehouse's site is, without a database: directory names and a load's GX pages."""

from __future__ import annotations

import uuid
from datetime import date

from cdw import site


def test_each_warehouse_id_names_its_own_directory():
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert site.dir_name(first) != site.dir_name(second)
    assert site.dir_name(first) == site.dir_name(first)  # stable: a warehouse keeps its directory
    assert site.dir_name("1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d") == "warehouse-1b2c3d4e5f60"


def test_every_load_has_its_own_page_and_run_name():
    assert site.load_page_name(7) == "load-7.html" != site.load_page_name(8)
    # a rerun of a date is another load: another run name, so other GX pages
    assert site.gx_run_name(date(2026, 3, 3), 7) == "2026-03-03-load-7" != site.gx_run_name(date(2026, 3, 3), 8)


def test_a_loads_gx_pages_are_its_own_every_run_newest_first(tmp_path):
    validations = tmp_path / site.GX_DOCS / "validations"
    for suite, run, at in [("raw_calls", "2026-03-03-load-7", "20261203T100000.000000Z"),
                           ("raw_calls/queries", "2026-03-03-load-7", "20261203T110000.000000Z"),
                           ("raw_calls", "2026-03-03-load-17", "20261203T100000.000000Z"),
                           ("raw_calls", "2026-03-03-load-8", "20261203T120000.000000Z")]:
        page = validations / suite / run / at / "warehouse-raw.calls_2026-03-03.html"
        page.parent.mkdir(parents=True)
        page.write_text("<html></html>")
    found = site.gx_pages_of_load(tmp_path, date(2026, 3, 3), 7)
    assert [p.relative_to(validations).parts[:-2] for p in found] == [
        ("raw_calls", "queries", "2026-03-03-load-7"), ("raw_calls", "2026-03-03-load-7")]
