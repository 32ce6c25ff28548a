"""Database roles of the warehouse: who may read and write what.

:func:`setup_roles` creates (idempotently) three NOLOGIN group roles and their privileges
in the current database:

* ``cdw_loader``: the pipeline (every pipeline connection acts as it: ``CDW_PIPELINE_ROLE``).
  Writes ``raw``, ``restricted``, ``staging``, ``build`` and owns publication into
  ``analytics`` (``usage, create`` on those schemas, all DML on their tables; it owns the
  tables dbt and the publication replace); in ``audit`` it may only ``select`` and
  ``insert`` (no update, no delete: the audit trail is append-only, and its tables stay
  owned by the warehouse's owner so the loader cannot drop their triggers). Only the
  loader may compute pseudonyms (``restricted.pseudonym``) or read personal data in clear
  (``raw`` and ``restricted``);
* ``cdw_analyst``: ``usage`` on ``analytics`` and ``select`` on its tables, nothing else;
* ``cdw_auditor``: ``usage`` and ``select`` on ``audit`` and ``analytics``, no writes;
* ``cdw_personal_data_reader``: people who must see a customer's personal data in clear (a
  case handler, an investigator): ``execute`` on the reading functions of
  ``sql/personal_data.sql`` (:data:`PERSONAL_DATA_FUNCTIONS`) and ``usage`` on ``restricted`` to
  reach them, nothing else; every call is logged in ``audit.personal_data_reads``, which no
  role may write directly (not even the loader: only the functions do). Not granted to
  analysts or auditors: an auditor reviews the reads and should not make them.

``PUBLIC`` loses every privilege on ``raw``, ``staging``, ``build`` and ``audit``. Default
privileges make future ``analytics`` tables readable by analysts and auditors (and future
``audit`` tables by auditors) whoever of the current role or ``cdw_loader`` creates them;
the publish transaction also re-grants them (:func:`cdw.publication.grant_readers`), which
covers tables created by any other role.

Group roles cannot log in. A DBA gives people and services access by granting the group
to a login role, for example::

    create role alice login password '…';      -- or via the bank's SSO / LDAP mapping
    grant cdw_analyst to alice;                 -- alice reads analytics
    create role bob login password '…';
    grant cdw_auditor to bob;                   -- bob reads audit and analytics
    create role airflow_cdw login password '…';
    grant cdw_loader to airflow_cdw;            -- the pipeline's connection

and takes it away with ``revoke cdw_analyst from alice``. Roles are cluster-wide, the
privileges per database: run :func:`setup_roles` once in every warehouse database.
"""

from __future__ import annotations

from importlib import resources

from psycopg import sql

from cdw.settings import get_settings

LOADER, ANALYST, AUDITOR = "cdw_loader", "cdw_analyst", "cdw_auditor"
PERSONAL_DATA_READER = "cdw_personal_data_reader"
ROLES = (LOADER, ANALYST, AUDITOR, PERSONAL_DATA_READER)
#: The only way for a person to read personal data in clear (sql/personal_data.sql), each call logged.
PERSONAL_DATA_FUNCTIONS = (
    "restricted.read_customer(text, text, text)",
    "restricted.read_account_statement(text, date, date, text, text)",
    "restricted.read_set_aside_record(bigint, text, bigint, text, text)",
)
#: Part of the schema digest (cdw.warehouse.ensure_schema): a change here re-applies privileges.
PRIVILEGES_VERSION = 3


def build_schemas() -> tuple[str, ...]:
    """``build`` and the configured build schema (``CDW_BUILD_SCHEMA``): the loader cannot create
    schemas, so they are made here."""
    return tuple(dict.fromkeys(("build", get_settings().build_schema)))


def analytics_functions_sql() -> str:
    """The functions analysts call in ``analytics`` (``sql/analytics_functions.sql``)."""
    return resources.files("cdw").joinpath("sql/analytics_functions.sql").read_text(encoding="utf-8")


