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

-- The warehouse's own id: names its directory of reports (CDW_HOME/reports/warehouse-<id>), so
-- that two warehouses sharing one CDW_HOME never write over each other's pages. Created once,
-- by the first report or Data Docs written (cdw.site.warehouse_id), not here: a database
-- copied from a template before it has one gets its own. A copy made later (a restore) keeps it.
create table if not exists audit.warehouse_identity (
    one_warehouse  boolean primary key default true check (one_warehouse),
    warehouse_id   uuid not null default gen_random_uuid(),
    created_at     timestamptz not null default clock_timestamp()
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

-- Who read personal data in clear, when, what and why: one row per call of a reading
-- function (sql/personal_data.sql), written by that function alone (no role may insert
-- directly, cdw.roles). read_id comes from a sequence, which a rollback does not give back:
-- a gap is a read whose transaction did not commit (the server log keeps a LOG line of it).
create table if not exists audit.personal_data_reads (
    read_id           bigint generated always as identity primary key,
    read_at           timestamptz not null default clock_timestamp(),
    reader            text not null,
    reader_groups     text[] not null,
    client_addr       inet,
    application_name  text,
    read_function     text not null,
    relation          text not null,
    personal_columns  text[] not null,
    subject           jsonb not null,
    rows_returned     bigint not null check (rows_returned >= 0),
    reason            text not null check (length(btrim(reason)) between 10 and 1000),
    case_reference    text check (length(case_reference) between 1 and 100)
);
create index if not exists personal_data_reads_by_time on audit.personal_data_reads (read_at);

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
                              'alerts', 'publications', 'warehouse_timezone', 'personal_data_reads',
                              'warehouse_identity', 'dbt_results'] loop
        if not exists (select 1 from pg_trigger where tgname = 'append_only' and tgrelid = ('audit.' || t)::regclass) then
            execute format('create trigger append_only before update or delete or truncate on audit.%I '
                           'for each statement execute function audit.refuse_change()', t);
        end if;
    end loop;
end $$;
