"""How the project runs inside Airflow: its Airflow home, the warehouse connection, the Cosmos manifest.

Two halves:

* set-up, run by ``cdw run`` before it calls ``airflow dags test`` (never at DAG
  import): a project-local ``AIRFLOW_HOME`` under ``CDW_HOME/airflow`` with a
  SQLite metadata database migrated once, the ``cdw_warehouse`` pool, the
  environment the Airflow subprocesses get (:func:`airflow_env`), and the dbt
  manifest Cosmos renders the DAG from (:func:`ensure_cosmos_manifest`); the same
  home serves the local Airflow UI of ``bin/airflow-ui`` (:func:`ui_env`);
* helpers the DAG's tasks call at run time: the warehouse URL from the
  ``cdw_warehouse`` Airflow connection (:func:`task_warehouse_url`), the dbt
  profile's environment for Cosmos (:func:`dbt_env_interceptor`), the drop
  check of the sensor (:func:`poke_drop`).

Heavy imports (Airflow, dbt) stay inside functions: the DAG file imports this
module at parse time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cdw.settings import REPO_ROOT, get_settings

DAG_ID = "customer_warehouse_daily"
#: Airflow connection the tasks read the warehouse from (``AIRFLOW_CONN_CDW_WAREHOUSE``).
WAREHOUSE_CONN_ID = "cdw_warehouse"
#: Pool capping concurrent warehouse work (loads, dbt models, gates, publish).
WAREHOUSE_POOL = "cdw_warehouse"
WAREHOUSE_POOL_SLOTS = 4

DAGS_DIR = REPO_ROOT / "dags"
PLUGINS_DIR = REPO_ROOT / "plugins"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_PROFILE, DBT_TARGET = "cdw", "warehouse"  # dbt_project/profiles.yml
#: Cosmos renders from a manifest of its own: a dbt command run elsewhere rewrites
#: target/manifest.json (new generated_at), and Cosmos hashes the manifest into the DAG
#: version. This one changes only when the dbt project's files change.
COSMOS_TARGET_DIR = DBT_PROJECT_DIR / "target_cosmos"
COSMOS_MANIFEST = COSMOS_TARGET_DIR / "manifest.json"
_COSMOS_STAMP = COSMOS_TARGET_DIR / "sources.sha256"
_DBT_SOURCE_DIRS = ("models", "macros", "seeds", "snapshots", "tests", "analyses")

#: Telemetry tries the network and logs an error per task offline.
TELEMETRY_OFF = {
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "SCARF_ANALYTICS": "false",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "false",
}

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# ---- set-up (cdw run) --------------------------------------------------------------


def airflow_home() -> Path:
    return get_settings().home / "airflow"


def connection_json(url: str) -> str:
    """The warehouse URL as an Airflow connection in JSON form (``AIRFLOW_CONN_CDW_WAREHOUSE``).

    JSON rather than a URI: a socket-directory host (``/…/pgdata``) survives it as is,
    where Airflow's URI form lower-cases and re-quotes host names.
    """
    from cdw.warehouse import parse_url

    p = parse_url(url)
    return json.dumps({"conn_type": "postgres", "host": p.host, "port": p.port, "login": p.user,
                       "password": p.password, "schema": p.dbname})


def airflow_env(url: str, landing: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Airflow subprocess ``cdw run`` starts."""
    home = airflow_home()
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    env.update(TELEMETRY_OFF)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        # Not the repository's plugins/: Airflow execs every .py file under its plugins folder
        # as a top-level module named after the file (plugins/cdw/dbt.py would replace the
        # `dbt` package in sys.modules). The cdw package is importable from PYTHONPATH instead.
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(PLUGINS_DIR), env.get("PYTHONPATH", "")) if p),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # Cosmos keeps dbt's partial_parse.msgpack between tasks in its cache dir, by default
        # /tmp/cosmos, shared by every Airflow home and checkout on the machine. dbt discards that
        # file when the profile's connection (host, user, database) differs from its own: a run or
        # test against another warehouse in between made the next task re-parse the whole project
        # (10-15 s). One cache per Airflow home keeps it matching this home's warehouse.
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos_cache"),
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": connection_json(url),
        "CDW_WAREHOUSE_URL": url,
        "CDW_LANDING_ROOT": str(Path(landing).resolve()),
        "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
    })
    settings = get_settings()
    if settings.pseudonym_key is None and settings.warehouse_url is None:
        # the embedded warehouse's generated key: the tasks see a configured URL, not "embedded"
        from cdw.pseudonyms import resolve_key

        env["CDW_PSEUDONYM_KEY"] = resolve_key().decode("utf-8")
    return env


def airflow_bin() -> str:
    return str(Path(sys.executable).parent / "airflow")


@contextlib.contextmanager
def _locked(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], env: dict[str, str], what: str, timeout: float = 600) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))


