"""The Quick start's main job (``bin/demo`` → ``cdw demo``).

Generates a week of realistic landing data, runs the daily pipeline over it
through the Airflow DAG (``cdw run``), builds the dbt docs site, and says where
the warehouse, the docs and the data-quality report are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cdw import warehouse
from cdw.settings import get_settings


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
    docs = build_docs(url, progress)
    index = get_settings().home / "reports" / "index.html"
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


def build_docs(url: str, progress: Callable[[str], None]) -> Path | None:
    """``dbt docs generate --static``: one self-contained HTML file an analyst can open."""
    from cdw.dbt import DbtFailed, run_dbt

    target = get_settings().home / "docs"
    progress("building the dbt docs site")
    try:
        run_dbt(["docs", "generate", "--static"], url=url, target_path=str(target))
    except DbtFailed as exc:
        progress(f"dbt docs could not be built: {exc}")
        return None
    page = target / "static_index.html"
    return page if page.exists() else None
