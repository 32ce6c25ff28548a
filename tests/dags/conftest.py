"""Airflow for DAG tests: a throw-away AIRFLOW_HOME, examples and telemetry off.

Set before the first ``import airflow`` of the session (Airflow reads its
configuration once); a developer's own ``~/airflow`` is never touched.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cdw-airflow-test-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
for _key, _value in {
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "SCARF_ANALYTICS": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "false",
}.items():
    os.environ.setdefault(_key, _value)


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_real_warehouse(monkeypatch):
    """DAG tests never write to a warehouse: one that cannot be reached (port 1) is configured."""
    monkeypatch.setenv("CDW_WAREHOUSE_URL", "postgresql://cdw-dag-tests@127.0.0.1:1/nowhere")
