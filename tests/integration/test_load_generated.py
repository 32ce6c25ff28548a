"""The generator's known defects, loaded for real: the audit trail matches its expected outcome exactly."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest

from cdw.generate import generate_landing
from cdw.load import LoadFailed, load_date

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def defect_landing(tmp_path_factory):
    out = tmp_path_factory.mktemp("landing")
    generate_landing(out, date(2026, 3, 2), date(2026, 3, 11), seed=7, customers=400, agents=40,
                     transactions_per_day=1600, calls_per_day=300, defects=True)
    return out


def test_every_date_loads_or_fails_exactly_as_expected(defect_landing, db):
    expected = json.loads((defect_landing / "_expected.json").read_text())["dates"]
    assert len(expected) == 10
    for day, outcome in sorted(expected.items()):
        business_date = date.fromisoformat(day)
        if outcome["status"] == "FAILED":
            with pytest.raises(LoadFailed) as failure:
                load_date(defect_landing, business_date)
            assert (failure.value.file_name, failure.value.code) == (outcome["fault"]["file"],
                                                                      outcome["fault"]["code"]), day
            assert db.execute("select count(*) from raw.transactions where business_date = %s",
                              (business_date,)).fetchone()[0] == 0
        else:
            result = load_date(defect_landing, business_date)
            files = {f.file_name: f for f in result.files}
            for name, want in outcome["files"].items():
                got = files[name]
                assert (got.rows_read, got.rows_loaded, got.rows_quarantined) == (
                    want["rows_read"], want["rows_loaded"], want["rows_quarantined"]), (day, name)
                reasons = Counter()
                for (row_reasons,) in db.execute(
                        "select reasons from audit.quarantined_records where load_id = %s and file_name = %s",
                        (result.load_id, name)):
                    reasons.update(row_reasons)
                assert dict(reasons) == want.get("reasons", {}), (day, name)
        last = db.execute("select status from audit.load_runs_latest where business_date = %s",
                          (business_date,)).fetchone()[0]
        assert last == ("FAILED" if outcome["status"] == "FAILED" else "LOADED")

    # reconciliation holds for every file of every successful load
    broken = db.execute(
        "select count(*) from audit.file_reconciliation r join audit.load_runs_latest l using (load_id)"
        " where l.status = 'LOADED' and not (r.manifest_rows = r.rows_read"
        " and r.rows_read = r.rows_loaded + r.rows_quarantined)").fetchone()[0]
    assert broken == 0
