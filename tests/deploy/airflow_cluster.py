"""A real Airflow deployment as local processes, for the deployment tests.

:class:`AirflowCluster` runs api-server, scheduler, dag-processor, triggerer and
(for the CeleryExecutor) Celery workers as subprocesses of the test, each in a
session of its own so that a stop (or a simulated crash) reaches every process it
started. Its metadata database is a fresh database on a PostgreSQL server, created
here and dropped at the end; its ``AIRFLOW_HOME`` is a temporary directory; the DAGs
and the ``cdw`` package come from this repository, with the same environment
``cdw run`` gives ``airflow dags test`` (``cdw.airflow_home.airflow_env``).

Use it as a context manager: every process is stopped, and the metadata database and
the broker's Redis database are cleaned, even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

import psycopg
from psycopg import sql

from cdw import airflow_home as cdw_airflow
from cdw import warehouse
from cdw.settings import REPO_ROOT

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = ("127.0.0.1", 6379)
DAG_ID = cdw_airflow.DAG_ID
TERMINAL_RUN_STATES = {"success", "failed"}


def pg_available(admin_url: str = LOCAL_PG) -> bool:
    try:
        psycopg.connect(admin_url, connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


def redis_available() -> bool:
    try:
        with socket.create_connection(LOCAL_REDIS, timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def fresh_database(admin_url: str = LOCAL_PG, prefix: str = "cdw_test_deploy", *, warehouse_schema: bool = False):
    """Create a database named ``<prefix>_<random>``; yield its URL; drop it (forcing out sessions)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = warehouse.with_database(admin_url, name)
    try:
        if warehouse_schema:
            with warehouse.connect(url) as conn:
                warehouse.ensure_schema(conn)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def pick_redis_db() -> int:
    """An empty Redis database number (8..15), so that parallel test sessions do not share a broker."""
    import redis

    client = redis.Redis(*LOCAL_REDIS)
    for number in secrets.SystemRandom().sample(range(8, 16), 8):
        client.execute_command("SELECT", number)
        if client.dbsize() == 0:
            return number
    raise RuntimeError("no empty Redis database among 8..15")


def flush_redis_db(number: int) -> None:
    import redis

    redis.Redis(*LOCAL_REDIS, db=number).flushdb()


