"""Every setting of the project, read from environment variables with documented defaults.

Nothing else in the package reads ``os.environ`` for configuration: import the
accessor from here so docs/configuration.md stays complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Repository root: ``plugins/cdw/settings.py`` -> two levels up from ``plugins``.
REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """A snapshot of the configuration; call :func:`get_settings` for the current one."""

    warehouse_url: str | None
    home: Path
    landing_root: Path
    timezone: str
    schedule_start: str
    quarantine_threshold: float
    max_decompressed_bytes: int
    max_field_chars: int
    alert_webhook_url: str | None
    alert_smtp_conn_id: str | None
    alert_email_to: str
    build_schema: str
    volume_tolerance: float
    volume_severity: str
    pipeline_role: str | None
    pseudonym_key: str | None
    login_password: str | None
    embedded_listen: tuple[str, int] | None

    @property
    def embedded_pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"


def get_settings() -> Settings:
    home = Path(_env("CDW_HOME", str(REPO_ROOT / ".cdw"))).resolve()
    return Settings(
        # unset: the embedded PostgreSQL under CDW_HOME/pgdata, started on demand
        warehouse_url=os.environ.get("CDW_WAREHOUSE_URL") or None,
        home=home,
        landing_root=Path(_env("CDW_LANDING_ROOT", str(home / "landing"))),
        # the bank's zone when the warehouse has none recorded yet and a manifest names none; the
        # first load records it (audit.warehouse_timezone) and that zone rules from then on
        timezone=_env("CDW_TIMEZONE", "Asia/Shanghai"),
        # the first business date the scheduler processes by itself (the DAG's start_date); dates
        # before it run through `cdw run`, a triggered run with business_date, or a backfill
        schedule_start=_env("CDW_SCHEDULE_START", "2026-01-01"),
        # a file whose set-aside share exceeds this fails the date's load
        quarantine_threshold=float(_env("CDW_QUARANTINE_THRESHOLD", "0.01")),
        # bounded decompression: a gzip bomb stops here instead of filling the disk
        max_decompressed_bytes=int(_env("CDW_MAX_DECOMPRESSED_BYTES", str(20 * 1024**3))),
        # longer fields are set aside as bad values (PostgreSQL itself would take 1 GB)
        max_field_chars=int(_env("CDW_MAX_FIELD_CHARS", "4096")),
        # where failure and late-delivery alerts go besides the task log and audit.alerts
        alert_webhook_url=os.environ.get("CDW_ALERT_WEBHOOK_URL") or None,
        alert_smtp_conn_id=os.environ.get("CDW_ALERT_SMTP_CONN_ID") or None,
        alert_email_to=_env("CDW_ALERT_EMAIL_TO", ""),
        # private schema dbt builds into; analysts see `analytics` only after the gate
        build_schema=_env("CDW_BUILD_SCHEMA", "build"),
        # volume check: accepted relative deviation from the same weekday of the last 4 weeks
        volume_tolerance=float(_env("CDW_VOLUME_TOLERANCE", "0.5")),
        volume_severity=_env("CDW_VOLUME_SEVERITY", "warning").strip().lower(),
        # the role every pipeline connection acts as (never the login's own, maybe superuser,
        # privileges); "none" keeps the login's own role
        pipeline_role=_pipeline_role(_env("CDW_PIPELINE_ROLE", "cdw_loader")),
        # secret of the keyed pseudonyms (HMAC-SHA256) analysts get instead of personal data;
        # the Airflow connection cdw_pseudonym_key (password) takes precedence in tasks
        pseudonym_key=os.environ.get("CDW_PSEUDONYM_KEY") or None,
        # the password `cdw setup-roles --analyst/--auditor` gives the logins it makes (never an
        # argument: it would show in the process list); unset: pg_hba.conf decides
        login_password=os.environ.get("CDW_LOGIN_PASSWORD") or None,
        # HOST:PORT the embedded PostgreSQL also listens on over TCP, with passwords (a BI tool
        # cannot reach a Unix socket); unset: the socket only
        embedded_listen=_listen_address(os.environ.get("CDW_EMBEDDED_LISTEN") or ""),
    )


def _listen_address(value: str) -> tuple[str, int] | None:
    if not value.strip():
        return None
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"CDW_EMBEDDED_LISTEN={value!r}: expected HOST:PORT, e.g. 127.0.0.1:5433")
    return host.strip("[]"), int(port)


def _pipeline_role(value: str) -> str | None:
    return None if value.strip().lower() == "none" else value.strip()
