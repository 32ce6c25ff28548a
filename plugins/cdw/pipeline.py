"""``cdw run``: the daily pipeline for a range of business dates, through the Airflow DAG.

For each date in order, :func:`run_dates` runs

    airflow dags test customer_warehouse_daily -c '{"business_date": "<date>", "drop_wait_minutes": 0}'

in a subprocess (no logical date: see :func:`_run_one`), against a project-local
Airflow (``CDW_HOME/airflow``: SQLite metadata database, dags and plugins from this
repository, migrated once; see ``cdw.airflow_home``). ``airflow dags test`` runs the tasks in-process, one
after the other. Its exit status is not the verdict: a run that scheduled no task
exits 0. A date is published only when the audit trail holds PUBLISHED for a load
this run made (:func:`_verdict`); the failing task and the reason come from
``audit.load_runs`` and ``audit.alerts``, never from log text. The business date goes in as
the DAG's ``business_date`` param, so the DAG never guesses it from Airflow's
dates; ``drop_wait_minutes`` 0 makes a missing drop fail the date at once
instead of waiting for it.

Each date's Airflow output goes to ``CDW_HOME/logs/run-<date>-<time>.log``; one
progress line per date goes to ``progress`` (standard error in the CLI). A
failed date does not stop the later ones: each is its own business day.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from cdw import airflow_home
from cdw.settings import get_settings

#: A date that takes longer than this is stopped and counted as failed.
DATE_TIMEOUT_SECONDS = 3 * 3600

Progress = Callable[[str], None]


@dataclass
class DateOutcome:
    business_date: date
    ok: bool
    seconds: float
    log_path: Path
    failed_tasks: list[str] = field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        if self.ok:
            return f"{self.business_date} published in {self.seconds:.0f} s (log {self.log_path})"
        more = len(self.failed_tasks) - 1
        where = f" at {self.failed_tasks[0]}" + (f" (+{more} more)" if more > 0 else "") if self.failed_tasks else ""
        why = f": {self.error}" if self.error else ""
        return f"{self.business_date} FAILED in {self.seconds:.0f} s{where}{why} (log {self.log_path})"


@dataclass
class RunReport:
    outcomes: list[DateOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def failed_dates(self) -> list[date]:
        return [o.business_date for o in self.outcomes if not o.ok]

    def summary(self) -> str:
        """One line, e.g. ``3 dates: 2 published, 1 failed (2026-03-04)``."""
        n = len(self.outcomes)
        failed = self.failed_dates
        line = f"{n} date{'' if n == 1 else 's'}: {n - len(failed)} published, {len(failed)} failed"
        if failed:
            line += " (" + ", ".join(d.isoformat() for d in failed) + ")"
        return line


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass(frozen=True)
class _TrailMark:
    """Where the audit trail stood before a date's DAG run: what came after is that run's."""

    load_id: int
    alert_id: int


def _trail_mark(url: str) -> _TrailMark:
    from cdw import warehouse

    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        load_id, alert_id = conn.execute(
            "select (select coalesce(max(load_id), 0) from audit.load_runs),"
            " (select coalesce(max(alert_id), 0) from audit.alerts)").fetchone()
    return _TrailMark(load_id, alert_id)


# how cdw.alerts words an alert: "CDW ALERT <dag>.<task> failed for business date D (try n, run r): <error>"
_ALERT_PREFIX = re.compile(r"^CDW ALERT .*? failed for business date \S+ \(try [^)]*\): ")


def _verdict(url: str, business_date: date, mark: _TrailMark, returncode: int) -> tuple[bool, list[str], str | None]:
    """Published or not, the failed tasks and the reason, as the audit trail says for this run.

    Published means: a load of the date made after ``mark`` is PUBLISHED and the DAG run
    succeeded. Anything else is a failure, named: no load at all (a run that scheduled no
    task exits 0, see stack notes), a load that stopped short, or a run that failed after it.
    """
    from cdw import warehouse

    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        load = conn.execute(
            "select load_id, status, failure_reason from audit.load_runs_latest"
            " where business_date = %s and load_id > %s order by load_id desc limit 1",
            (business_date, mark.load_id)).fetchone()
        alerts = conn.execute(
            "select task_id, message from audit.alerts where business_date = %s and alert_id > %s"
            " order by alert_id", (business_date, mark.alert_id)).fetchall()
    tasks: list[str] = []
    for task_id, _message in alerts:
        if task_id and task_id not in tasks:
            tasks.append(task_id)
    alert_error = _ALERT_PREFIX.sub("", alerts[0][1]) if alerts else None
    ran = "the DAG run succeeded" if returncode == 0 else f"the DAG run failed (airflow exited {returncode})"
    if load is None:
        return False, tasks, alert_error or f"no load of this date in audit.load_runs: {ran} without loading it"
    load_id, status, reason = load
    if status == "PUBLISHED" and returncode == 0:
        return True, tasks, None
    if status == "PUBLISHED":
        return False, tasks, f"load {load_id} is PUBLISHED but {ran}" + (f": {alert_error}" if alert_error else "")
    if status == "FAILED":
        return False, tasks, f"load {load_id} FAILED: {reason or alert_error or ran}"
    return False, tasks, f"load {load_id} is {status}, not PUBLISHED ({ran})" + (
        f": {alert_error}" if alert_error else "")


def _shorten(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stop(proc: subprocess.Popen) -> int:
    """Stop the DAG run and every process it started (its own session): SIGINT, then SIGKILL.

    Not SIGTERM: in ``airflow dags test`` every task installs a SIGTERM handler that only calls the
    operator's ``on_kill`` and returns, so the DAG run would go on to publish the date. SIGINT stops
    the running task (and the dbt it started) with KeyboardInterrupt, which ends the DAG run.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def _run_one(business_date: date, env: dict[str, str], log_dir: Path, url: str) -> DateOutcome:
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    log_path = log_dir / f"run-{business_date.isoformat()}-{stamp}.log"
    conf = {"business_date": business_date.isoformat(), "drop_wait_minutes": 0}
    # No logical date: Airflow's defaults to now, so no business date, however far back, falls
    # before the DAG's start_date (a run before it schedules no task and "succeeds").
    cmd = [airflow_home.airflow_bin(), "dags", "test", airflow_home.DAG_ID, "-c", json.dumps(conf)]
    mark = _trail_mark(url)
    started = time.monotonic()
    timed_out = False
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        # a session of its own: a timeout or Ctrl-C stops Airflow and every dbt process it started
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=airflow_home.airflow_home(),
                                start_new_session=True)
        try:
            returncode = proc.wait(timeout=DATE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = _stop(proc)
        except BaseException:  # Ctrl-C or SIGTERM of cdw itself: the DAG run must not go on alone
            _stop(proc)
            raise
    seconds = time.monotonic() - started
    ok, tasks, error = _verdict(url, business_date, mark, returncode)
    if timed_out:
        ok, error = False, f"stopped after {DATE_TIMEOUT_SECONDS} s; " + (error or "")
    return DateOutcome(business_date, ok, seconds, log_path, tasks, _shorten(error) if error else None)


def run_dates(landing: Path, start: date, end: date, progress: Progress | None = None) -> RunReport:
    """Run the daily DAG for every business date from ``start`` to ``end`` (inclusive), in order."""
    from cdw import warehouse
    from cdw.warehouse import warehouse_url

    say = progress or (lambda _message: None)
    report = RunReport()
    dates = _dates(start, end)
    if not dates:
        return report
    url = warehouse_url()
    with warehouse.connect(url, autocommit=True) as admin:
        warehouse.ensure_schema(admin)  # the audit trail the verdicts are read from
    env = airflow_home.prepare_airflow(url, Path(landing), say)
    log_dir = get_settings().home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for i, business_date in enumerate(dates, 1):
        outcome = _run_one(business_date, env, log_dir, url)
        report.outcomes.append(outcome)
        say(f"[{i}/{len(dates)}] {outcome.line()}")
    return report
