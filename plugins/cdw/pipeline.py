"""``cdw run``: the daily pipeline for a range of business dates, through the Airflow DAG.

For each date in order, :func:`run_dates` runs

    airflow dags test customer_warehouse_daily <date> -c '{"business_date": "<date>", "drop_wait_minutes": 0}'

in a subprocess, against a project-local Airflow (``CDW_HOME/airflow``: SQLite
metadata database, dags and plugins from this repository, migrated once; see
``cdw.airflow_home``). ``airflow dags test`` runs the tasks in-process, one
after the other, and exits 1 when the run fails. The business date goes in as
the DAG's ``business_date`` param, so the DAG never guesses it from Airflow's
dates; ``drop_wait_minutes`` 0 makes a missing drop fail the date at once
instead of waiting for it.

Each date's Airflow output goes to ``CDW_HOME/logs/run-<date>-<time>.log``; one
progress line per date goes to ``progress`` (standard error in the CLI). A
failed date does not stop the later ones: each is its own business day.
"""

from __future__ import annotations

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


# The alert line cdw.alerts logs for every failed task (also in `airflow dags test` output).
_ALERT = re.compile(r"CDW ALERT [\w.\-]+?\.([\w.\-]+) failed for business date \S+ \([^)]*\): (.+)")
# structlog's console format ends a line with "[logger] loc=file.py:123 key=value …"
_LOG_SUFFIX = re.compile(r"\s+\[[\w.]+\]\s+loc=\S+.*$")


def _diagnose(log_text: str) -> tuple[list[str], str | None]:
    """Which tasks failed and the first one's error, read from the run's alert lines."""
    tasks: list[str] = []
    error = None
    for match in _ALERT.finditer(log_text):
        if match.group(1) not in tasks:
            tasks.append(match.group(1))
        if error is None:
            error = _LOG_SUFFIX.sub("", match.group(2)).strip()
    if error and len(error) > 240:
        error = error[:239] + "…"
    return tasks, error


def _run_one(business_date: date, env: dict[str, str], log_dir: Path) -> DateOutcome:
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    log_path = log_dir / f"run-{business_date.isoformat()}-{stamp}.log"
    conf = {"business_date": business_date.isoformat(), "drop_wait_minutes": 0}
    cmd = [airflow_home.airflow_bin(), "dags", "test", airflow_home.DAG_ID, business_date.isoformat(),
           "-c", json.dumps(conf)]
    started = time.monotonic()
    timed_out = False
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        # a session of its own: a timeout stops Airflow and every dbt process it started
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=airflow_home.airflow_home(),
                                start_new_session=True)
        try:
            returncode = proc.wait(timeout=DATE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                returncode = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                returncode = proc.wait()
    seconds = time.monotonic() - started
    if returncode == 0 and not timed_out:
        return DateOutcome(business_date, True, seconds, log_path)
    tasks, error = _diagnose(log_path.read_text(encoding="utf-8", errors="replace"))
    if timed_out:
        error = f"stopped after {DATE_TIMEOUT_SECONDS} s"
    elif error is None:
        error = f"airflow dags test exited {returncode}"
    return DateOutcome(business_date, False, seconds, log_path, tasks, error)


def run_dates(landing: Path, start: date, end: date, progress: Progress | None = None) -> RunReport:
    """Run the daily DAG for every business date from ``start`` to ``end`` (inclusive), in order."""
    from cdw.warehouse import warehouse_url

    say = progress or (lambda _message: None)
    report = RunReport()
    dates = _dates(start, end)
    if not dates:
        return report
    url = warehouse_url()
    env = airflow_home.prepare_airflow(url, Path(landing), say)
    log_dir = get_settings().home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for i, business_date in enumerate(dates, 1):
        outcome = _run_one(business_date, env, log_dir)
        report.outcomes.append(outcome)
        say(f"[{i}/{len(dates)}] {outcome.line()}")
    return report
