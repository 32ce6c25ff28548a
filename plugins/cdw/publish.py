"""Gate, publish and report one business date's load (thin first version).

The daily DAG calls, after dbt has built the star schema for the date:

* :func:`quality_gate`: the load is still the date's current one, its files
  reconcile (manifest rows = read = loaded + set aside), and the published fact
  holds exactly the ledger entries loaded for the date;
* :func:`publish`: records ``PUBLISHED`` for the load in ``audit.load_runs``
  (append-only: a new event row, never an update);
* :func:`report`: one line on what the date published.

A failed gate records ``FAILED`` with its reason and raises :class:`GateFailed`.
"""

from __future__ import annotations

from datetime import date

from cdw import warehouse
from cdw.version import code_version


class GateFailed(Exception):
    """The date's data did not pass the gate: not published (never retried)."""


def _latest_status(conn, load_id: int) -> tuple[str, object] | None:
    return conn.execute(
        "select status, started_at from audit.load_runs_latest where load_id = %s", (load_id,)
    ).fetchone()


def _record(conn, load_id: int, business_date: date, status: str, reason: str | None = None) -> None:
    row = conn.execute(
        "select min(started_at), max(landing_path) from audit.load_runs where load_id = %s", (load_id,)
    ).fetchone()
    conn.execute(
        "insert into audit.load_runs (load_id, business_date, started_at, finished_at, status, failure_reason,"
        " code_version, landing_path) values (%s, %s, coalesce(%s, clock_timestamp()), clock_timestamp(), %s, %s,"
        " %s, %s)",
        (load_id, business_date, row[0], status, reason, code_version(), row[1]),
    )


def _fact_rows(conn, business_date: date) -> int | None:
    """Rows of analytics.fct_transactions for the date; None when the table does not exist yet."""
    if conn.execute("select to_regclass('analytics.fct_transactions')").fetchone()[0] is None:
        return None
    date_key = int(business_date.strftime("%Y%m%d"))
    return conn.execute(
        "select count(*) from analytics.fct_transactions where date_key = %s", (date_key,)
    ).fetchone()[0]


def gate_faults(conn, business_date: date, load_id: int) -> list[str]:
    """Every reason not to publish the load (empty: publish)."""
    faults = []
    latest = _latest_status(conn, load_id)
    if latest is None:
        return [f"load {load_id} is not in audit.load_runs"]
    if latest[0] != "LOADED":
        faults.append(f"load {load_id} is {latest[0]}, not LOADED")
    files = conn.execute(
        "select file_name, manifest_rows, rows_read, rows_loaded, rows_quarantined"
        " from audit.file_reconciliation where load_id = %s order by file_name",
        (load_id,),
    ).fetchall()
    if not files:
        faults.append(f"load {load_id} has no file reconciliation")
    for name, manifest_rows, read, loaded, aside in files:
        if not (manifest_rows == read == (loaded or 0) + (aside or 0)):
            faults.append(f"{name} does not reconcile: manifest {manifest_rows}, read {read}, "
                          f"loaded {loaded} + set aside {aside}")
    loaded_txns = sum(f[3] or 0 for f in files if f[0].startswith("transactions"))
    fact = _fact_rows(conn, business_date)
    if fact is None:
        faults.append("analytics.fct_transactions does not exist")
    elif fact != loaded_txns:
        faults.append(f"analytics.fct_transactions has {fact} rows for {business_date}, "
                      f"{loaded_txns} ledger entries were loaded")
    return faults


def quality_gate(business_date: date, load_id: int, *, url: str | None = None) -> str:
    """Pass (a one-line verdict) or record FAILED and raise :class:`GateFailed`."""
    with warehouse.connect(url, autocommit=True) as conn:
        faults = gate_faults(conn, business_date, load_id)
        if faults:
            reason = "quality gate: " + "; ".join(faults)
            _record(conn, load_id, business_date, "FAILED", reason[:2000])
            raise GateFailed(f"{business_date} load {load_id} {reason}")
    return f"{business_date} load {load_id} passed the quality gate"


def publish(business_date: date, load_id: int, *, url: str | None = None) -> None:
    """Record the load as PUBLISHED (a new audit event; audit tables are append-only)."""
    with warehouse.connect(url) as conn, conn.transaction():
        # one publisher per date at a time; the load must still be the date's current one
        conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"cdw.publish.{business_date}",))
        latest = _latest_status(conn, load_id)
        if latest is None or latest[0] != "LOADED":
            raise GateFailed(f"{business_date} load {load_id} cannot be published: it is "
                             f"{latest[0] if latest else 'unknown'}")
        _record(conn, load_id, business_date, "PUBLISHED")


def report(business_date: date, load_id: int, *, url: str | None = None) -> str:
    """One line on the published date: files, rows loaded and set aside, fact rows."""
    with warehouse.connect(url, autocommit=True) as conn:
        status = _latest_status(conn, load_id)
        read, loaded, aside, n_files = conn.execute(
            "select coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0),"
            " coalesce(sum(rows_quarantined), 0), count(*) from audit.file_reconciliation where load_id = %s",
            (load_id,),
        ).fetchone()
        fact = _fact_rows(conn, business_date)
    return (f"{business_date} load {load_id} {status[0] if status else 'UNKNOWN'}: {n_files} files, "
            f"{read} read = {loaded} loaded + {aside} set aside; {fact or 0} ledger entries in analytics")
