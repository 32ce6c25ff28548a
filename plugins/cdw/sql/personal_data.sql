-- Reading personal data in clear: the only way for a person (docs/auditors.md).
-- Idempotent; runs after the raw tables exist (cdw.warehouse._schema_ddl), as the warehouse's
-- owner, who owns raw and restricted: each function runs with the owner's rights
-- (security definer), so the caller needs no privilege on raw or restricted, only
-- execute, which cdw.roles grants to cdw_personal_data_reader alone.
-- Every call that returns anything first passes its reason through
-- restricted.personal_data_read_reason and ends with a row in audit.personal_data_reads,
-- in the caller's transaction: no log row, no data. A refused call (no reason, bad
-- arguments) reads nothing, logs nothing in the table and raises an error, which the server
-- log keeps with the statement.
-- search_path is pinned (pg_catalog, pg_temp) and every object is schema-qualified: a caller
-- cannot make a definer's function run objects of its own.

-- The reason, trimmed; refused (invalid_parameter_value) when missing, under 10 characters
-- or over 1000. A case reference is optional (blank: none), at most 100 characters.
create or replace function restricted.personal_data_read_reason(reason text, case_reference text)
returns text
language plpgsql immutable set search_path = pg_catalog, pg_temp as $$
begin
    if reason is null or length(btrim(reason)) < 10 then
        raise exception using errcode = 'invalid_parameter_value',
            message = 'a reason is required to read personal data: at least 10 characters saying why '
                      '(the case, the request), never personal data itself',
            hint = 'e.g. restricted.read_customer(''C00042'', ''complaint 2026-118: customer disputes a fee'')';
    end if;
    if length(btrim(reason)) > 1000 then
        raise exception using errcode = 'invalid_parameter_value',
            message = 'the reason is longer than 1000 characters: say why in fewer words';
    end if;
    if length(btrim(case_reference)) > 100 then
        raise exception using errcode = 'invalid_parameter_value',
            message = 'a case reference is at most 100 characters';
    end if;
    return btrim(reason);
end $$;
revoke all on function restricted.personal_data_read_reason(text, text) from public;

-- One row of audit.personal_data_reads for a read that returned rows_returned rows; who is
-- the session's login (session_user: inside a security definer function current_user is
-- the owner) and the cdw_ groups it is a member of.
create or replace function restricted.record_personal_data_read(
    read_function text, relation text, personal_columns text[], subject jsonb, rows_returned bigint,
    reason text, case_reference text
) returns bigint
language plpgsql volatile set search_path = pg_catalog, pg_temp as $$
declare
    new_read_id bigint;
begin
    insert into audit.personal_data_reads
        (reader, reader_groups, client_addr, application_name, read_function, relation, personal_columns,
         subject, rows_returned, reason, case_reference)
    values (
        session_user,
        array(select r.rolname::text from pg_catalog.pg_roles as r
              where r.rolname like 'cdw\_%' and not r.rolcanlogin
                    and pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
              order by 1),
        pg_catalog.inet_client_addr(),
        nullif(pg_catalog.current_setting('application_name', true), ''),
        read_function, relation, personal_columns, subject, rows_returned,
        btrim(reason), nullif(btrim(case_reference), '')
    )
    returning read_id into new_read_id;
    -- also in the server log, which a rollback does not undo (ids only, never the data)
    raise log 'cdw personal-data read %: % by % of %, % row(s)',
        new_read_id, read_function, session_user, subject, rows_returned;
    return new_read_id;
end $$;
revoke all on function restricted.record_personal_data_read(text, text, text[], jsonb, bigint, text, text)
from public;

-- A customer's master-data record in clear (name, phone, e-mail, …) as last delivered: the
-- row of the latest business date whose customers snapshot holds the customer; none when
-- no snapshot does (still logged: someone looked).
create or replace function restricted.read_customer(customer_id text, reason text, case_reference text default null)
returns setof raw.customers
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
    rows_read bigint;
begin
    perform restricted.personal_data_read_reason(reason, case_reference);
    if read_customer.customer_id is null then
        raise exception using errcode = 'invalid_parameter_value', message = 'read_customer: customer_id is required';
    end if;
    return query
        select c.* from raw.customers as c
        where c.customer_id = read_customer.customer_id
        order by c.business_date desc, c.load_id desc
        limit 1;
    get diagnostics rows_read = row_count;
    perform restricted.record_personal_data_read(
        'restricted.read_customer', 'raw.customers', array['full_name', 'phone', 'email'],
        jsonb_build_object('customer_id', read_customer.customer_id), rows_read, reason, case_reference);
end $$;
revoke all on function restricted.read_customer(text, text, text) from public;

-- An account's ledger entries of the business dates from_date..to_date (at most 366 days) in
-- clear (the counterparty's account), in posting order: an account statement.
create or replace function restricted.read_account_statement(
    account_id text, from_date date, to_date date, reason text, case_reference text default null
) returns setof raw.transactions
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
    rows_read bigint;
begin
    perform restricted.personal_data_read_reason(reason, case_reference);
    if read_account_statement.account_id is null or from_date is null or to_date is null then
        raise exception using errcode = 'invalid_parameter_value',
            message = 'read_account_statement: account_id, from_date and to_date are required';
    end if;
    if to_date < from_date or to_date - from_date > 365 then
        raise exception using errcode = 'invalid_parameter_value',
            message = format('read_account_statement: %s..%s is not a period of 1 to 366 days', from_date, to_date);
    end if;
    return query
        select t.* from raw.transactions as t
        where t.account_id = read_account_statement.account_id
              and t.business_date between from_date and to_date
        order by t.txn_ts, t.txn_id;
    get diagnostics rows_read = row_count;
    perform restricted.record_personal_data_read(
        'restricted.read_account_statement', 'raw.transactions', array['counterparty_account'],
        jsonb_build_object('account_id', read_account_statement.account_id, 'from_date', from_date,
                           'to_date', to_date),
        rows_read, reason, case_reference);
end $$;
revoke all on function restricted.read_account_statement(text, date, date, text, text) from public;

-- The original text of one record set aside (the audit trail and the report show it masked):
-- the line the load, file and line number of audit.quarantined_records name.
create or replace function restricted.read_set_aside_record(
    load_id bigint, file_name text, line_number bigint, reason text, case_reference text default null
) returns setof restricted.quarantined_originals
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
    rows_read bigint;
begin
    perform restricted.personal_data_read_reason(reason, case_reference);
    if read_set_aside_record.load_id is null or read_set_aside_record.file_name is null
       or read_set_aside_record.line_number is null then
        raise exception using errcode = 'invalid_parameter_value',
            message = 'read_set_aside_record: load_id, file_name and line_number are required';
    end if;
    return query
        select q.* from restricted.quarantined_originals as q
        where q.load_id = read_set_aside_record.load_id and q.file_name = read_set_aside_record.file_name
              and q.line_number = read_set_aside_record.line_number;
    get diagnostics rows_read = row_count;
    perform restricted.record_personal_data_read(
        'restricted.read_set_aside_record', 'restricted.quarantined_originals', array['raw_record'],
        jsonb_build_object('load_id', read_set_aside_record.load_id, 'file_name', read_set_aside_record.file_name,
                           'line_number', read_set_aside_record.line_number),
        rows_read, reason, case_reference);
end $$;
revoke all on function restricted.read_set_aside_record(bigint, text, bigint, text, text) from public;
