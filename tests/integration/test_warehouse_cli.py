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
