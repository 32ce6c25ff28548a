"""Database roles of the warehouse: who may read and write what.

:func:`setup_roles` creates (idempotently) three NOLOGIN group roles and their privileges
in the current database:

* ``cdw_loader``: the pipeline. Writes ``raw``, ``staging``, ``build`` and owns publication
  into ``analytics`` (``usage, create`` on those schemas, all DML on their tables); in ``audit``
  it may only ``select`` and ``insert`` (no update, no delete: the audit trail is append-only);
* ``cdw_analyst``: ``usage`` on ``analytics`` and ``select`` on its tables, nothing else;
* ``cdw_auditor``: ``usage`` and ``select`` on ``audit`` and ``analytics``, no writes.

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

from psycopg import sql

LOADER, ANALYST, AUDITOR = "cdw_loader", "cdw_analyst", "cdw_auditor"
ROLES = (LOADER, ANALYST, AUDITOR)
WRITTEN_BY_LOADER = ("raw", "staging", "build", "analytics")
PRIVATE = ("raw", "staging", "build", "audit")


def setup_roles(conn) -> None:
    """Create the group roles and (re)apply their privileges in this database; safe to run again."""
    ident = sql.Identifier
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
        for schema in (*PRIVATE, "analytics"):
            conn.execute(sql.SQL("create schema if not exists {}").format(ident(schema)))

        for schema in PRIVATE:
            conn.execute(sql.SQL("revoke all on schema {} from public").format(ident(schema)))
            conn.execute(sql.SQL("revoke all on all tables in schema {} from public").format(ident(schema)))
            conn.execute(sql.SQL("revoke all on all sequences in schema {} from public").format(ident(schema)))
        # an analyst or auditor inherits nothing they should not have from an earlier setup
        for schema in ("raw", "staging", "build"):
            for role in (ANALYST, AUDITOR):
                conn.execute(sql.SQL("revoke all on schema {} from {}").format(ident(schema), ident(role)))
                conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(ident(schema), ident(role)))

        # the loader
        for schema in WRITTEN_BY_LOADER:
            conn.execute(sql.SQL("grant usage, create on schema {} to {}").format(ident(schema), ident(LOADER)))
            conn.execute(sql.SQL("grant select, insert, update, delete, references, trigger on all tables"
                                 " in schema {} to {}").format(ident(schema), ident(LOADER)))
            conn.execute(sql.SQL("grant usage, select, update on all sequences in schema {} to {}").format(
                ident(schema), ident(LOADER)))
        conn.execute(sql.SQL("grant usage on schema audit to {}").format(ident(LOADER)))
        conn.execute(sql.SQL("revoke update, delete, truncate on all tables in schema audit from {}").format(
            ident(LOADER)))
        conn.execute(sql.SQL("grant select, insert on all tables in schema audit to {}").format(ident(LOADER)))
        conn.execute(sql.SQL("grant usage, select on all sequences in schema audit to {}").format(ident(LOADER)))

        # readers
        conn.execute(sql.SQL("grant usage on schema analytics to {}, {}").format(ident(ANALYST), ident(AUDITOR)))
        conn.execute(sql.SQL("grant select on all tables in schema analytics to {}, {}").format(
            ident(ANALYST), ident(AUDITOR)))
        conn.execute(sql.SQL("revoke all on schema audit from {}").format(ident(ANALYST)))
        conn.execute(sql.SQL("revoke all on all tables in schema audit from {}").format(ident(ANALYST)))
        conn.execute(sql.SQL("grant usage on schema audit to {}").format(ident(AUDITOR)))
        conn.execute(sql.SQL("revoke insert, update, delete, truncate on all tables in schema audit from {}").format(
            ident(AUDITOR)))
        conn.execute(sql.SQL("grant select on all tables in schema audit to {}").format(ident(AUDITOR)))

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
            for schema in WRITTEN_BY_LOADER:
                conn.execute(sql.SQL("alter default privileges{} in schema {} grant select, insert, update, delete"
                                     " on tables to {}").format(creator, ident(schema), ident(LOADER)))
