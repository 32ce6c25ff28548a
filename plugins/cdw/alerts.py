"""What happens when a task of the daily pipeline fails: retry transient faults only, then alert.

:class:`TransientFaultsOnly` is the tasks' retry policy. A delivery that breaks
the landing contract (``cdw.load.LoadFailed``), a failed data test or quality
gate, a bad param: retrying cannot help, so the task fails at once and the
alert goes out within minutes instead of after the last retry. A lost
connection, a restarting server, a timeout: the task retries with exponential
backoff.

:class:`AlertNotifier` is the tasks' ``on_failure_callback``. It always logs
one ``CDW ALERT`` line; it also sends when configured:

| variable | meaning | default |
|---|---|---|
| ``CDW_ALERT_WEBHOOK_URL`` | POST a JSON alert here (chat webhook, incident tool) | unset: no webhook |
| ``CDW_ALERT_SMTP_CONN_ID`` | Airflow SMTP connection to mail the alert through | unset: no mail |
| ``CDW_ALERT_EMAIL_TO`` | comma-separated recipients of the mail | unset: no mail |

An alert names the DAG, task, business date, try and the error's first line,
which the pipeline keeps free of personal data; it never includes records.
Sending failures are logged and swallowed: an alert must not mask the failure.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseNotifier
from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy
from airflow.sdk.exceptions import AirflowFailException

from cdw.settings import get_settings

log = logging.getLogger(__name__)

#: Exceptions that mean "the data or the code is wrong": never retried.
PERMANENT = ("cdw.load.LoadFailed", "cdw.business_date.BadBusinessDate")
#: Exceptions that mean "the warehouse or the network hiccuped": retried.
TRANSIENT = (
    "psycopg.OperationalError",
    "psycopg2.OperationalError",
    "ConnectionError",  # builtins: refused, reset, aborted
    "TimeoutError",
)
#: dbt reports a lost connection as text in a failed run: match it.
_TRANSIENT_TEXT = re.compile(
    r"could not connect to server|connection refused|connection timed out|timeout expired|"
    r"server closed the connection unexpectedly|terminating connection due to administrator command|"
    r"the database system is (starting up|shutting down|in recovery mode)|connection to server .* failed",
    re.IGNORECASE,
)


class DateNotPublished(AirflowFailException):
    """The report task's verdict: the date was not published. The task that stopped it has
    alerted already; this alert goes out only when that one is missing from the audit trail."""


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_a(exc: BaseException, dotted: tuple[str, ...]) -> bool:
    names = set()
    for cls in type(exc).__mro__:
        names.add(f"{cls.__module__}.{cls.__qualname__}")
        if cls.__module__ == "builtins":
            names.add(cls.__qualname__)
    return any(name in names for name in dotted)


def is_transient(exc: BaseException) -> bool:
    """True when the failure (or an exception it was raised from) is a connection or timeout fault."""
    chain = list(_chain(exc))
    if any(_is_a(e, PERMANENT) for e in chain):
        return False
    if any(_is_a(e, TRANSIENT) for e in chain):
        return True
    return any(_TRANSIENT_TEXT.search(str(e)) for e in chain)


class TransientFaultsOnly(RetryPolicy):
    """Retry policy: retry connection and timeout faults (with the task's backoff), fail the rest at once."""

    def evaluate(self, exception, try_number, max_tries, context=None) -> RetryDecision:
        if is_transient(exception):
            return RetryDecision.default()  # retries left and exponential backoff from the task
        return RetryDecision.fail(f"not a transient fault ({type(exception).__name__}): not retried")

    def serialize(self) -> dict[str, Any]:
        # Only "has a policy" reaches the scheduler; the worker evaluates the parsed object.
        return {"__type": "cdw.alerts.TransientFaultsOnly"}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> TransientFaultsOnly:
        return cls()


#: Retries of every task: 3 more tries, 1 → 2 → 4 min apart (at most 30 min).
RETRY_ARGS: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "retry_policy": TransientFaultsOnly(),
}


