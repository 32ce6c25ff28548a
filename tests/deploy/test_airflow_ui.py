"""``bin/airflow-ui`` starts the local Airflow services and the api-server answers; then it stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from urllib.request import urlopen

import pytest

from cdw.settings import REPO_ROOT
from tests.deploy.airflow_cluster import free_port, fresh_database, pg_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not pg_available(), reason="needs PostgreSQL on 127.0.0.1:5432"),
]

START_TIMEOUT = 300


def test_airflow_ui_starts_and_answers(tmp_path):
    port = free_port()
    home = tmp_path / "cdw_home"
    with fresh_database(prefix="cdw_test_ui", warehouse_schema=True) as url:
        env = {**os.environ, "CDW_HOME": str(home), "CDW_WAREHOUSE_URL": url,
               "CDW_LANDING_ROOT": str(tmp_path / "landing")}
        proc = subprocess.Popen([str(REPO_ROOT / "bin" / "airflow-ui"), "--port", str(port)], env=env,
                                stdout=subprocess.PIPE, stderr=open(tmp_path / "stderr.log", "wb"),
                                text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            health = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as response:
                        health = json.load(response)
                        break
                except OSError:
                    time.sleep(2)
            stderr = (tmp_path / "stderr.log").read_text(errors="replace")
            assert health is not None, f"no answer within {START_TIMEOUT} s (exit {proc.poll()}):\n{stderr[-3000:]}"
            assert health["metadatabase"]["status"] == "healthy", health
            assert proc.stdout.readline().strip() == f"http://localhost:{port}"
            # the banner names the password file; the api-server writes it at start-up
            deadline = time.monotonic() + 30
            password_file = home / "airflow" / "simple_auth_manager_passwords.json.generated"
            while not password_file.exists() and time.monotonic() < deadline:
                time.sleep(1)
            stderr = (tmp_path / "stderr.log").read_text(errors="replace")
            assert str(password_file) in stderr, stderr[-2000:]
            assert "admin" in json.loads(password_file.read_text())
            for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
                assert (home / "logs" / "airflow-ui" / f"{name}.log").is_file(), name
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # the script stops its services
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert proc.returncode == 0, (tmp_path / "stderr.log").read_text(errors="replace")[-2000:]
        # nothing keeps listening on the port
        with pytest.raises(OSError):
            urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3)
