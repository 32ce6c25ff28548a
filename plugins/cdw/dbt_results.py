"""dbt's result for every node of a load's build, kept in the audit trail (``audit.dbt_results``).

The DAG builds the star schema with Cosmos: one task per model, each a ``dbt build`` of the
model, its data tests and its unit tests, in a temporary copy of the project that is deleted
when the task ends, ``target/run_results.json`` with it. The tasks' Cosmos callback
(:func:`cdw.airflow_home.record_dbt_results`) hands that file to :func:`record_run_results`
before then; ``cdw.publication.publish`` does the same for a build it runs itself. The report
(``cdw.report``) reads the rows back with :func:`latest_results` and compares them with
:func:`built_nodes`.

What is recorded is what an auditor needs to trace a result, and nothing of the data: the
node, its status, failures count, timing, what a test tests (from the build's manifest), and
dbt's message with every quoted value and the ``DETAIL`` lines of database errors (which can
show a failing row) left out (:func:`safe_message`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

#: Node types a build runs, as the first part of dbt's ``unique_id``.
RESOURCE_TYPES = ("model", "seed", "snapshot", "test", "unit_test")
#: Statuses that need no attention; any other (fail, warn, error, …) is listed in the report.
OK_STATUSES = ("success", "pass", "skipped")
#: Node types the DAG gives a task of their own (Cosmos renders one per model and seed).
BUILT_TYPES = ("model", "seed", "snapshot")
MESSAGE_LIMIT = 4000
MASK = "***"

# a double-quoted word names an object when one of these words comes before it
# (`column "x" of relation "y"`); else it is a value (`for type numeric: "abc"`)
_OBJECT_WORDS = frozenset({"column", "relation", "table", "view", "constraint", "index", "schema", "type",
                           "function", "sequence", "role", "database", "operator", "trigger", "model",
                           "extension", "cursor", "statement", "portal", "collation", "domain"})
_QUOTED = re.compile(r"(?:\b(\w+)\s+)?\"([^\"\n]*)\"|'[^'\n]*'")


@dataclass(frozen=True)
class NodeResult:
    """One node's result in a run_results.json."""

    unique_id: str
    resource_type: str
    status: str
    failures: int | None
    message: str | None
    execution_seconds: float | None
    tested_nodes: list[str] | None


def safe_message(message: str | None) -> str | None:
    """dbt's message without values from the data: DETAIL lines dropped, quoted values masked.

    PostgreSQL's ``DETAIL`` shows the failing row or key (``Failing row contains (…)``,
    ``Key (id)=(…)``); its messages quote values in double quotes (``invalid input syntax for
    type numeric: "abc"``) and identifiers too, after the kind of object they name
    (``column "x" of relation "y"``): those are kept. Single-quoted text (literals of
    compiled SQL) is masked.
    """
    if not message:
        return message or None
    lines = [line for line in message.splitlines() if not line.strip().upper().startswith("DETAIL:")]

    def _mask(m: re.Match) -> str:
        if m.group(0).startswith("'"):
            return f"'{MASK}'"
        word = m.group(1)
        if word and word.lower() in _OBJECT_WORDS:
            return m.group(0)
        return (f"{word} " if word else "") + f'"{MASK}"'

    text = _QUOTED.sub(_mask, "\n".join(lines)).strip()
    return text[:MESSAGE_LIMIT] or None


def _tested_nodes(manifest: dict, unique_id: str) -> list[str] | None:
    """What a test tests: its model (``attached_node``), else the nodes it reads (a unit test's
    model, a singular test's models and sources)."""
    node = manifest.get("nodes", {}).get(unique_id) or manifest.get("unit_tests", {}).get(unique_id)
    if not node:
        return None
    if node.get("attached_node"):
        return [node["attached_node"]]
    return list((node.get("depends_on") or {}).get("nodes") or []) or None


