"""docker-compose.yml, .env.example and Dockerfile: valid, complete, scalable, no committed secret.

Validation uses the first that works: ``docker compose config`` (the plugin),
``docker-compose config`` (Debian's docker-compose, installed here with apt-get when
the session runs as root and apt can reach its mirror), else the same checks on the
file as PyYAML reads it with the ``.env`` values substituted by this module. Neither
CLI needs a running Docker engine for ``config``. The topology assertions run on the
resolved configuration either way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cdw.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"

AIRFLOW_SERVICES = {"airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"}
ALL_SERVICES = AIRFLOW_SERVICES | {"airflow-db", "warehouse-db", "redis", "site"}
SECRETS = ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_DB_PASSWORD", "CDW_WAREHOUSE_PASSWORD",
           "CDW_PSEUDONYM_KEY")
LANDING_IN_CONTAINER = "/opt/cdw/landing"
REPORTS_VOLUME = "cdw-reports"
#: the services that write the site: workers (reports, GX Data Docs), airflow-init (dbt docs)
SITE_WRITERS = ("airflow-worker", "airflow-init")


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run([*cmd, "version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _try_apt_install() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(["apt-get", "install", "-y", "-qq", "docker-compose"], capture_output=True,
                              timeout=300, env=env)
        if done.returncode != 0:  # stale package lists: refresh once, then retry
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "docker-compose"], capture_output=True,
                           timeout=300, env=env)
    except (OSError, subprocess.TimeoutExpired):
        pass


@pytest.fixture(scope="session")
def compose_cli() -> list[str] | None:
    """The compose command line to validate with, or None (then PyYAML)."""
    if shutil.which("docker") and _works(["docker", "compose"]):
        return ["docker", "compose"]
    if not shutil.which("docker-compose"):
        _try_apt_install()
    if shutil.which("docker-compose") and _works(["docker-compose"]):
        return ["docker-compose"]
    return None


def _env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@pytest.fixture
def filled_env(tmp_path) -> tuple[Path, dict[str, str]]:
    """``.env.example`` with every secret filled in (made-up values)."""
    values = _env_file_values(ENV_EXAMPLE)
    made_up = {"AIRFLOW_FERNET_KEY": "dGVzdC1mZXJuZXQta2V5LW9mLTMyLWJ5dGVzLTEyMzQ=",
               "AIRFLOW_JWT_SECRET": "0123456789abcdef0123456789abcdef",
               "AIRFLOW_DB_PASSWORD": "a1b2c3", "CDW_WAREHOUSE_PASSWORD": "d4e5f6",
               "CDW_PSEUDONYM_KEY": "0123456789abcdef0123456789abcdef"}
    values.update(made_up)
    path = tmp_path / "test.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path, values


_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$\$")


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: ${V}, ${V:-default}, ${V-default}, ${V:?error}, $$."""
    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        value = env.get(name)
        if op in (":-", ":?") and not value:
            value = None
        if value is None:
            if op and op.endswith("?"):
                raise ValueError(f"required variable {name} is missing a value: {arg}")
            return arg if op else ""
        return value
    return _VAR.sub(replace, text)


def _config(compose_cli, env_file: Path) -> tuple[int, str, dict | None]:
    """(exit status, error text, resolved configuration)."""
    if compose_cli:
        done = subprocess.run([*compose_cli, "--env-file", str(env_file), "-f", str(COMPOSE_FILE),
                               "--project-directory", str(REPO_ROOT), "config"],
                              capture_output=True, text=True, timeout=120, cwd=env_file.parent)
        return done.returncode, done.stderr, yaml.safe_load(done.stdout) if done.returncode == 0 else None
    try:
        text = _interpolate(COMPOSE_FILE.read_text(), _env_file_values(env_file))
    except ValueError as exc:
        return 1, str(exc), None
    return 0, "", yaml.safe_load(text)


