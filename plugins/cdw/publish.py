"""The daily DAG's last three steps: gate, publish, report.

Write–audit–publish. Cosmos has built the date's star schema into the private
schema ``build`` (``CDW_BUILD_SCHEMA``); then

* :func:`quality_gate` runs every Great Expectations suite on raw and on
  ``build`` (:mod:`cdw.quality`); a critical failure appends FAILED, with the
  failed expectations, to ``audit.load_runs`` and raises :class:`GateFailed`;
* :func:`publish` makes ``analytics`` equal to ``build`` in one transaction and
  appends PUBLISHED (:mod:`cdw.publication`);
* :func:`report` writes the data-quality report of the date's latest load, for
  every outcome (:mod:`cdw.report`), and says whether the date was published.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from cdw import warehouse
from cdw.settings import get_settings


class GateFailed(Exception):
    """The load did not pass the quality gate: not published, never retried."""


def quality_gate(business_date: date, load_id: int, *, url: str | None = None) -> str:
    """Pass with a one-line verdict, or record FAILED and raise :class:`GateFailed`."""
    from cdw.publication import _refuse
    from cdw.quality import validate

    url = url or warehouse.warehouse_url()
    outcome = validate(business_date, load_id, url=url, build_schema=get_settings().build_schema)
    if not outcome.passed:
        reason = "quality gate: " + outcome.reason()
        _refuse(url, load_id, business_date, reason[:4000])
        raise GateFailed(f"{business_date} load {load_id} not published: {reason}")
    return f"{business_date} load {load_id} passed the quality gate: {outcome.summary()}"


def publish(business_date: date, load_id: int, *, url: str | None = None) -> str:
    """Publish the gated build into ``analytics`` (one transaction); one line on what changed."""
    from cdw.publication import publish as publish_build

    result = publish_build(business_date, load_id, url=url, build_schema=get_settings().build_schema,
                           build=False, validate_first=False)
    tables = ", ".join(f"{name} {info['mode']}" for name, info in result.tables.items())
    return f"{business_date} load {load_id} published: {tables}"


def latest_load(business_date: date, *, url: str | None = None) -> tuple[int, str, str | None] | None:
    """(load_id, status, failure_reason) of the date's latest load, or None when there is none."""
    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        return conn.execute(
            "select load_id, status, failure_reason from audit.load_runs_latest where business_date = %s"
            " order by load_id desc limit 1", (business_date,)).fetchone()


def report(business_date: date, *, url: str | None = None) -> tuple[bool, str, Path | None]:
    """Write the report of the date's latest load: (published?, one line, report path)."""
    from cdw.report import write_report

    latest = latest_load(business_date, url=url)
    if latest is None:
        return False, f"{business_date}: no load recorded (the drop never arrived?)", None
    load_id, status, reason = latest
    path = write_report(load_id, url=url)
    published = status == "PUBLISHED"
    line = f"{business_date} load {load_id} {status}" + (f": {reason}" if reason else "") + f"; report {path}"
    return published, line, path