def prepare_airflow(url: str, landing: Path, progress: Progress = _quiet) -> dict[str, str]:
    """Create the Airflow home and the Cosmos manifest when missing; return the subprocess environment.

    ``airflow db migrate`` and the pool are done once per Airflow version (a stamp file
    records it); later calls cost a few file checks.
    """
    home = airflow_home()
    (home / "plugins").mkdir(parents=True, exist_ok=True)
    env = airflow_env(url, landing)
    ensure_cosmos_manifest(progress)
    from importlib.metadata import version

    stamp = home / f".migrated-{version('apache-airflow')}"
    with _locked(home / ".setup.lock"):
        if not (stamp.exists() and (home / "airflow.db").exists()):
            progress(f"preparing Airflow in {home} (airflow db migrate, once)")
            _run([airflow_bin(), "db", "migrate"], env, "airflow db migrate")
            _run([airflow_bin(), "pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS),
                  "caps concurrent work on the warehouse"], env, "airflow pools set")
            stamp.write_text(datetime.now(UTC).isoformat() + "\n")
    return env


def ui_env(env: dict[str, str], port: int) -> dict[str, str]:
    """The environment of a local Airflow UI (``bin/airflow-ui``) on ``prepare_airflow``'s home.

    api-server, scheduler, dag-processor and triggerer on this machine with the
    LocalExecutor, like ``airflow standalone``: one JWT secret for all of them (kept in
    the Airflow home, readable by its owner only), the execution API on the api-server's
    ``port``, the simple auth manager's admin user with a generated password in
    :func:`ui_password_file`.
    """
    home = Path(env["AIRFLOW_HOME"])
    secret_file = home / ".jwt_secret"
    if not secret_file.exists():
        import secrets

        secret_file.touch(mode=0o600)
        secret_file.write_text(secrets.token_urlsafe(32) + "\n")
    url = f"http://localhost:{port}"
    return {
        **env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text().strip(),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(ui_password_file()),
    }


def ui_password_file() -> Path:
    """Where the simple auth manager writes the local UI's generated admin password."""
    return airflow_home() / "simple_auth_manager_passwords.json.generated"


def dbt_sources_digest() -> str:
    """A hash of every file of the dbt project that can change its manifest."""
    digest = hashlib.sha256()
    files = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml",
             DBT_PROJECT_DIR / "packages.yml", DBT_PROJECT_DIR / "selectors.yml"]
    for folder in _DBT_SOURCE_DIRS:
        files.extend(sorted(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()))
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_cosmos_manifest(progress: Progress = _quiet) -> Path:
    """``dbt parse`` into ``dbt_project/target_cosmos`` when the dbt project changed since the last parse.

    Parsing needs the profile to render but no connection: placeholder values stand in
    for connection settings that are not in the environment.
    """
    digest = dbt_sources_digest()
    with _locked(COSMOS_TARGET_DIR.parent / ".cosmos_manifest.lock"):
        if COSMOS_MANIFEST.exists() and _COSMOS_STAMP.exists() and _COSMOS_STAMP.read_text().strip() == digest:
            return COSMOS_MANIFEST
        progress(f"dbt parse: building the manifest Cosmos renders from ({COSMOS_MANIFEST})")
        env = dict(os.environ)
        env.update(TELEMETRY_OFF)
        for key, placeholder in (("CDW_PG_HOST", "localhost"), ("CDW_PG_USER", "cdw"), ("CDW_PG_DBNAME", "cdw")):
            env.setdefault(key, placeholder)
        dbt = str(Path(sys.executable).parent / "dbt")
        _run([dbt, "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
              "--target-path", str(COSMOS_TARGET_DIR), "--log-path", str(COSMOS_TARGET_DIR / "logs"),
              "--no-partial-parse", "--quiet"], env, "dbt parse")
        _COSMOS_STAMP.write_text(digest + "\n")
    return COSMOS_MANIFEST


# ---- at task run time --------------------------------------------------------------


def task_warehouse_url(start: bool = True) -> str:
    """The warehouse a task works on: the ``cdw_warehouse`` Airflow connection, else ``cdw.warehouse``'s URL.

    ``start=False``: never start the embedded server for it (an alert must not).
    """
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from cdw.warehouse import UrlParts, build_url, warehouse_url

    try:
        conn = Connection.get(WAREHOUSE_CONN_ID)
    except AirflowNotFoundException:
        return warehouse_url(start=start)
    return build_url(UrlParts(host=conn.host or "localhost", port=int(conn.port or 5432),
                              user=conn.login or "postgres", password=conn.password or "",
                              dbname=conn.schema or "postgres"))


def task_bank_timezone() -> str:
    """The warehouse's zone (``cdw.warehouse.bank_timezone``), read by a task."""
    from cdw import warehouse

    url = task_warehouse_url()
    with warehouse.connect(url, autocommit=True) as admin:
        warehouse.ensure_schema(admin)  # a new warehouse's first scheduled run: its roles and audit trail
    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        return warehouse.bank_timezone(conn)


