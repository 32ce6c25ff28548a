"""Where a warehouse's site is: its reports, GX Data Docs and dbt docs, under one directory of its own.

``CDW_HOME/reports/warehouse-<id>/`` (:func:`site_dir`), ``<id>`` the first 12 hex digits of the
warehouse's own uuid (``audit.warehouse_identity``), so two warehouses sharing one ``CDW_HOME``
never write over each other's pages. Inside it:

* ``load-<load id>.html``: every load's data-quality report (a rerun of a date is a new load,
  so a new page), ``index.html``: every load (:mod:`cdw.report`);
* ``gx_docs/``: the GX Data Docs of every validation run, kept (:mod:`cdw.quality`), their
  validation results in ``gx_results/`` (the persistent store GX's index is built from);
* ``dbt_docs/index.html``: the dbt docs of the published ``analytics`` schema
  (:func:`build_analytics_docs`).

``cdw serve`` (:mod:`cdw.serve`) serves this directory and the overview (:mod:`cdw.overview`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import psycopg

from cdw import warehouse
from cdw.dbt import DbtFailed, run_dbt
from cdw.settings import get_settings

log = logging.getLogger(__name__)

GX_DOCS = "gx_docs"
GX_RESULTS = "gx_results"
DBT_DOCS = "dbt_docs"
ID_DIGITS = 12  # 48 bits: no two warehouses of one CDW_HOME meet by chance


def reports_root() -> Path:
    return get_settings().home / "reports"


def warehouse_id(conn: psycopg.Connection, *, create: bool = False) -> str | None:
    """The warehouse's uuid (``audit.warehouse_identity``); made on first need when ``create``
    (the pipeline's role may insert into ``audit``, a reader may not: None until then)."""
    if conn.execute("select to_regclass('audit.warehouse_identity')").fetchone()[0] is None:
        return None
    if create:
        # concurrent first reports: one row wins, every caller reads it
        conn.execute("insert into audit.warehouse_identity default values on conflict do nothing")
    row = conn.execute("select warehouse_id::text from audit.warehouse_identity").fetchone()
    return row[0] if row else None


def dir_name(identity: str) -> str:
    return f"warehouse-{identity.replace('-', '')[:ID_DIGITS]}"


def site_dir(conn: psycopg.Connection, *, create: bool = True) -> Path | None:
    """``CDW_HOME/reports/warehouse-<id>`` of the warehouse ``conn`` is connected to (made when
    ``create``); None when the warehouse has no id yet and ``create`` is false."""
    identity = warehouse_id(conn, create=create)
    if identity is None:
        return None
    path = reports_root() / dir_name(identity)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def load_page_name(load_id: int) -> str:
    return f"load-{int(load_id)}.html"


def gx_run_name(business_date: date, load_id: int) -> str:
    """GX's run name of a load's validation: says which business date and which load."""
    return f"{business_date.isoformat()}-load-{int(load_id)}"


def gx_pages_of_load(site: Path, business_date: date, load_id: int) -> list[Path]:
    """The GX validation pages of a load, every run of it (GX lays them out as
    ``validations/<suite path>/<run name>/<run time>/<batch>.html``), newest run first."""
    run = gx_run_name(business_date, load_id)
    pages = (site / GX_DOCS / "validations").glob(f"**/{run}/*/*.html")
    return sorted(pages, key=lambda p: (p.parent.name, str(p)), reverse=True)


def build_analytics_docs(url: str | None = None, *, progress: Callable[[str], None] = lambda m: None) -> Path | None:
    """``dbt docs generate --static`` with the marts in ``analytics`` (the published tables and
    their descriptions): one self-contained page, ``<site>/dbt_docs/index.html``. None when dbt
    could not build it (said on ``progress``): the site then has no dbt docs link."""
    url = url or warehouse.warehouse_url()
    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        site = site_dir(conn)
    work = get_settings().work_dir
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = Path(tempfile.mkdtemp(prefix="dbt-docs-", dir=work))
    progress("building the dbt docs of analytics")
    try:
        # docs generate only reads (compile and the catalog): nothing is built into analytics
        run_dbt(["docs", "generate", "--static"], url=url, target_path=str(target),
                extra_env={"CDW_DBT_MARTS_SCHEMA": "analytics"})
        built = target / "static_index.html"
        if not built.exists():
            progress("dbt docs could not be built: dbt wrote no static_index.html")
            return None
        page = site / DBT_DOCS / "index.html"
        page.parent.mkdir(exist_ok=True)
        staged = page.with_suffix(".tmp")
        shutil.copyfile(built, staged)
        os.replace(staged, page)  # a reader never sees half a page
        return page
    except DbtFailed as exc:
        progress(f"dbt docs could not be built: {exc}")
        return None
    finally:
        shutil.rmtree(target, ignore_errors=True)  # compiled SQL and logs: not part of the site
