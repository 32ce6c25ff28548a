"""The Quick start's main job (``bin/demo`` → ``cdw demo``).

Generates a week of realistic landing data, runs the daily pipeline over it
through the Airflow DAG (``cdw run``), builds the dbt docs of the published
``analytics`` schema into the warehouse's site, and says where the warehouse, the
docs and the data-quality reports are, and how to serve the site (``cdw serve``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cdw import site, warehouse
from cdw.site import build_analytics_docs


@dataclass
class DemoOutcome:
    ok: bool
    run_summary: str
    url: str
    docs: Path | None
    report: Path | None
    extra: list[str] = field(default_factory=list)

    def where_lines(self) -> list[str]:
        lines = [f"warehouse:           {self.url}"]
        lines.append(f"dbt docs:            {self.docs}" if self.docs else "dbt docs:            (not built)")
        lines.append(f"data-quality report: {self.report}" if self.report else
                     "data-quality report: (not written)")
        lines.append("site:                .venv/bin/cdw serve   (then open the URL it prints)")
        return lines + self.extra

    def summary(self) -> str:
        return self.run_summary


def run_demo(landing: Path, start: date, end: date, *, seed: int = 42,
             progress: Callable[[str], None] = lambda m: None) -> DemoOutcome:
    from cdw.generate import generate_landing
    from cdw.marts_summary import summarise
    from cdw.pipeline import run_dates

    url = warehouse.warehouse_url()
    progress(f"warehouse: {url}")
    with warehouse.connect(url, autocommit=True) as conn:
        warehouse.ensure_schema(conn)  # with the roles: analyst and auditor can be tried at once
    generated = generate_landing(landing, start, end, seed=seed, progress=progress)
    progress(generated.summary)
    report = run_dates(landing, start, end, progress=progress)
    docs = build_analytics_docs(url, progress=progress)
    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        index = site.site_dir(conn) / "index.html"
    return DemoOutcome(report.ok, report.summary(), url, docs, index if index.exists() else None,
                       extra=[*_reconciliation(url), *summarise(url)])


def _reconciliation(url: str) -> list[str]:
    """One line: does every file of every published load reconcile?"""
    with warehouse.connect(url, autocommit=True) as conn:
        files, broken = conn.execute(
            "select count(*), count(*) filter (where not (r.manifest_rows = r.rows_read"
            " and r.rows_read = r.rows_loaded + r.rows_quarantined))"
            " from audit.file_reconciliation r join audit.load_runs_latest l using (load_id)"
            " where l.status = 'PUBLISHED'").fetchone()
    verdict = "holds" if broken == 0 else f"BROKEN for {broken} files"
    return [f"reconciliation:      {verdict} for {files} files of published loads"
            " (manifest rows = read = loaded + set aside)"]