def _first_line(value: object, limit: int = 300) -> str:
    text = str(value or "").strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class AlertNotifier(BaseNotifier):
    """``on_failure_callback``: one log line always; a webhook POST and/or a mail when configured."""

    def __init__(self, *, webhook_url: str | None = None, smtp_conn_id: str | None = None,
                 email_to: str | None = None, timeout: float = 10.0):
        super().__init__()
        # None: read the environment when the alert fires (not at DAG parse time)
        self.webhook_url = webhook_url
        self.smtp_conn_id = smtp_conn_id
        self.email_to = email_to
        self.timeout = timeout

    def alert(self, context) -> dict[str, Any]:
        """The alert as a dict: what is logged, posted and mailed."""
        ti = context.get("ti") or context.get("task_instance")
        dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None)
        business_date = None
        if ti is not None:
            try:
                business_date = ti.xcom_pull(task_ids="resolve_business_date")
            except Exception:  # noqa: BLE001 - an alert must go out even if XCom is unreachable
                business_date = None
        if not business_date:
            business_date = (context.get("params") or {}).get("business_date")
        return {
            "dag_id": dag_id,
            "task_id": getattr(ti, "task_id", None),
            "run_id": getattr(ti, "run_id", None) or context.get("run_id"),
            "try_number": getattr(ti, "try_number", None),
            "business_date": business_date,
            "error_type": type(context.get("exception")).__name__ if context.get("exception") else None,
            "error": _first_line(context.get("exception")),
        }

    def notify(self, context) -> None:
        alert = self.alert(context)
        if isinstance(context.get("exception"), DateNotPublished) and self._already_alerted(alert):
            log.warning("%s: %s (alerted already by the task that failed)", alert["task_id"], alert["error"])
            return  # one alert per failed date
        line = (
            f"CDW ALERT {alert['dag_id']}.{alert['task_id']} failed for business date "
            f"{alert['business_date'] or '?'} (try {alert['try_number']}, run {alert['run_id']}): "
            f"{alert['error_type'] or 'error'}: {alert['error']}"
        )
        self._send(alert, line, fail_loads=True)

    def missed_dates(self, context, business_date: str, missed: list) -> None:
        """A scheduled run found earlier business dates that were never loaded (the scheduler skips
        the nights it was down when catch-up is off): they are named, never skipped silently."""
        span = f"{missed[0]}" if len(missed) == 1 else f"{missed[0]} to {missed[-1]} ({len(missed)} dates)"
        error = (f"business date(s) {span} before {business_date} were never loaded: run"
                 f" `cdw run --landing ROOT --start {missed[0]} --end {missed[-1]}` or a backfill")
        alert = {**self.alert(context), "business_date": None, "error_type": "MissedBusinessDates", "error": error}
        line = f"CDW ALERT {alert['dag_id']}.{alert['task_id']} (run {alert['run_id']}): {error}"
        self._send(alert, line, fail_loads=False)

    def _send(self, alert: dict, line: str, *, fail_loads: bool) -> None:
        log.error(line)
        self._record(alert, line, fail_loads=fail_loads)
        settings = get_settings()
        webhook = self.webhook_url or settings.alert_webhook_url
        if webhook:
            self._post(webhook, {"text": line, **alert})
        conn_id = self.smtp_conn_id or settings.alert_smtp_conn_id
        if conn_id:
            self._mail(conn_id, self.email_to or settings.alert_email_to, line, alert)

    def _already_alerted(self, alert: dict) -> bool:
        """Another task of this DAG run has an alert in audit.alerts (unreadable: assume not)."""
        try:
            from cdw.airflow_home import task_warehouse_url
            from cdw.warehouse import connect

            with connect(task_warehouse_url(start=False), pipeline=True, autocommit=True) as conn:
                return conn.execute(
                    "select exists (select from audit.alerts where dag_id = %s and run_id = %s and task_id <> %s"
                    " and error_type is distinct from 'MissedBusinessDates')",
                    (alert["dag_id"], alert["run_id"], alert["task_id"])).fetchone()[0]
        except Exception as exc:  # noqa: BLE001 - when in doubt, alert
            log.warning("could not read audit.alerts: %s", _first_line(exc))
            return False

    def _record(self, alert: dict, line: str, *, fail_loads: bool = True) -> None:
        """The audit trail keeps every alert; after a failure, a load of the date still LOADED becomes FAILED."""
        try:
            from cdw.airflow_home import task_warehouse_url
            from cdw.warehouse import connect

            with connect(task_warehouse_url(start=False), pipeline=True, autocommit=True) as conn, conn.transaction():
                conn.execute(
                    "insert into audit.alerts (dag_id, task_id, run_id, try_number, business_date, error_type,"
                    " message) values (%s, %s, %s, %s, %s, %s, %s)",
                    (alert["dag_id"], alert["task_id"], alert["run_id"], alert["try_number"],
                     alert["business_date"], alert["error_type"], line),
                )
                if fail_loads and alert["business_date"]:
                    conn.execute(
                        "insert into audit.load_runs (load_id, business_date, started_at, finished_at, status,"
                        " failure_reason, code_version, landing_path)"
                        " select load_id, business_date, started_at, clock_timestamp(), 'FAILED', %s,"
                        " code_version, landing_path from audit.load_runs_latest"
                        " where business_date = %s and status in ('RUNNING', 'LOADED')",
                        (f"{alert['task_id']} failed: {alert['error_type']}: {alert['error']}"[:2000],
                         alert["business_date"]),
                    )
        except Exception as exc:  # noqa: BLE001 - the alert itself must still go out
            log.warning("alert not recorded in audit.alerts: %s", _first_line(exc))

    def _post(self, url: str, payload: dict) -> None:
        request = urllib.request.Request(
            url,
            data=json.dumps(payload, default=str).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - configured URL
                log.info("alert posted to the webhook (HTTP %s)", response.status)
        except Exception as exc:  # noqa: BLE001
            log.warning("alert webhook failed: %s", _first_line(exc))

    def _mail(self, conn_id: str, to: str, line: str, alert: dict) -> None:
        recipients = [a.strip() for a in to.split(",") if a.strip()]
        if not recipients:
            log.warning("CDW_ALERT_SMTP_CONN_ID is set but CDW_ALERT_EMAIL_TO is empty: no mail sent")
            return
        try:
            from html import escape

            from airflow.providers.smtp.hooks.smtp import SmtpHook

            rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in alert.items())
            with SmtpHook(smtp_conn_id=conn_id) as hook:
                hook.send_email_smtp(
                    to=recipients,
                    subject=f"[cdw] {alert['task_id']} failed for {alert['business_date'] or '?'}",
                    html_content=f"<p>{escape(line)}</p><table>{rows}</table>",
                )
            log.info("alert mailed to %d recipient(s)", len(recipients))
        except Exception as exc:  # noqa: BLE001
            log.warning("alert mail failed: %s", _first_line(exc))