def fernet_key() -> str:
    return urlsafe_b64encode(os.urandom(32)).decode()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path
    expected_dead: bool = False

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class AirflowCluster:
    """Airflow services as local processes (see the module docstring)."""

    root: Path
    warehouse_url: str
    landing: Path
    executor: str = "CeleryExecutor"
    admin_url: str = LOCAL_PG
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.home = self.root / "airflow"
        self.log_dir = self.root / "process-logs"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self._stack = contextlib.ExitStack()
        self.metadata_url: str | None = None
        self.redis_db: int | None = None
        self.env: dict[str, str] = {}

    # ---- life cycle ------------------------------------------------------------------

    def __enter__(self) -> AirflowCluster:
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.stop_all()
        self._stack.close()

    def _prepare(self) -> None:
        (self.home / "plugins").mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.metadata_url = self._stack.enter_context(fresh_database(self.admin_url, "cdw_test_airflow_meta"))
        p = warehouse.parse_url(self.metadata_url)
        auth = p.user + (f":{p.password}" if p.password else "")
        env = cdw_airflow.airflow_env(self.warehouse_url, self.landing)
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.home / "plugins"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{auth}@{p.host}:{p.port}/{p.dbname}",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            # one secret for every component: the api-server signs the workers' task tokens with it
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": fernet_key(),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # runs come from `dags trigger` and `backfill create` only: no run for "today"
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # quick recovery when a worker dies: a running task without heartbeat for 30 s is
            # failed (and retried), a task queued for 60 s on a dead worker is queued again
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
            # the DAG file does not change during a test: parse it once, spare the two cores
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__CORE__PARALLELISM": "8",
            # ports of the log servers: free ones (another session may run beside this one)
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        })
        if self.executor == "CeleryExecutor":
            self.redis_db = pick_redis_db()
            self._stack.callback(flush_redis_db, self.redis_db)
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}/{self.redis_db}",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{auth}@{p.host}:{p.port}/{p.dbname}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
                # a worker holds no more tasks than it runs: a dead worker strands few messages
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
                "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            })
        elif self.executor == "LocalExecutor":
            env["AIRFLOW__CORE__PARALLELISM"] = "4"
        env.update(self.extra_env)
        self.env = env
        cdw_airflow.ensure_cosmos_manifest()
        self.airflow("db", "migrate", timeout=600)
        self.airflow("pools", "set", cdw_airflow.WAREHOUSE_POOL, str(cdw_airflow.WAREHOUSE_POOL_SLOTS),
                     "caps concurrent work on the warehouse")

    # ---- processes -------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        """Run an Airflow CLI command with the cluster's environment."""
        done = subprocess.run([cdw_airflow.airflow_bin(), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=self.home)
        if check and done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} exited {done.returncode}:\n"
                               + (done.stderr or done.stdout)[-3000:])
        return done

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
        try:
            popen = subprocess.Popen([cdw_airflow.airflow_bin(), *args], env={**self.env, **(env or {})},
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.home,
                                     start_new_session=True)
        finally:
            log.close()
        proc = Proc(name, popen, log_path)
        self.procs[name] = proc
        return proc

    def start_services(self, *, triggerer: bool = True) -> None:
        """api-server, scheduler, dag-processor (and triggerer); returns when the api-server answers."""
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.api_port),
                   "--workers", "1")
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")
        if triggerer:
            self.start("triggerer", "triggerer", "--skip-serve-logs")
        self.wait_healthy()

    def start_worker(self, name: str, concurrency: int = 4) -> Proc:
        """A Celery worker ``<name>@<host>``; its tasks record ``name`` as their host name.

        Both workers run on one machine, where the default host name (the FQDN) would be
        the same: ``[core] hostname_callable`` reads ``CDW_TEST_WORKER_HOSTNAME`` instead.
        """
        return self.start(name, "celery", "worker", "--celery-hostname", f"{name}@%h",
                          "--concurrency", str(concurrency), "--skip-serve-logs", "--without-mingle",
                          env={"CDW_TEST_WORKER_HOSTNAME": name,
                               "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.deploy.worker_identity.hostname",
                               "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), self.env["PYTHONPATH"]])})

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process's whole session (a worker, its pool processes and their tasks)."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, sig)
        proc.expected_dead = True
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=30)

    def stop_all(self, grace: float = 20) -> None:
        """SIGTERM every session, SIGKILL what is left after ``grace`` seconds."""
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            # also the session's other members (task processes) when the leader is gone
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=10)

    def check_alive(self) -> None:
        dead = [p for p in self.procs.values() if not p.alive() and not p.expected_dead]
        if dead:
            raise RuntimeError("; ".join(f"{p.name} exited {p.popen.returncode}:\n{p.tail()}" for p in dead))

    def diagnostics(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.name} ({'running' if p.alive() else p.popen.returncode})\n{p.tail(lines)}"
                         for p in self.procs.values())

    # ---- waiting ---------------------------------------------------------------------

    def wait_healthy(self, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                    return json.load(response)
            except OSError as exc:
                last = exc
            time.sleep(2)
        raise TimeoutError(f"api-server not healthy after {timeout} s ({last})\n{self.diagnostics()}")

    def wait_log(self, name: str, text: str, timeout: float = 180) -> None:
        """Wait until process ``name`` has written ``text`` to its log (e.g. a worker's "ready.")."""
        deadline = time.monotonic() + timeout
        proc = self.procs[name]
        while time.monotonic() < deadline:
            self.check_alive()
            if text in proc.log_path.read_text(errors="replace"):
                return
            time.sleep(2)
        raise TimeoutError(f"{name} did not log {text!r} in {timeout} s\n{proc.tail()}")

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.metadata_url, autocommit=True) as conn:
            return conn.execute(statement, params).fetchall()

    def wait_dag_parsed(self, dag_id: str = DAG_ID, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.query("select 1 from serialized_dag where dag_id = %s", (dag_id,)):
                return
            time.sleep(3)
        raise TimeoutError(f"{dag_id} not parsed after {timeout} s\n{self.diagnostics()}")

    def trigger(self, business_date: str, run_id: str | None = None) -> str:
        run_id = run_id or f"cdw_test__{business_date}"
        conf = json.dumps({"business_date": business_date, "drop_wait_minutes": 0})
        self.airflow("dags", "trigger", DAG_ID, "--conf", conf, "--run-id", run_id)
        return run_id

    def run_states(self, dag_id: str = DAG_ID) -> dict[str, str]:
        return dict(self.query("select run_id, state from dag_run where dag_id = %s", (dag_id,)))

    def wait_runs_finished(self, run_ids: list[str] | None, timeout: float, count: int | None = None,
                           dag_id: str = DAG_ID) -> dict[str, str]:
        """Wait until the named runs (or ``count`` runs) have finished; return every run's state."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            self.check_alive()
            states = self.run_states(dag_id)
            wanted = run_ids if run_ids is not None else list(states)
            enough = count is None or len(states) >= count
            if enough and wanted and all(states.get(r) in TERMINAL_RUN_STATES for r in wanted):
                return states
            time.sleep(5)
        raise TimeoutError(f"runs not finished after {timeout} s: {states}\n{self.task_table()}\n"
                           f"{self.diagnostics()}")

    def task_table(self, run_id: str | None = None) -> str:
        rows = self.query(
            "select run_id, task_id, state, try_number, hostname from task_instance where dag_id = %s"
            + (" and run_id = %s" if run_id else "") + " order by run_id, start_date nulls last",
            (DAG_ID, run_id) if run_id else (DAG_ID,))
        return "\n".join(" | ".join(str(c) for c in row) for row in rows)
