"""Validation suites gate every load: run them in PostgreSQL through Great Expectations 1.x.

:func:`validate` audits one business date's load before it is published:

* the raw tables' batch of the date (``raw_<entity>`` suites: the landing contract's types,
  required values, code sets, ranges, uniqueness of ids, row count = manifest rows loaded,
  freshness), and
* the star schema dbt built into the private ``build`` schema (facts join their dimensions,
  reconcile with raw, KPI ratios in [0, 1], volume against the trailing 4 same weekdays).

The suites live in ``expectations/`` (one module per gated table, see its ``__init__``).
GX computes every metric in SQL: an ephemeral context, one PostgreSQL data source, a
table asset per gated table with a daily batch definition on its date column; nothing is
pulled into pandas. Every expectation's result is appended to ``audit.validation_results``.

Gating. Each expectation carries ``severity``: ``critical`` stops publication, ``warning``
is recorded and publishes. GX's own ``success`` ignores severity (a warning-only failure
makes it ``False``), so the gate is: no failed expectation of severity critical
(``get_max_severity_failure()``), and no expectation that raised (``exception_info``: a
missing column or a broken query must never pass silently). A missing gated table is a
critical failure too.

Data Docs, with their history. The run is named ``<business date>-load-<load id>``; after it,
its results are copied from the context's in-memory store into a file-backed validation
results store in the warehouse's site directory (``<site>/gx_results``, :mod:`cdw.site`), its
pages rendered into ``<site>/gx_docs`` from that store, and GX's index lists the stored runs
(the latest ``GX_INDEX_RESULTS``). GX's index builder deletes every page its source store
does not hold: from the in-memory store only the latest run's pages survived; from the store
on disk no page is ever deleted. The validation itself never touches the disk, and a
rendering or storing fault is logged, never a gate failure. Not a Checkpoint with an
``UpdateDataDocsAction``: that rebuilds the index once per validation result (some 40 a
load, each build reading the stored results), and a Checkpoint has one result format where
the suites need two.

Environment: ``CDW_VOLUME_TOLERANCE`` (default 0.5 = ±50 %) and ``CDW_VOLUME_SEVERITY``
(default ``warning``) configure the volume check.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

from cdw import site, warehouse
from cdw.landing import contract
from cdw.settings import REPO_ROOT, get_settings

log = logging.getLogger(__name__)

#: The suites as code (a package loaded by path: Airflow workers do not have the repo on sys.path).
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
_PACKAGE = "cdw_expectations"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_URL_VARIABLE = "CDW_GX_WAREHOUSE_URL"
CRITICAL, WARNING, INFO = "critical", "warning", "info"
DOCS_SITE = "cdw"
DOCS_STORE = "cdw_validation_results_on_disk"
#: validation results GX's index page lists (newest first): it reads each one, so not all history
GX_INDEX_RESULTS = 300  # some ten loads; older runs are reached from the site (/gx/load-<id>)


def volume_tolerance() -> float:
    """``CDW_VOLUME_TOLERANCE``: accepted relative deviation of a day's volume (default 0.5)."""
    value = get_settings().volume_tolerance
    if value <= 0:
        raise ValueError(f"CDW_VOLUME_TOLERANCE must be > 0, got {value}")
    return value


