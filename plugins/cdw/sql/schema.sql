-- Raw and audit tables. Idempotent: run before every load (cdw.warehouse.ensure_schema).
-- Raw tables keep every business date's delivery; snapshots are kept per business date
-- so that history can be rebuilt by any later run or backfill.

create schema if not exists raw;
create schema if not exists audit;
-- personal data in clear that the audit trail must not show (loader only)
create schema if not exists restricted;

create table if not exists restricted.quarantined_originals (
    load_id      bigint not null,
    file_name    text not null,
    line_number  bigint not null,
    raw_record   text not null,
    primary key (load_id, file_name, line_number)
);

-- Keyed pseudonym of a personal value: HMAC-SHA256 (RFC 2104) from built-in sha256, the
-- key blocks coming from the session (cdw.pseudonyms.session_options), never from SQL text.
create or replace function restricted.pseudonym(value text) returns text
language plpgsql stable parallel safe as $$
declare
    inner_block bytea := decode(nullif(current_setting('cdw.pseudonym_ipad', true), ''), 'hex');
    outer_block bytea := decode(nullif(current_setting('cdw.pseudonym_opad', true), ''), 'hex');
begin
    if value is null then
        return null;
    end if;
    if inner_block is null or outer_block is null then
        raise exception 'no pseudonymisation key in this session: set CDW_PSEUDONYM_KEY or the Airflow connection cdw_pseudonym_key';
    end if;
    return encode(sha256(outer_block || sha256(inner_block || convert_to(value, 'UTF8'))), 'hex');
end $$;
revoke all on function restricted.pseudonym(text) from public;

-- ---------------------------------------------------------------- audit (append-only)
-- load_runs is an event log: one row per status a load reaches (RUNNING, then LOADED,
-- PUBLISHED, FAILED or SUPERSEDED). The latest row per load_id is its current status.
create table if not exists audit.load_runs (
    event_id        bigint generated always as identity primary key,
    load_id         bigint not null,
    business_date   date not null,
    started_at      timestamptz not null,
    finished_at     timestamptz,
    status          text not null check (status in ('RUNNING', 'LOADED', 'PUBLISHED', 'FAILED', 'SUPERSEDED')),
    failure_reason  text,
    code_version    text not null,
    landing_path    text,
    recorded_at     timestamptz not null default clock_timestamp()
);
create index if not exists load_runs_by_date on audit.load_runs (business_date, load_id);
create sequence if not exists audit.load_id_seq;

create or replace view audit.load_runs_latest as
select distinct on (load_id) *
from audit.load_runs
order by load_id, event_id desc;

-- rows_loaded: rows the load committed to raw. A load that failed before its commit (file
-- fault, threshold, interruption) committed none: 0, beside what it read and set aside.
create table if not exists audit.file_reconciliation (
    load_id           bigint not null,
    business_date     date not null,
    file_name         text not null,
    sha256            text,
    manifest_rows     bigint,
    rows_read         bigint,
    rows_loaded       bigint,
    rows_quarantined  bigint,
    recorded_at       timestamptz not null default clock_timestamp(),
    primary key (load_id, file_name)
);

-- raw_record shows the record with its personal fields masked (cdw.landing.masking);
-- the original text is in restricted.quarantined_originals
create table if not exists audit.quarantined_records (
    load_id        bigint not null,
    business_date  date not null,
    file_name      text not null,
    line_number    bigint not null,
    raw_record     text not null,
    reasons        text[] not null,
    recorded_at    timestamptz not null default clock_timestamp(),
    primary key (load_id, file_name, line_number)
);

create table if not exists audit.validation_results (
    load_id         bigint not null,
    suite_name      text not null,
    expectation     text not null,
    success         boolean not null,
    observed_value  text,
    details         jsonb,
    severity        text,
    recorded_at     timestamptz not null default clock_timestamp()
);

-- every publication of analytics: which load, and per table how (cdw.publication)
create table if not exists audit.publications (
    publication_id   bigint generated always as identity primary key,
    load_id          bigint not null,
    business_date    date not null,
    published_at     timestamptz not null default clock_timestamp(),
    build_watermark  timestamptz,
    tables           jsonb not null
);

-- The bank's time zone (IANA name): a property of the warehouse, recorded once by the first
-- load that commits (its manifest's zone, else CDW_TIMEZONE) and never changed. Every
-- calendar date, 30-minute interval and business-date rule (load, gate, dbt, report) reads
-- it; a later drop naming another zone fails as bad_manifest (cdw.warehouse.recorded_timezone).
create table if not exists audit.warehouse_timezone (
    one_zone       boolean primary key default true check (one_zone),
    timezone       text not null,
    source         text not null check (source in ('manifest', 'CDW_TIMEZONE')),
    load_id        bigint not null,
    business_date  date not null,
    recorded_at    timestamptz not null default clock_timestamp()
);

-- every failure and late-delivery alert the pipeline raised
create table if not exists audit.alerts (
    alert_id       bigint generated always as identity primary key,
    raised_at      timestamptz not null default clock_timestamp(),
    dag_id         text,
    task_id        text,
    run_id         text,
    try_number     integer,
    business_date  date,
    error_type     text,
    message        text not null
);

-- dbt's result for every node (model, seed, snapshot, data test, unit test) of every dbt
-- build of a load, as the build ran it: the DAG's Cosmos tasks record their run_results.json
-- before its temporary directory is gone (cdw.dbt_results). A retried task records again:
-- the latest row of a node is its result. message: dbt's, with quoted values and the
-- DETAIL lines of database errors (which can show a row) left out.
create table if not exists audit.dbt_results (
    result_id          bigint generated always as identity primary key,
    load_id            bigint not null,
    business_date      date not null,
    invocation_id      text not null,
    unique_id          text not null,
    resource_type      text not null,
    status             text not null,
    failures           bigint,
    message            text,
    execution_seconds  double precision,
    tested_nodes       text[],
    run_id             text,
    task_id            text,
    try_number         integer,
    recorded_at        timestamptz not null default clock_timestamp()
);
create index if not exists dbt_results_load on audit.dbt_results (load_id, unique_id);

-- The audit trail is append-only: the pipeline may insert, never update or delete.
create or replace function audit.refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'audit.% is append-only: % refused', tg_table_name, tg_op;
end $$;

do $$
declare t text;
begin
    foreach t in array array['load_runs', 'file_reconciliation', 'quarantined_records', 'validation_results',
                              'alerts', 'publications', 'warehouse_timezone', 'dbt_results'] loop
        if not exists (select 1 from pg_trigger where tgname = 'append_only' and tgrelid = ('audit.' || t)::regclass) then
            execute format('create trigger append_only before update or delete or truncate on audit.%I '
                           'for each statement execute function audit.refuse_change()', t);
        end if;
    end loop;
end $$;
