"""Run the dbt project (``dbt_project/``) against a warehouse URL.

The committed ``dbt_project/profiles.yml`` reads everything from environment
variables (``CDW_PG_HOST``, ``CDW_PG_PORT``, ``CDW_PG_USER``, ``CDW_PG_PASSWORD``,
``CDW_PG_DBNAME``, and libpq's ``PGOPTIONS`` for the pipeline role and the
pseudonymisation key); :func:`dbt_env` derives them from a PostgreSQL URL, so the dbt
CLI, Cosmos and the tests share one profile. :func:`run_dbt` runs the dbt that is
installed beside the running Python and raises :class:`DbtFailed`, naming the
failing models and tests, when dbt fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cdw.pseudonyms import resolve_key, session_options
from cdw.settings import REPO_ROOT
from cdw.warehouse import parse_url, pipeline_options, warehouse_url

#: The dbt project (also its profiles directory).
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

#: Environment variable carrying the var ``business_date`` (see dbt_project/macros/business_dates.sql).
BUSINESS_DATE_ENV = "CDW_BUSINESS_DATE"

#: Statuses of run_results.json entries that mean failure.
_FAILED_STATUSES = {"error", "fail", "runtime error"}


class DbtFailed(RuntimeError):
    """A dbt command failed; ``failures`` names the failing nodes with their messages."""

    def __init__(self, args: list[str], returncode: int, failures: list[str], output: str):
        self.args_ = args
        self.returncode = returncode
        self.failures = failures
        self.output = output
        what = "; ".join(failures) if failures else _tail(output, 40)
        super().__init__(f"dbt {' '.join(args)} failed (exit {returncode}): {what}")


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def dbt_executable() -> str:
    """The ``dbt`` of the running virtualenv (next to ``sys.executable``)."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def _option_name(word: str) -> str | None:
    """The setting a libpq ``options`` word sets (``name=value`` after ``-c``), if any."""
    name, equals, _ = word.partition("=")
    return name.replace("-", "_") if equals else None


def merge_pg_options(inherited: str, ours: list[str]) -> str:
    """``inherited`` libpq options without the settings ``ours`` makes, then ``ours``.

    Idempotent: a process whose ``PGOPTIONS`` already holds an earlier result (Cosmos copies a
    task's environment into ``os.environ`` for OpenLineage, so an in-process ``airflow dags
    test`` hands each task the previous task's options) gets the same options, not the
    previous ones twice. Growing, they passed PostgreSQL's 10,000-byte startup packet after
    some thirty dbt tasks, and every later connection was refused ("invalid length of
    startup packet").
    """
    ours_names = {_option_name(word) for option in ours for word in option.split() if _option_name(word)}
    kept: list[str] = []
    words = inherited.split()
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-c" and i + 1 < len(words):
            setting, i = words[i + 1], i + 2
            if _option_name(setting) not in ours_names:
                kept += ["-c", setting]
            continue
        # the other spellings: -cname=value and --name=value
        setting = word[2:] if word.startswith(("-c", "--")) else None
        if setting is None or _option_name(setting) not in ours_names:
            kept.append(word)
        i += 1
    return " ".join([*kept, *ours])


def dbt_env(url: str, pseudonym_key: bytes | None = None) -> dict[str, str]:
    """Environment variables the committed profiles.yml and dbt need for ``url``.

    ``PGOPTIONS`` makes every dbt session act as the pipeline's role and carry the
    pseudonymisation key blocks (``cdw.pseudonyms``); ``pseudonym_key`` default: the
    environment's (or the generated local) key.
    """
    p = parse_url(url)
    options = [pipeline_options() or ""]
    options += session_options(pseudonym_key or resolve_key())
    # JIT compiles the marts' wide aggregates for seconds once history makes them look
    # expensive, more than it saves: dbt sessions run without it
    options.append("-c jit=off")
    return {
        "PGOPTIONS": merge_pg_options(os.environ.get("PGOPTIONS", ""), [o for o in options if o]),
        "CDW_PG_HOST": p.host,
        "CDW_PG_PORT": str(p.port),
        "CDW_PG_USER": p.user,
        "CDW_PG_PASSWORD": p.password,
        "CDW_PG_DBNAME": p.dbname,
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_USE_COLORS": "false",
        "DBT_PRINTER_WIDTH": "120",
    }