def volume_severity() -> str:
    """``CDW_VOLUME_SEVERITY``: ``warning`` (default) or ``critical``."""
    value = get_settings().volume_severity
    if value not in (CRITICAL, WARNING, INFO):
        raise ValueError(f"CDW_VOLUME_SEVERITY must be critical, warning or info, got {value!r}")
    return value


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, as recorded in ``audit.validation_results``."""

    suite: str
    expectation: str
    severity: str
    success: bool
    observed_value: str | None
    details: dict = field(default_factory=dict, compare=False)
    raised: bool = False

    def line(self) -> str:
        why = f" (raised: {self.details.get('exception')})" if self.raised else ""
        return f"{self.suite}: {self.expectation} [{self.severity}] observed {self.observed_value}{why}"


@dataclass
class QualityOutcome:
    """The gate's verdict on one load: ``passed`` means it may be published."""

    business_date: date
    load_id: int
    results: list[ExpectationOutcome] = field(default_factory=list)
    docs_index: Path | None = None

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        """Failed expectations that stop publication: severity critical, or the check raised."""
        return [r for r in self.results if not r.success and (r.raised or r.severity == CRITICAL)]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        """Failed expectations that are reported but do not stop publication."""
        return [r for r in self.results if not r.success and not (r.raised or r.severity == CRITICAL)]

    @property
    def passed(self) -> bool:
        return not self.critical_failures

    def reason(self, limit: int = 20) -> str:
        """Which expectations failed, for ``audit.load_runs.failure_reason``."""
        failures = self.critical_failures
        text = "; ".join(f.line() for f in failures[:limit])
        if len(failures) > limit:
            text += f"; and {len(failures) - limit} more"
        return f"{len(failures)} critical expectation(s) failed: {text}"

    def summary(self) -> str:
        return (f"{self.business_date} load {self.load_id}: {len(self.results)} expectations, "
                f"{len(self.critical_failures)} critical failure(s), {len(self.warnings)} warning(s)")


# ---------------------------------------------------------------- suites