@pytest.fixture
def config(compose_cli, filled_env) -> dict:
    status, error, resolved = _config(compose_cli, filled_env[0])
    assert status == 0, f"{compose_cli or 'yaml'} config failed: {error}"
    return resolved


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _mounts(service: dict) -> list[tuple[str, bool]]:
    """(target, read-only) of every volume of a service, short or long syntax."""
    out = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            out.append((parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            out.append((volume["target"], bool(volume.get("read_only"))))
    return out


def test_compose_validates(config, compose_cli):
    assert ALL_SERVICES <= set(config["services"]), sorted(config["services"])
    print(f"validated with {' '.join(compose_cli) if compose_cli else 'PyYAML (no compose CLI)'}")


def _compose_schema() -> Path | None:
    """The compose-spec JSON schema, when an installed package ships one (Debian's docker-compose does)."""
    import glob
    import site
    import sys

    roots = [*site.getsitepackages(), "/usr/lib/python3/dist-packages", *sys.path]
    for root in roots:
        for found in glob.glob(f"{root}/compose/config/compose_spec.json"):
            return Path(found)
    return None


def test_compose_spec_schema(filled_env):
    """The file (variables substituted) against the compose-spec JSON schema, independent of any CLI."""
    schema_path = _compose_schema()
    if schema_path is None:
        pytest.skip("no compose-spec JSON schema installed")
    import jsonschema

    document = yaml.safe_load(_interpolate(COMPOSE_FILE.read_text(), filled_env[1]))
    schema = json.loads(schema_path.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_missing_secret_is_refused(compose_cli, tmp_path):
    """.env.example as committed (secrets empty) does not start anything: compose names the variable."""
    env_file = tmp_path / "unfilled.env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    status, error, _ = _config(compose_cli, env_file)
    assert status != 0
    assert any(name in error for name in SECRETS), error


def test_no_secret_committed():
    example = _env_file_values(ENV_EXAMPLE)
    for name in SECRETS:
        assert name in example and example[name] == "", f"{name} must be an empty placeholder in .env.example"
    assert "how" in ENV_EXAMPLE.read_text().lower() or "generate" in ENV_EXAMPLE.read_text().lower()
    text = COMPOSE_FILE.read_text()
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "POSTGRES_PASSWORD"):
        for line in text.splitlines():
            if line.strip().startswith(key + ":"):
                assert "${" in line, f"literal secret in docker-compose.yml: {line.strip()}"


def test_every_service_has_a_healthcheck(config):
    for name, service in config["services"].items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"


def test_workers_scale(config):
    worker = config["services"]["airflow-worker"]
    assert "container_name" not in worker and "hostname" not in worker
    assert not worker.get("ports"), "a published port would clash between worker replicas"
    command = worker["command"]
    assert "celery worker" in (" ".join(command) if isinstance(command, list) else command)


def test_airflow_services_share_one_environment(config, filled_env):
    _, values = filled_env
    services = config["services"]
    api_port = re.search(r"--port\s+(\d+)", str(services["airflow-api-server"]["command"])).group(1)
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == values["AIRFLOW_JWT_SECRET"], name
        assert env["AIRFLOW__CORE__FERNET_KEY"] == values["AIRFLOW_FERNET_KEY"], name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://airflow-api-server:{api_port}/execution/"
        assert "redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"], name
        assert "@airflow-db:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert "FabAuthManager" not in env.get("AIRFLOW__CORE__AUTH_MANAGER", ""), name
        conn = json.loads(env["AIRFLOW_CONN_CDW_WAREHOUSE"])
        assert conn["host"] == "warehouse-db" and conn["password"] == values["CDW_WAREHOUSE_PASSWORD"], name
        assert services[name].get("image") == services["airflow-worker"]["image"], "one image for all"


def test_environment_comes_from_one_anchor():
    """Each Airflow service merges the x-airflow-common block (same YAML node, not a copy)."""
    root = yaml.compose(COMPOSE_FILE.read_text())
    top = {key.value: value for key, value in root.value}
    common, common_env = top["x-airflow-common"], top["x-airflow-common-env"]
    services = {key.value: value for key, value in top["services"].value}
    for name in AIRFLOW_SERVICES:
        merged = [value for key, value in services[name].value if key.value == "<<"]
        assert merged and merged[0] is common, f"{name} does not merge *airflow-common"
    common_keys = {key.value: value for key, value in common.value}
    env_merge = [v for k, v in common_keys["environment"].value if k.value == "<<"]
    assert env_merge and env_merge[0] is common_env


def test_landing_is_read_only_in_workers_and_triggerer(config):
    for name in ("airflow-worker", "airflow-triggerer"):
        env = _env(config["services"][name])
        assert env["CDW_LANDING_ROOT"] == LANDING_IN_CONTAINER
        mounts = dict(_mounts(config["services"][name]))
        assert mounts.get(LANDING_IN_CONTAINER) is True, f"{name}: landing not mounted read-only ({mounts})"


def test_init_prepares_and_gates_the_rest(config):
    services = config["services"]
    init = services["airflow-init"]
    script = " ".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    for step in ("airflow db migrate", "airflow pools set cdw_warehouse", "ensure_cosmos_manifest",
                 "cdw_warehouse", "ensure_schema"):
        assert step in script, step
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        depends = services[name].get("depends_on") or {}
        assert depends.get("airflow-init", {}).get("condition") == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["airflow-api-server"]["condition"] == "service_healthy"


def test_dockerfile_installs_from_the_lock():
    text = DOCKERFILE.read_text()
    assert re.search(r"uv sync --frozen --no-dev", text)
    assert "python:3.11" in text
    assert "COPY pyproject.toml uv.lock" in text


def _named_volumes(service: dict) -> dict[str, tuple[str, bool]]:
    """target -> (named volume, read-only) of a service's named volumes, short or long syntax."""
    out = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            if not parts[0].startswith((".", "/", "$")):
                out[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
        elif volume.get("type", "volume") == "volume":
            out[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
    return out


def _published(service: dict) -> list[tuple[str, str, str]]:
    """(host address, host port, container port) of every published port, short or long syntax."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, str):
            host_ip, published, target = port.split(":")
            out.append((host_ip, published, target.removesuffix("/tcp")))
        else:
            out.append((port.get("host_ip", ""), str(port.get("published")), str(port["target"])))
    return out


def test_reports_are_one_volume_the_writers_share_and_the_site_reads(config):
    """Every report, GX Data Docs page and the dbt docs land in one named volume at CDW_HOME/reports,
    whichever worker wrote them; the site mounts it read-only. Only reports: CDW_HOME's work folder
    (a running load's personal data in clear) is not on it."""
    services = config["services"]
    assert REPORTS_VOLUME in (config.get("volumes") or {})
    homes = {_env(services[name])["CDW_HOME"] for name in (*SITE_WRITERS, "site")}
    assert len(homes) == 1, homes
    reports = f"{homes.pop()}/reports"
    for name in SITE_WRITERS:
        assert _named_volumes(services[name]).get(reports) == (REPORTS_VOLUME, False), name
    assert _named_volumes(services["site"]).get(reports) == (REPORTS_VOLUME, True)
    for name, service in services.items():
        assert (REPORTS_VOLUME, False) not in [v for t, v in _named_volumes(service).items() if t != reports], name
    assert "/opt/airflow/cdw/reports" in DOCKERFILE.read_text()  # the mount point is the airflow user's


def test_site_serves_read_only_on_this_machine(config, filled_env):
    _, values = filled_env
    site = config["services"]["site"]
    entrypoint = site["entrypoint"] if isinstance(site["entrypoint"], list) else site["entrypoint"].split()
    command = site["command"] if isinstance(site["command"], list) else site["command"].split()
    assert [*entrypoint, *command][:2] == ["cdw", "serve"]
    port = command[command.index("--port") + 1]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # inside the container; published below
    assert [(ip, target) for ip, _, target in _published(site)] == [("127.0.0.1", port)]
    env = _env(site)
    assert env["CDW_WAREHOUSE_URL"] == _env(config["services"]["airflow-worker"])["CDW_WAREHOUSE_URL"]
    assert values["CDW_WAREHOUSE_PASSWORD"] in env["CDW_WAREHOUSE_URL"]
    # it needs the warehouse only: no Airflow secret, no pseudonym key
    assert not [k for k in env if k.startswith("AIRFLOW") or k == "CDW_PSEUDONYM_KEY"], sorted(env)
    assert f"localhost:{port}/" in " ".join(site["healthcheck"]["test"])
    assert site["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_init_builds_the_dbt_docs_of_analytics_for_the_site(config):
    init = config["services"]["airflow-init"]
    script = " ".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert "build_analytics_docs" in script