def setup_roles(conn, extra_build_schemas: tuple[str, ...] = ()) -> None:
    """Create the group roles and (re)apply their privileges in this database; safe to run again.

    ``extra_build_schemas``: more private schemas dbt may build into (tests build a second set
    of marts side by side).
    """
    ident = sql.Identifier
    builds = tuple(dict.fromkeys((*build_schemas(), *extra_build_schemas)))
    # schemas the loader writes; of those, the ones whose tables dbt or the publication drop
    # and recreate (the loader must own their tables)
    written_by_loader = ("raw", "restricted", "staging", *builds, "analytics")
    replaced_by_loader = ("staging", *builds, "analytics")
    private = ("raw", "restricted", "staging", *builds, "audit", "cdw_meta")
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('cdw.roles'))")
        for role in ROLES:
            # roles are cluster-wide and the advisory lock per database: another database's
            # setup may create the role between the check and the create
            conn.execute(sql.SQL(
                "do $$ begin"
                " if not exists (select 1 from pg_roles where rolname = {name}) then"
                "  create role {role} nologin;"
                " end if;"
                " exception when duplicate_object or unique_violation then null;"
                " end $$"
            ).format(name=sql.Literal(role), role=ident(role)))
        for schema in (*private, "analytics"):
            conn.execute(sql.SQL("create schema if not exists {}").format(ident(schema)))
        # with the schema, so that analytics dropped and made again has them back
        conn.execute(analytics_functions_sql())

        for schema in private:
            conn.execute(sql.SQL("revoke all on schema {} from public").format(ident(schema)))
            conn.execute(sql.SQL("revoke all on all tables in schema {} from public").format(ident(schema)))
            conn.execute(sql.SQL("revoke all on all sequences in schema {} from public").format(ident(schema)))
        # a reader role inherits nothing it should not have from an earlier setup
        for schema in (s for s in private if s != "audit"):  # audit: granted to auditors below
            for role in (ANALYST, AUDITOR, PERSONAL_DATA_READER):
                conn.execute(sql.SQL("revoke all on schema {} from {}").format(ident(schema), ident(role)))
                conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(ident(schema), ident(role)))

        # the loader
        for schema in written_by_loader:
            conn.execute(sql.SQL("grant usage, create on schema {} to {}").format(ident(schema), ident(LOADER)))
            conn.execute(sql.SQL("grant select, insert, update, delete, references, trigger on all tables"
                                 " in schema {} to {}").format(ident(schema), ident(LOADER)))
            conn.execute(sql.SQL("grant usage, select, update on all sequences in schema {} to {}").format(
                ident(schema), ident(LOADER)))
        # a warehouse built before the pipeline ran as the loader: hand it what it replaces
        for schema in replaced_by_loader:
            for name, kind in conn.execute(
                    "select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                    " where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'p')"
                    " and c.relowner <> %s::regrole", (schema, LOADER)).fetchall():
                statement = {"v": "alter view", "m": "alter materialized view"}.get(kind, "alter table")
                conn.execute(sql.SQL(statement + " {} owner to {}").format(ident(schema, name), ident(LOADER)))
        conn.execute("revoke all on function restricted.pseudonym(text) from public")
        conn.execute(sql.SQL("grant execute on function restricted.pseudonym(text) to {}").format(ident(LOADER)))
        conn.execute("revoke all on function raw.refresh_after_load(text) from public")
        conn.execute(sql.SQL("grant execute on function raw.refresh_after_load(text) to {}").format(ident(LOADER)))
        conn.execute(sql.SQL("grant usage on schema cdw_meta to {}").format(ident(LOADER)))
        conn.execute(sql.SQL("grant select on all tables in schema cdw_meta to {}").format(ident(LOADER)))
        conn.execute(sql.SQL("grant usage on schema audit to {}").format(ident(LOADER)))
        conn.execute(sql.SQL("revoke update, delete, truncate on all tables in schema audit from {}").format(
            ident(LOADER)))
        conn.execute(sql.SQL("grant select, insert on all tables in schema audit to {}").format(ident(LOADER)))
        conn.execute(sql.SQL("grant usage, select on all sequences in schema audit to {}").format(ident(LOADER)))
        # only the reading functions write who read personal data: no one can forge or pad it
        conn.execute(sql.SQL("revoke insert on audit.personal_data_reads from {}").format(ident(LOADER)))

        # readers
        conn.execute(sql.SQL("grant usage on schema analytics to {}, {}").format(ident(ANALYST), ident(AUDITOR)))
        conn.execute(sql.SQL("grant select on all tables in schema analytics to {}, {}").format(
            ident(ANALYST), ident(AUDITOR)))
        conn.execute(sql.SQL("grant execute on function analytics.call_center_kpis(date, date) to {}, {}").format(
            ident(ANALYST), ident(AUDITOR)))
        for role in (ANALYST, PERSONAL_DATA_READER):
            conn.execute(sql.SQL("revoke all on schema audit from {}").format(ident(role)))
            conn.execute(sql.SQL("revoke all on all tables in schema audit from {}").format(ident(role)))
        conn.execute(sql.SQL("grant usage on schema audit to {}").format(ident(AUDITOR)))
        conn.execute(sql.SQL("revoke insert, update, delete, truncate on all tables in schema audit from {}").format(
            ident(AUDITOR)))
        conn.execute(sql.SQL("grant select on all tables in schema audit to {}").format(ident(AUDITOR)))

        # personal data in clear: through the logged functions only, for the readers only
        conn.execute(sql.SQL("revoke all on schema analytics from {}").format(ident(PERSONAL_DATA_READER)))
        conn.execute(sql.SQL("grant usage on schema restricted to {}").format(ident(PERSONAL_DATA_READER)))
        for function in PERSONAL_DATA_FUNCTIONS:
            conn.execute(sql.SQL("revoke all on function {} from public, {}, {}, {}").format(
                sql.SQL(function), ident(LOADER), ident(ANALYST), ident(AUDITOR)))
            conn.execute(sql.SQL("grant execute on function {} to {}").format(
                sql.SQL(function), ident(PERSONAL_DATA_READER)))

        # future tables: readable by the readers, whoever of us creates them
        creators = [sql.SQL("")]
        if conn.execute("select pg_has_role(current_user, %s, 'USAGE')", (LOADER,)).fetchone()[0]:
            creators.append(sql.SQL(" for role {}").format(ident(LOADER)))
        for creator in creators:
            conn.execute(sql.SQL("alter default privileges{} in schema analytics grant select on tables to {}, {}")
                         .format(creator, ident(ANALYST), ident(AUDITOR)))
            conn.execute(sql.SQL("alter default privileges{} in schema audit grant select on tables to {}")
                         .format(creator, ident(AUDITOR)))
            conn.execute(sql.SQL("alter default privileges{} in schema audit grant select, insert on tables to {}")
                         .format(creator, ident(LOADER)))
            for schema in written_by_loader:
                conn.execute(sql.SQL("alter default privileges{} in schema {} grant select, insert, update, delete"
                                     " on tables to {}").format(creator, ident(schema), ident(LOADER)))