def _failures_from_run_results(path: Path) -> list[str]:
    try:
        results = json.loads(path.read_text(encoding="utf-8")).get("results", [])
    except (OSError, ValueError):
        return []
    failures = []
    for result in results:
        if str(result.get("status", "")).lower() in _FAILED_STATUSES:
            node = result.get("unique_id", "?")
            message = " ".join((result.get("message") or str(result.get("status"))).split())
            failures.append(f"{node}: {message[:800]}")
    return failures


def run_dbt_attached(args: list[str], *, url: str | None = None, business_date: str | None = None) -> int:
    """``cdw dbt``: run ``dbt <args>`` in the project with the pipeline's environment, its output on
    this terminal; dbt's exit status.

    The marts go to the private build schema (``CDW_BUILD_SCHEMA``) unless ``CDW_DBT_MARTS_SCHEMA``
    says otherwise: by hand as in the DAG, nothing reaches ``analytics`` without the gate.
    """
    from cdw.settings import get_settings

    env = {**os.environ, **dbt_env(url or warehouse_url())}
    env.setdefault("CDW_DBT_MARTS_SCHEMA", get_settings().build_schema)
    env.pop(BUSINESS_DATE_ENV, None)
    if business_date is not None:
        env[BUSINESS_DATE_ENV] = business_date
    command = [dbt_executable(), *args]
    if args and not any(a == "--project-dir" or a.startswith("--project-dir=") for a in args):
        command += ["--project-dir", str(DBT_PROJECT_DIR)]
    return subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, check=False).returncode


def run_dbt(
    args: list[str],
    *,
    url: str | None = None,
    vars: dict | None = None,
    target_path: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``dbt <args>`` in the project against ``url`` (default: the configured warehouse).

    ``vars`` become ``--vars`` (thresholds; the time zone is the warehouse's own, recorded in
    ``audit.warehouse_timezone``, never a var), except ``business_date``
    (``"2026-03-02"``: build that date; absent: every date), which is passed as
    ``CDW_BUSINESS_DATE`` so that dbt's partial parse survives from one day to the next;
    ``target_path`` keeps this run's artefacts apart (concurrent runs must not share one);
    ``extra_env`` overrides the project's environment variables (e.g. ``CDW_DBT_MARTS_SCHEMA``).
    Output is captured; raises :class:`DbtFailed` when dbt exits non-zero.
    """
    url = url or warehouse_url()
    target = Path(target_path) if target_path else DBT_PROJECT_DIR / "target"
    vars = dict(vars or {})
    # The business date travels as an environment variable the project reads at execution
    # time: a --vars that changes every day would force a full re-parse on every run.
    business_date = vars.pop("business_date", None)
    command = [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR)]
    if vars:
        command += ["--vars", json.dumps(vars, sort_keys=True, default=str)]
    if target_path:
        command += ["--target-path", str(target)]
    env = {**os.environ, **dbt_env(url), **(extra_env or {})}
    env.pop(BUSINESS_DATE_ENV, None)  # absent: every date, never a date left in the environment
    if business_date is not None:
        env[BUSINESS_DATE_ENV] = str(business_date)
    if target_path:
        env["DBT_LOG_PATH"] = str(target / "logs")
    run_results = target / "run_results.json"
    run_results.unlink(missing_ok=True)  # never report a previous run's failures
    proc = subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        raise DbtFailed(args, proc.returncode, _failures_from_run_results(run_results), output)
    return proc