def task_missed_dates(business_date: date) -> list[date]:
    """Earlier business dates never loaded since the latest one that was (``cdw.business_date.missed_dates``)."""
    from cdw import warehouse
    from cdw.business_date import missed_dates

    with warehouse.connect(task_warehouse_url(), pipeline=True, autocommit=True) as conn:
        last = conn.execute("select max(business_date) from audit.load_runs where business_date < %s",
                            (business_date,)).fetchone()[0]
    return missed_dates(last, business_date)


def task_pseudonym_key() -> bytes:
    """The pseudonymisation key of a task: the ``cdw_pseudonym_key`` connection's password, else
    ``cdw.pseudonyms.resolve_key``'s; masked in the task's log either way."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from cdw.pseudonyms import KEY_CONN_ID, resolve_key

    try:
        password = Connection.get(KEY_CONN_ID).password or None
    except AirflowNotFoundException:
        password = None
    key = resolve_key(password)
    _mask(key.decode("utf-8"))
    return key


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)
    for word in secret.split():  # each key block inside PGOPTIONS, should one be logged alone
        if word.startswith("cdw.pseudonym_"):
            mask_secret(word.partition("=")[2])


def dbt_env_interceptor(context, operator) -> None:
    """Cosmos interceptor: give the dbt command the profile's environment (``cdw.dbt.dbt_env``) at run time.

    Resolved when the task runs, not when the DAG is parsed: no connection lookup at import.

    Also freezes the objects the task process holds so far (``gc.freeze``): after every dbt
    command Cosmos runs a full ``gc.collect()`` (its ``_cleanup_dbt_adapters``, Cosmos #2334),
    and in a process that has imported Airflow and dbt (and, under ``airflow dags test``,
    run the earlier tasks) that walks some 800,000 objects: 1–2 s per dbt task on these
    machines, before the next task can start. Frozen objects are skipped by the collector;
    what dbt allocates during the task is still collected.
    """
    import gc

    from cdw.dbt import dbt_env

    gc.freeze()

    env = dbt_env(task_warehouse_url(), pseudonym_key=task_pseudonym_key())
    _mask(env["PGOPTIONS"])
    operator.env = {**(operator.env or {}), **TELEMETRY_OFF, **env,
                    # write-audit-publish: dbt writes the private build schema, never analytics
                    "CDW_DBT_MARTS_SCHEMA": get_settings().build_schema}


def record_dbt_results(project_dir: str, context=None, **_) -> None:
    """Cosmos callback: append the task's dbt results to ``audit.dbt_results`` (``cdw.dbt_results``).

    Cosmos calls it after the dbt command, in the temporary project copy whose
    ``target/run_results.json`` is deleted when the task ends, and before it raises for a
    failed dbt command: so it never raises itself (a recording fault must not take the place
    of dbt's failure, nor fail a build that passed). What it could not record, the report
    lists as having no recorded result.
    """
    from cdw import warehouse
    from cdw.dbt_results import record_run_results

    ti = (context or {}).get("ti")
    run_results = Path(project_dir) / "target" / "run_results.json"
    try:
        if ti is None:
            raise RuntimeError("no task instance in the callback's context")
        load_id = ti.xcom_pull(task_ids="load_raw")
        business_date = ti.xcom_pull(task_ids="resolve_business_date")
        if load_id is None or business_date is None:
            raise RuntimeError("no load id or business date from load_raw / resolve_business_date")
        if not run_results.is_file():
            raise RuntimeError("dbt wrote no run_results.json (it stopped before running a node)")
        with warehouse.connect(task_warehouse_url(), pipeline=True, autocommit=True) as conn:
            rows = record_run_results(conn, int(load_id), business_date, run_results, run_id=ti.run_id,
                                      task_id=ti.task_id, try_number=ti.try_number)
        print(f"dbt results recorded in audit.dbt_results: {rows} node(s), load {load_id}")
    except Exception as exc:  # noqa: BLE001 - see the docstring: never hide dbt's own outcome
        print(f"WARNING: dbt results of this task NOT recorded in audit.dbt_results:"
              f" {type(exc).__name__}: {' '.join(str(exc).split())[:500]}")


def drop_manifest(business_date: date | str) -> Path:
    """``<landing root>/<business date>/_manifest.json``: written last, it marks a drop complete."""
    return get_settings().landing_root / str(business_date) / "_manifest.json"


class DropMissing(Exception):
    """The drop did not arrive in the time allowed."""


def poke_drop(business_date: date | str, waited: timedelta, max_wait: timedelta) -> Path | None:
    """The drop's manifest when it is there; None to poke again; :class:`DropMissing` when time is up."""
    manifest = drop_manifest(business_date)
    if manifest.is_file():
        return manifest
    if waited >= max_wait:
        minutes = int(max_wait.total_seconds() // 60)
        raise DropMissing(
            f"no drop for business date {business_date}: {manifest} has not arrived"
            + (f" after {minutes} min" if minutes else "")
        )
    return None