def add_login(conn, login: str, group: str, password: str | None = None) -> bool:
    """Make ``login`` a LOGIN role that is a member of ``group`` (one of :data:`ROLES`) and of no
    other cdw group; True when the role was created. Idempotent. Without ``password`` the role
    authenticates as the server's pg_hba.conf says (peer, LDAP, certificates); with one, its
    password is set (again)."""
    if group not in ROLES:
        raise ValueError(f"group must be one of {', '.join(ROLES)}, got {group!r}")
    ident = sql.Identifier
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('cdw.roles'))")
        row = conn.execute("select rolcanlogin, rolsuper from pg_roles where rolname = %s", (login,)).fetchone()
        if row and row[1]:
            raise ValueError(f"{login} is a superuser: not made a {group} login")
        created = row is None
        if created:
            conn.execute(sql.SQL("create role {} login").format(ident(login)))
        elif not row[0]:
            conn.execute(sql.SQL("alter role {} login").format(ident(login)))
        if password is not None:
            conn.execute(sql.SQL("alter role {} password {}").format(ident(login), sql.Literal(password)))
        for other in ROLES:
            if other != group:
                conn.execute(sql.SQL("revoke {} from {}").format(ident(other), ident(login)))
        conn.execute(sql.SQL("grant {} to {}").format(ident(group), ident(login)))
        if group == ANALYST:  # a BI tool lists the published tables first
            conn.execute(sql.SQL("alter role {} set search_path = analytics").format(ident(login)))
    return created
