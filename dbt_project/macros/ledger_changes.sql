{#
    int_account_balances_daily's view of the ledger, and what changed in it since its last run.

    The ledger is int_account_days_posted (staging and the channels seed, never a mart), the
    accounts int_accounts_latest. The model saves (beside the intermediates, never published):
    - `..__ledger_days_seen`: per business date, account (known to the CRM or not) and
      calendar date with ledger entries: the entries' count and fingerprint (sum of a 64-bit
      hash of every entry's columns the balances and the models reading its rebuild log use;
      owner, product and currency are compared per account below);
    - `..__ledger_accounts_seen`: each known account's owner, product and currency;
    - `..__ledger_dates_consumed`: the last entry of int_account_days_posted's log of rebuilt
      dates (macros/fact_dates.sql) it has compared;
    - `..__last_date_seen`: the latest business date (latest_business_date_sql).
    The next run compares only the business dates int_account_days_posted logged since (all of
    them when the log or a state is missing or the log says '-infinity'): an account-day that
    appeared, disappeared or differs is a change of that account from that day; an account
    whose owner, product or currency changed, or that became known or unknown, changes from its
    first day with entries (ledger_days_seen holds unknown accounts' days for that).
#}
{% macro ledger_days_sql(dates=none) -%}
    select
        account_id,
        business_date,
        calendar_date,
        entry_count as entries,
        fingerprint
    from {{ ref('int_account_days_posted') }}
    {%- if dates is not none %}
    -- through the business_date index: the logged dates only
    where business_date = any(array(select compared.business_date from {{ dates }} as compared))
    {%- endif %}
{%- endmacro %}

{% macro ledger_accounts_sql() -%}
    select account_id, customer_id, product, currency
    from {{ ref('int_accounts_latest') }}
{%- endmacro %}

{% macro ledger_temp(name) -%}
    {{- return(api.Relation.create(identifier=this.identifier ~ '__' ~ name).include(database=false, schema=false)) -}}
{%- endmacro %}

{#
    pre_hook SQL: temporary tables
    - `<model>__ledger_dates`: the business dates compared (every date on a full compare);
    - `<model>__ledger_days_now`: the ledger view of those dates now;
    - `<model>__ledger_changes` (account_id, calendar_date): the changed account-days;
    - `<model>__accounts_plan` (account_id, rebuild_from): each changed account is rebuilt from
      its first changed day, and at the latest from the day after the earlier of the previous
      and the current latest business date (an account's rows beyond that date exist only
      while it has a later entry);
    - `<model>__bounds` (last_date, last_date_seen, global_from, is_full): when the latest
      business date moved, every account is rebuilt from the day after the earlier of the two.
    Without a saved state, on a first build or without a business date: no changes listed,
    global_from = -infinity (every account, every date), is_full.
#}
{% macro ledger_changes_sql() -%}
    {%- set days_seen = history_state_relation('ledger_days_seen') -%}
    {%- set accounts_seen = history_state_relation('ledger_accounts_seen') -%}
    {%- set consumed = history_state_relation('ledger_dates_consumed') -%}
    {%- set last_seen = history_state_relation('last_date_seen') -%}
    {%- set log = history_state_relation('dates_built', ref('int_account_days_posted')) -%}
    {%- set dates = ledger_temp('ledger_dates') -%}
    {%- set days_now = ledger_temp('ledger_days_now') -%}
    {%- set changes = ledger_temp('ledger_changes') -%}
    {%- set accounts_plan = ledger_temp('accounts_plan') -%}
    {%- set bounds = ledger_temp('bounds') -%}
    {%- set diff = is_incremental() and business_date_var() is not none
        and state_exists(days_seen) and state_exists(accounts_seen) and state_exists(consumed)
        and state_exists(last_seen) and state_exists(log) -%}
    create temporary table {{ bounds }} on commit drop as
    select
        last_date,
        last_date_seen,
        {%- if diff %}
        case when last_date is distinct from last_date_seen then least(last_date, last_date_seen) + 1 end
        {%- else %}
        date '-infinity'
        {%- endif %} as global_from,
        {{ 'true' if not diff else 'false' }} as is_full
    from (select ({{ latest_business_date_sql() }}) as last_date) as now_bounds
    {%- if diff %}
    left join (select max(last_date) as last_date_seen from {{ last_seen }}) as seen_bounds on true
    {%- else %}
    cross join (select cast(null as date) as last_date_seen) as seen_bounds
    {%- endif %};
    create temporary table {{ dates }} on commit drop as
    {%- if diff %}
    with
    log_position as (
        select
            (select max(seq) from {{ consumed }}) as consumed_seq,
            (select max(seq) from {{ log }}) as logged_seq
    ),
    logged as (
        select distinct log_rows.business_date
        from {{ log }} as log_rows
        where log_rows.seq > (select coalesce(consumed_seq, 0) from log_position)
    ),
    compare_all as (
        {# the log says every date, or it was started again: compare the whole ledger #}
        select
            exists (select 1 from logged where business_date = date '-infinity')
            or consumed_seq is null or consumed_seq > coalesce(logged_seq, 0) as is_needed
        from log_position
    )
    select business_date from logged where not (select is_needed from compare_all)
    union
    select everything.business_date
    from (
        select distinct business_date from {{ ref('int_account_days_posted') }}
        union
        select distinct business_date from {{ days_seen }}
    ) as everything
    where (select is_needed from compare_all)
    {%- else %}
    select cast(null as date) as business_date where false
    {%- endif %};
    create temporary table {{ days_now }} on commit drop as
    {{ ledger_days_sql(dates if diff else none) }};
    create temporary table {{ changes }} on commit drop as
    {%- if diff %}
    select
        coalesce(days_now.account_id, seen.account_id) as account_id,
        coalesce(days_now.calendar_date, seen.calendar_date) as calendar_date
    from {{ days_now }} as days_now
    full outer join (
        select * from {{ days_seen }}
        where business_date = any(array(select compared.business_date from {{ dates }} as compared))
    ) as seen
        on days_now.account_id = seen.account_id
            and days_now.business_date = seen.business_date
            and days_now.calendar_date = seen.calendar_date
    where days_now.account_id is null or seen.account_id is null
        or (days_now.entries, days_now.fingerprint) is distinct from (seen.entries, seen.fingerprint)
    union all
    {# an account whose owner, product or currency changed: from its first day with entries #}
    select
        changed.account_id,
        (select min(first_days.calendar_date) from {{ days_seen }} as first_days
            where first_days.account_id = changed.account_id) as calendar_date
    from (
        select coalesce(now_accounts.account_id, seen_accounts.account_id) as account_id
        from ({{ ledger_accounts_sql() }}) as now_accounts
        full outer join {{ accounts_seen }} as seen_accounts
            on now_accounts.account_id = seen_accounts.account_id
        where (now_accounts.customer_id, now_accounts.product, now_accounts.currency)
            is distinct from (seen_accounts.customer_id, seen_accounts.product, seen_accounts.currency)
    ) as changed
    {%- else %}
    select cast(null as text) as account_id, cast(null as date) as calendar_date where false
    {%- endif %};
    create temporary table {{ accounts_plan }} on commit drop as
    select
        changes.account_id,
        least(min(changes.calendar_date), least(bounds.last_date, bounds.last_date_seen) + 1) as rebuild_from
    from {{ changes }} as changes
    cross join {{ bounds }} as bounds
    where changes.calendar_date is not null  -- an account without entries has nothing to rebuild
    group by changes.account_id, bounds.last_date, bounds.last_date_seen;
    create index on {{ accounts_plan }} (account_id)
{%- endmacro %}

{# post_hook SQL: save what this run saw (the whole ledger view after a full rebuild). #}
{% macro save_ledger_seen() -%}
    {%- set days_seen = history_state_relation('ledger_days_seen') -%}
    {%- set accounts_seen = history_state_relation('ledger_accounts_seen') -%}
    {%- set consumed = history_state_relation('ledger_dates_consumed') -%}
    {%- set last_seen = history_state_relation('last_date_seen') -%}
    {%- set log = history_state_relation('dates_built', ref('int_account_days_posted')) -%}
    {%- set dates = ledger_temp('ledger_dates') -%}
    {%- set days_now = ledger_temp('ledger_days_now') -%}
    {%- set bounds = ledger_temp('bounds') -%}
    drop table if exists {{ history_state_relation('ledger_seen') }};  -- its form before the fact's log
    create table if not exists {{ days_seen }} (
        account_id text not null, business_date date not null, calendar_date date not null,
        entries bigint not null, fingerprint numeric not null,
        primary key (business_date, account_id, calendar_date)
    );
    create index if not exists {{ (days_seen.identifier ~ '__account')[:63] }} on {{ days_seen }} (account_id);
    create table if not exists {{ accounts_seen }} (
        account_id text primary key, customer_id text, product text, currency text
    );
    create table if not exists {{ consumed }} (seq bigint);
    create table if not exists {{ last_seen }} (last_date date);
    delete from {{ days_seen }}
    where (select is_full from {{ bounds }})
        or business_date = any(array(select compared.business_date from {{ dates }} as compared));
    insert into {{ days_seen }} (account_id, business_date, calendar_date, entries, fingerprint)
    select account_id, business_date, calendar_date, entries, fingerprint from {{ days_now }};
    delete from {{ accounts_seen }};
    insert into {{ accounts_seen }} (account_id, customer_id, product, currency)
    {{ ledger_accounts_sql() }};
    delete from {{ consumed }};
    {#- the log is read in this transaction: entries a concurrent fact run adds after it stay unconsumed #}
    insert into {{ consumed }} (seq)
    select {% if state_exists(log) %}(select max(seq) from {{ log }}){% else %}cast(null as bigint){% endif %};
    delete from {{ last_seen }};
    insert into {{ last_seen }} (last_date) select last_date from {{ bounds }}
{%- endmacro %}

{# pre_hook of int_account_balances_daily: delete the rows this run rebuilds. #}
{% macro delete_rebuilt_balances() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where balance_date >= (select global_from from {{ this.identifier }}__bounds);
    delete from {{ this }} as built using {{ this.identifier }}__accounts_plan as accounts_plan
    where built.account_id = accounts_plan.account_id and built.balance_date >= accounts_plan.rebuild_from
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#
    int_account_balances_daily: a daily run reads the ledger's account-days from the earliest
    rebuilt day only, through int_account_days_posted's calendar_date index (not all history).
#}
{% macro rebuilt_ledger_days_filter(transactions, rebuilt_accounts) -%}
    {%- if is_incremental() -%}
    where {{ transactions }}.calendar_date >= (
        select min(wanted.rebuild_from) from {{ rebuilt_accounts }} as wanted
    )
    {%- endif -%}
{%- endmacro %}