def load_suites(directory: Path = EXPECTATIONS_DIR) -> list[ModuleType]:
    """Every suite module of ``expectations/`` (modules not starting with ``_``), by name."""
    if _PACKAGE not in sys.modules or Path(sys.modules[_PACKAGE].__file__).parent != directory:
        spec = importlib.util.spec_from_file_location(
            _PACKAGE, directory / "__init__.py", submodule_search_locations=[str(directory)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = package
        spec.loader.exec_module(package)
    modules = []
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_PACKAGE}.{path.stem}")
        for attribute in ("SUITE", "TABLE", "BATCH", "expectations"):
            if not hasattr(module, attribute):
                raise ValueError(f"expectations/{path.name} lacks {attribute}")
        modules.append(module)
    return modules


def _silence_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` -> ``postgresql+psycopg://…`` (psycopg 3); ``?host=/socket/dir`` is kept."""
    warehouse.parse_url(url)  # a clear error for a malformed URL
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


def _raised(exception_info) -> tuple[bool, str | None]:
    """GX reports exceptions either flat or per metric: ``{metric_id: {raised_exception: …}}``."""
    if not exception_info:
        return False, None
    if isinstance(exception_info, dict) and "raised_exception" in exception_info:
        if exception_info.get("raised_exception"):
            return True, exception_info.get("exception_message")
        return False, None
    if isinstance(exception_info, dict):
        for value in exception_info.values():
            raised, message = _raised(value)
            if raised:
                return True, message
    return False, None


def _severity(config) -> str:
    value = getattr(config, "severity", None)
    if value is None and isinstance(config, dict):
        value = config.get("severity")
    value = getattr(value, "value", value)
    return str(value or CRITICAL).lower()


#: Columns of personal data (the landing contract's): GX lists values it did not expect (SUMMARY)
#: and offending rows (COMPLETE), which reach the audit trail and the served Data Docs; of these
#: columns no value is kept, only a mask.
PERSONAL_COLUMNS = frozenset(c.name for f in contract.SOURCE_FILES for c in f.columns if c.personal)
_VALUE_LISTS = ("partial_unexpected_list", "unexpected_list", "partial_unexpected_counts",
                "partial_unexpected_index_list", "unexpected_index_list")


def _masked(value):
    """A value of a personal column as the report shows one: nothing of it."""
    return None if value is None else "***"


def _without_personal_values(suite_result) -> None:
    """Mask, in place, every value of a personal column in a GX suite result (both the values a
    column check lists and the rows a query check returns)."""
    for r in suite_result.results:
        result = r.result if isinstance(r.result, dict) else None
        if not result:
            continue
        kwargs = r.expectation_config.kwargs if r.expectation_config else {}
        if kwargs.get("column") in PERSONAL_COLUMNS:
            for key in _VALUE_LISTS:
                if key in result:
                    result[key] = [{"value": "***", "count": item.get("count")} if isinstance(item, dict)
                                   and "value" in item else _masked(item) for item in result[key] or []]
        result.update({k: _scrub_rows(v) for k, v in result.items() if k not in _VALUE_LISTS})


def _scrub_rows(value):
    """Rows (dicts keyed by column) anywhere inside a result, their personal columns masked."""
    if isinstance(value, dict):
        return {k: _masked(v) if k in PERSONAL_COLUMNS else _scrub_rows(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_rows(v) for v in value]
    if hasattr(value, "columns") and hasattr(value, "assign"):  # a DataFrame of rows
        return value.assign(**{c: _masked("") for c in value.columns if c in PERSONAL_COLUMNS})
    return value


def _observed(result: dict) -> str | None:
    if "observed_value" in result:
        value = result["observed_value"]
        return value if isinstance(value, str) else json.dumps(value, default=str)
    if "unexpected_count" in result:
        text = f"{result.get('unexpected_count')} unexpected of {result.get('element_count')}"
        partial = result.get("partial_unexpected_list")
        if partial:
            text += ": " + json.dumps(partial[:5], default=str)
        return text
    return None


def _outcome(suite_name: str, r) -> ExpectationOutcome:
    config = r.expectation_config
    as_json = r.to_json_dict()
    meta = dict(config.meta or {})
    name = meta.get("name") or f"{config.type}({config.kwargs.get('column', '')})"
    raised, message = _raised(r.exception_info)
    result = as_json.get("result") or {}
    details = {
        "type": config.type,
        "kwargs": as_json.get("expectation_config", {}).get("kwargs", {}),
        "description": getattr(config, "description", None),
        "meta": meta,
        "result": result,
    }
    if raised:
        details["exception"] = message
    return ExpectationOutcome(
        suite=suite_name,
        expectation=name,
        severity=_severity(config),
        success=bool(r.success) and not raised,
        observed_value=_observed(result),
        details=json.loads(json.dumps(details, default=str)),
        raised=raised,
    )


def _check(suite: str, name: str, success: bool, observed: str, severity: str = CRITICAL, **details):
    """A result computed outside GX (preconditions of a suite), recorded like the others."""
    return ExpectationOutcome(suite, name, severity, success, observed, {"type": "cdw_precondition", **details})


def _rows_loaded(conn, load_id: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for file_name, rows_loaded in conn.execute(
        "select file_name, rows_loaded from audit.file_reconciliation where load_id = %s", (load_id,)
    ).fetchall():
        src = contract.source_for_file_name(file_name)
        if src is not None:
            found[src.entity] = int(rows_loaded or 0)
    return found


def _table_exists(conn, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"{schema}.{table}",)).fetchone()[0]


# ---------------------------------------------------------------- the gate


def validate(
    business_date: date,
    load_id: int,
    *,
    url: str | None = None,
    build_schema: str = "build",
    record: bool = True,
    build_docs: bool = True,
) -> QualityOutcome:
    """Run every suite for the load's business date; append each result to ``audit.validation_results``.

    Returns the outcome (``passed``, ``critical_failures``, ``warnings``); never raises for
    a data fault: a failing or raising expectation is a result like any other.
    """
    if isinstance(business_date, str):
        business_date = date.fromisoformat(business_date)
    if not _IDENTIFIER.match(build_schema):
        raise ValueError(f"build schema must be a plain lower-case identifier, got {build_schema!r}")
    _silence_gx()
    url = url or warehouse.warehouse_url()
    outcome = QualityOutcome(business_date, int(load_id))

    suites = load_suites()
    SuiteParams = importlib.import_module(f"{_PACKAGE}._common").SuiteParams

    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    run_id = RunIdentifier(run_name=site.gx_run_name(business_date, load_id), run_time=datetime.now(UTC))
    with warehouse.connect(url, pipeline=True, autocommit=True) as conn:
        site_path = _docs_site(conn) if build_docs else None
        load = conn.execute(
            "select business_date, status from audit.load_runs_latest where load_id = %s", (load_id,)
        ).fetchone()
        outcome.results.append(_check(
            "load", "load is for the business date being published",
            load is not None and load[0] == business_date,
            f"load {load_id}: " + (f"business date {load[0]}, {load[1]}" if load else "not in audit.load_runs"),
        ))
        rows_loaded = _rows_loaded(conn, load_id)

        def scalar(query: str, params: tuple = ()):
            return conn.execute(query, params).fetchone()[0]

        params = SuiteParams(
            business_date=business_date,
            load_id=int(load_id),
            build_schema=build_schema,
            timezone=warehouse.bank_timezone(conn),
            rows_loaded=rows_loaded,
            volume_tolerance=volume_tolerance(),
            volume_severity=volume_severity(),
            scalar=scalar,
        )

        # The URL goes in as a config variable: GX's pydantic PostgresDsn refuses a URL with no
        # host (a Unix socket, ?host=/dir), a ${VAR} config string is substituted unchecked.
        context = gx.get_context(mode="ephemeral", runtime_environment={_URL_VARIABLE: sqlalchemy_url(warehouse.pipeline_url(url))})
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        source = context.data_sources.add_postgres("warehouse", connection_string="${" + _URL_VARIABLE + "}")

        for module in suites:
            schema, table = module.TABLE
            schema = build_schema if schema == "{build}" else schema
            entity = getattr(module, "FILE_ENTITY", None)
            if entity is not None and entity not in rows_loaded:
                if contract.BY_ENTITY[entity].required_in_drop:
                    outcome.results.append(_check(module.SUITE, "file is in the drop", False,
                                                  f"{entity}: no file reconciliation for load {load_id}"))
                else:
                    outcome.results.append(_check(module.SUITE, "suite skipped: no file in the drop", True,
                                                  f"{entity}: not delivered (previous snapshot stands)",
                                                  severity=INFO))
                continue
            if not _table_exists(conn, schema, table):
                outcome.results.append(_check(module.SUITE, "table exists", False, f"{schema}.{table} is missing"))
                continue
            try:
                results = _run_suite(gx, context, source, module, schema, table, params, run_id)
            except Exception as exc:  # the suite could not run at all: never a silent pass
                log.exception("suite %s could not run", module.SUITE)
                outcome.results.append(_check(module.SUITE, "suite ran", False, f"{type(exc).__name__}: {exc}"[:500],
                                              exception=str(exc)[:2000]))
                continue
            for result in results:
                recorded = [_outcome(module.SUITE, r) for r in result.results]
                outcome.results.extend(recorded)
                # GX's own verdict (severity-aware) must agree with ours
                gx_max = result.get_max_severity_failure()
                if getattr(gx_max, "value", gx_max) == CRITICAL and not any(
                    not r.success and r.severity == CRITICAL for r in recorded
                ):
                    outcome.results.append(_check(module.SUITE, "GX max severity agrees", False, str(gx_max)))

        if record:
            run = uuid.uuid4().hex  # groups this call's rows (a load may be validated more than once)
            with conn.transaction():
                with conn.cursor() as cur:
                    cur.executemany(
                        "insert into audit.validation_results (load_id, suite_name, expectation, success,"
                        " observed_value, details, severity) values (%s, %s, %s, %s, %s, %s::jsonb, %s)",
                        [
                            (load_id, r.suite, r.expectation, r.success, r.observed_value,
                             json.dumps({**r.details, "raised": r.raised, "run": run}, default=str), r.severity)
                            for r in outcome.results
                        ],
                    )
    if site_path is not None:
        outcome.docs_index = _build_docs(context, site_path)
    log.info(outcome.summary())
    return outcome


#: Checked on the table's reflected column types (no rows read): GX 1.24 cannot reflect the
#: column types of a query asset (the expectation raises KeyError 'type').
_SCHEMA_ONLY = {"expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list"}


def _run_suite(gx, context, source, module, schema: str, table: str, params, run_id) -> list:
    """Run one suite module; returns GX suite validation results (one or two).

    A daily batch is a query asset ``select * from <table> where <date column> = date 'D'``:
    the planner uses the table's index on the date (a daily batch definition filters on
    EXTRACT(year/month/day …), which no index serves, so every expectation would scan the
    whole history). Type expectations run on the table asset (whole table; only reflection).
    Assets are named after the table and the date (``raw.calls_2026-03-03``): their names are
    in the Data Docs' page names and titles.
    """
    built = module.expectations(params)
    by_type = [e for e in built if e.expectation_type in _SCHEMA_ONLY]
    by_query = [e for e in built if e.expectation_type == "unexpected_rows_expectation"]
    by_rows = [e for e in built if e not in by_type and e not in by_query]
    kind, column = module.BATCH
    key = module.SUITE  # one suite per module, one context per validation run: unique
    if kind == "daily":
        if not _IDENTIFIER.match(column):
            raise ValueError(f"{module.SUITE}: bad batch column {column!r}")
        query = (f"select * from {schema}.{table} "  # noqa: S608 (validated identifiers, a date object)
                 f"where {column} = date '{params.business_date.isoformat()}'")
        batch_asset = source.add_query_asset(f"{schema}.{table}_{params.business_date.isoformat()}", query=query)
    else:
        batch_asset = source.add_table_asset(f"{schema}.{table}", table_name=table, schema_name=schema)
    runs = [
        # (GX suite name, asset, expectations, result format)
        (module.SUITE, batch_asset, by_rows, "SUMMARY"),
        # COMPLETE for the SQL checks only: their offending rows (GX caps them at 200) go to
        # the audit trail; a column-map check under COMPLETE would list every bad value
        (f"{module.SUITE}.queries", batch_asset, by_query, "COMPLETE"),
    ]
    if by_type:
        types_asset = batch_asset if kind != "daily" else source.add_table_asset(
            f"{schema}.{table}", table_name=table, schema_name=schema)
        runs.append((f"{module.SUITE}.types", types_asset, by_type, "SUMMARY"))
    results = []
    for n, (suite_name, asset, expectations, result_format) in enumerate(runs):
        if not expectations:
            continue
        definition = asset.add_batch_definition_whole_table(f"{key}-{n}")
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{key}-{n}", data=definition, suite=suite)
        )
        result = validation.run(result_format=result_format, run_id=run_id)
        _without_personal_values(result)
        results.append(result)
    return results


def _docs_site(conn) -> Path | None:
    """The warehouse's site directory for the Data Docs; None (no docs, the gate goes on) when it
    cannot be had."""
    try:
        return site.site_dir(conn)
    except Exception:
        log.warning("no site directory for the GX Data Docs", exc_info=True)
        return None


def _build_docs(context, site_path: Path) -> Path | None:
    """Store this run's results in ``<site>/gx_results``, render their pages into ``<site>/gx_docs``
    and refresh GX's index of stored runs; a fault is logged, never a gate failure."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    target = site_path / site.GX_DOCS
    try:
        target.mkdir(parents=True, exist_ok=True)
        on_disk = context.add_store(DOCS_STORE, {
            "class_name": "ValidationResultsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(site_path / site.GX_RESULTS)},
        })
        in_memory = context.stores[context.validation_results_store_name]
        this_run = in_memory.list_keys()  # the context is this run's alone
        for key in this_run:
            result = in_memory.get(key)
            _without_personal_values(result)  # the store may hold its own copy of the result
            on_disk.set(key, result)
        context.add_data_docs_site(DOCS_SITE, {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(target)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                                   "validation_results_limit": GX_INDEX_RESULTS},
            "site_section_builders": {"validations": {"source_store_name": DOCS_STORE},
                                      "profiling": "None"},  # no profiling runs here
        })
        # only this run's pages are rendered: earlier runs' pages are on disk already
        suites = [ExpectationSuiteIdentifier(name=suite.name) for suite in context.suites.all()]
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[*this_run, *suites])
        return target / "index.html"
    except Exception:
        log.warning("GX Data Docs could not be built into %s", target, exc_info=True)
        return None