def read_run_results(run_results: Path) -> tuple[str, list[NodeResult]]:
    """(dbt's invocation id, every node's result) of a run_results.json; the tests' tested nodes
    come from the manifest.json beside it, when it is there."""
    run_results = Path(run_results)
    data = json.loads(run_results.read_text(encoding="utf-8"))
    invocation_id = (data.get("metadata") or {}).get("invocation_id") or f"file:{run_results}"
    manifest: dict = {}
    manifest_path = run_results.with_name("manifest.json")
    if any(str(r.get("unique_id", "")).startswith(("test.", "unit_test.")) for r in data.get("results", [])):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}  # the tests are recorded without what they test
    results = []
    for r in data.get("results", []):
        unique_id = str(r.get("unique_id") or "")
        if not unique_id:
            continue
        resource_type = unique_id.split(".", 1)[0]
        failures = r.get("failures")
        results.append(NodeResult(
            unique_id=unique_id,
            resource_type=resource_type,
            status=str(r.get("status") or "unknown").lower(),
            failures=int(failures) if isinstance(failures, int | float) else None,
            message=safe_message(r.get("message")),
            execution_seconds=r.get("execution_time"),
            tested_nodes=_tested_nodes(manifest, unique_id) if resource_type in ("test", "unit_test") else None,
        ))
    return invocation_id, results


def record_run_results(conn, load_id: int, business_date: date | str, run_results: Path, *,
                       run_id: str | None = None, task_id: str | None = None,
                       try_number: int | None = None) -> int:
    """Append every node result of ``run_results`` to ``audit.dbt_results`` for the load; rows added.

    Once per dbt invocation and load: recording the same file again adds nothing.
    """
    invocation_id, results = read_run_results(run_results)
    if isinstance(business_date, str):
        business_date = date.fromisoformat(business_date)
    with conn.transaction():
        # one writer per invocation at a time: the check below is not race-free otherwise
        conn.execute("select pg_advisory_xact_lock(hashtext('cdw.dbt_results'), hashtext(%s))",
                     (invocation_id,))
        if conn.execute("select 1 from audit.dbt_results where load_id = %s and invocation_id = %s limit 1",
                        (load_id, invocation_id)).fetchone():
            return 0
        with conn.cursor() as cur:
            cur.executemany(
                "insert into audit.dbt_results (load_id, business_date, invocation_id, unique_id, resource_type,"
                " status, failures, message, execution_seconds, tested_nodes, run_id, task_id, try_number)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(load_id, business_date, invocation_id, r.unique_id, r.resource_type, r.status, r.failures,
                  r.message, r.execution_seconds, r.tested_nodes, run_id, task_id, try_number)
                 for r in results])
    return len(results)


def latest_results(conn, load_id: int) -> list[dict]:
    """Each node's latest recorded result for the load (a retried task's last try), by node."""
    cur = conn.execute("""
        select distinct on (unique_id) unique_id, resource_type, status, failures, message, execution_seconds,
               tested_nodes, task_id, try_number, recorded_at
        from audit.dbt_results where load_id = %s
        order by unique_id, result_id desc""", (load_id,))
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def built_nodes(manifest: Path) -> set[str]:
    """The models, seeds and snapshots of the project's own package in a dbt manifest: the
    nodes the DAG builds, one Cosmos task each."""
    data = json.loads(Path(manifest).read_text(encoding="utf-8"))
    project = (data.get("metadata") or {}).get("project_name")
    return {uid for uid, node in data.get("nodes", {}).items()
            if node.get("resource_type") in BUILT_TYPES and (project is None or node.get("package_name") == project)}


def project_tests(manifest: Path) -> set[str]:
    """The data tests and unit tests of the project's own package in a dbt manifest."""
    data = json.loads(Path(manifest).read_text(encoding="utf-8"))
    project = (data.get("metadata") or {}).get("project_name")
    nodes = {**data.get("nodes", {}), **data.get("unit_tests", {})}
    return {uid for uid, node in nodes.items()
            if node.get("resource_type") in ("test", "unit_test")
            and (project is None or node.get("package_name") == project)}


def node_name(unique_id: str) -> str:
    """A node's name from its unique_id: ``model.cdw.fct_calls`` → ``fct_calls``;
    ``test.cdw.not_null_x_id.1a2b`` → ``not_null_x_id``; ``unit_test.cdw.model.case`` → ``case``."""
    parts = unique_id.split(".")
    if parts[0] == "test" and len(parts) >= 4:
        return parts[2]
    return parts[-1] if len(parts) >= 3 else unique_id
