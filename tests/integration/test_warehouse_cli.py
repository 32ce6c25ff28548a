"""`cdw warehouse start|stop|status|url` on an embedded server of its own (separate CDW_HOME)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

CDW = str(Path(sys.executable).parent / "cdw")


def cdw(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([CDW, *args], capture_output=True, text=True, env=env, timeout=120)


def test_embedded_warehouse_lifecycle(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CDW_WAREHOUSE_URL"}
    env["CDW_HOME"] = str(tmp_path / "home")
    try:
        assert cdw("warehouse", "status", env=env).returncode == 1
        started = cdw("warehouse", "start", env=env)
        assert started.returncode == 0, started.stderr
        url = cdw("warehouse", "url", env=env).stdout.strip().splitlines()[-1]
        assert url.startswith("postgresql://") and str(tmp_path) in url  # a socket in CDW_HOME
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_database()").fetchone()[0] == "cdw"
        status = cdw("warehouse", "status", env=env)
        assert status.returncode == 0 and "running" in status.stdout
        assert cdw("warehouse", "stop", env=env).returncode == 0
        assert cdw("warehouse", "status", env=env).returncode == 1
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        # and it starts again on demand, with its data kept
        assert cdw("warehouse", "url", env=env).returncode == 0
    finally:
        cdw("warehouse", "stop", env=env)


def test_a_configured_warehouse_is_used_and_never_stopped(warehouse_url):
    env = dict(os.environ, CDW_WAREHOUSE_URL=warehouse_url)
    assert cdw("warehouse", "url", env=env).stdout.strip() == warehouse_url
    assert cdw("warehouse", "status", env=env).returncode == 0
    stop = cdw("warehouse", "stop", env=env)
    assert stop.returncode == 1 and "not managed by cdw" in stop.stderr


def test_the_embedded_warehouse_listens_on_tcp_with_passwords_when_configured(tmp_path):
    """A BI tool cannot reach a Unix socket: CDW_EMBEDDED_LISTEN adds TCP, where every login needs its password."""
    from tests.deploy.airflow_cluster import free_port

    env = {k: v for k, v in os.environ.items() if k not in ("CDW_WAREHOUSE_URL", "CDW_EMBEDDED_LISTEN")}
    env["CDW_HOME"] = str(tmp_path / "home")
    port = free_port()
    try:
        assert cdw("warehouse", "start", env=env).returncode == 0
        assert "Unix socket only" in cdw("warehouse", "status", env=env).stdout
        env["CDW_EMBEDDED_LISTEN"] = f"127.0.0.1:{port}"
        started = cdw("warehouse", "start", env=env)  # running on the socket only: restarted to listen
        assert started.returncode == 0, started.stderr
        status = cdw("warehouse", "status", env=env)
        assert f"TCP 127.0.0.1:{port} (passwords)" in status.stdout, status.stdout
        roles = cdw("setup-roles", "--analyst", "ana_tcp", env={**env, "CDW_LOGIN_PASSWORD": "Analyst-pw-1"})
        assert roles.returncode == 0, roles.stderr

        tcp = {"host": "127.0.0.1", "port": port, "dbname": "cdw", "connect_timeout": 5}
        with psycopg.connect(**tcp, user="ana_tcp", password="Analyst-pw-1") as conn:
            assert conn.execute("select current_user, inet_server_port()").fetchone() == ("ana_tcp", port)
        for user, password in (("ana_tcp", None), ("ana_tcp", "wrong"), ("postgres", None)):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(**tcp, user=user, password=password)
        # the pipeline's own way in, the socket, still trusts the account that runs the server
        url = cdw("warehouse", "url", env=env).stdout.strip().splitlines()[-1]
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_user").fetchone()[0] == "postgres"
    finally:
        cdw("warehouse", "stop", env=env)


def test_a_malformed_listen_address_is_refused_by_name(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CDW_WAREHOUSE_URL"}
    env.update(CDW_HOME=str(tmp_path / "home"), CDW_EMBEDDED_LISTEN="localhost")
    result = cdw("warehouse", "start", env=env)
    assert result.returncode == 1 and "CDW_EMBEDDED_LISTEN='localhost'" in result.stderr, result.stderr
