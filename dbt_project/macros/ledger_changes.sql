{#
    int_account_balances_daily's view of the ledger, and what changed in it since its last run.

    One row per account-day with ledger entries of a known account (fct_transactions with
    account_key <> -1, the account in dim_account): the entries' count and a fingerprint
    (sum of a 64-bit hash of every entry's columns the balances and the models reading its
    rebuild log use), and the account's current owner, product and currency. The model saves
    these rows (`<schema>__int_account_balances_daily__ledger_seen`) and the latest business
    date (`..__last_date_seen`); the next run compares: an account-day that appeared,
    disappeared or differs is a change of that account from that day.
#}
{% macro ledger_days_sql() -%}
    {#- aggregated before the join: joined first, the planner sorted the whole ledger by account -#}
    select
        ledger_days.account_id,
        ledger_days.calendar_date,
        ledger_days.entries,
        ledger_days.fingerprint,
        accounts.customer_id,
        accounts.product,
        accounts.currency
    from (
        select
            account_id,
            calendar_date,
            count(*) as entries,
            sum(hashtextextended(concat_ws(
                '|', txn_id, txn_ts, balance_after, amount, signed_amount, direction, currency, customer_id,
                channel_key, txn_type
            ), 0)) as fingerprint
        from {{ ref('fct_transactions') }}
        where account_key <> {{ unknown_key() }}
        group by account_id, calendar_date
    ) as ledger_days
    inner join {{ ref('dim_account') }} as accounts
        on ledger_days.account_id = accounts.account_id and accounts.account_key <> {{ unknown_key() }}
{%- endmacro %}

{% macro ledger_last_date_sql() -%}
    select max(business_date) from {{ ref('fct_transactions') }} where account_key <> {{ unknown_key() }}
{%- endmacro %}

{#
    pre_hook SQL: temporary tables
    - `<model>__ledger_changes`: the account-days that changed (new values; is_present false
      when the account-day is gone);
    - `<model>__accounts_plan` (account_id, rebuild_from): each changed account is rebuilt from
      its first changed day, and at the latest from the day after the earlier of the previous
      and the current latest business date (an account's rows beyond that date exist only
      while it has a later entry);
    - `<model>__bounds` (last_date, last_date_seen, global_from): when the latest business date
      moved, every account is rebuilt from the day after the earlier of the two.
    Without a saved state, on a first build or without a business date: no changes listed,
    global_from = -infinity (every account, every date).
#}
{% macro ledger_changes_sql() -%}
    {%- set seen = history_state_relation('ledger_seen') -%}
    {%- set last_seen = history_state_relation('last_date_seen') -%}
    {%- set changes = api.Relation.create(identifier=this.identifier ~ '__ledger_changes').include(database=false, schema=false) -%}
    {%- set accounts_plan = api.Relation.create(identifier=this.identifier ~ '__accounts_plan').include(database=false, schema=false) -%}
    {%- set bounds = api.Relation.create(identifier=this.identifier ~ '__bounds').include(database=false, schema=false) -%}
    {%- set diff = is_incremental() and business_date_var() is not none and state_exists(seen) and state_exists(last_seen) -%}
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
    from (select ({{ ledger_last_date_sql() }}) as last_date) as now_bounds
    {%- if diff %}
    left join (select max(last_date) as last_date_seen from {{ last_seen }}) as seen_bounds on true
    {%- else %}
    cross join (select cast(null as date) as last_date_seen) as seen_bounds
    {%- endif %};
    create temporary table {{ changes }} on commit drop as
    {%- if diff %}
    with now_days as (
        {{ ledger_days_sql() }}
    )
    select
        coalesce(now_days.account_id, seen.account_id) as account_id,
        coalesce(now_days.calendar_date, seen.calendar_date) as calendar_date,
        now_days.account_id is not null as is_present,
        now_days.entries,
        now_days.fingerprint,
        now_days.customer_id,
        now_days.product,
        now_days.currency
    from now_days
    full outer join {{ seen }} as seen
        on now_days.account_id = seen.account_id and now_days.calendar_date = seen.calendar_date
    where now_days.account_id is null or seen.account_id is null
        or (now_days.entries, now_days.fingerprint, now_days.customer_id, now_days.product, now_days.currency)
        is distinct from (seen.entries, seen.fingerprint, seen.customer_id, seen.product, seen.currency)
    {%- else %}
    select
        cast(null as text) as account_id, cast(null as date) as calendar_date, false as is_present,
        cast(null as bigint) as entries, cast(null as numeric) as fingerprint, cast(null as text) as customer_id,
        cast(null as text) as product, cast(null as text) as currency
    where false
    {%- endif %};
    create temporary table {{ accounts_plan }} on commit drop as
    select
        changes.account_id,
        least(min(changes.calendar_date), least(bounds.last_date, bounds.last_date_seen) + 1) as rebuild_from
    from {{ changes }} as changes
    cross join {{ bounds }} as bounds
    group by changes.account_id, bounds.last_date, bounds.last_date_seen;
    create index on {{ accounts_plan }} (account_id)
{%- endmacro %}

{# post_hook SQL: save what this run saw (the whole ledger view after a full rebuild). #}
{% macro save_ledger_seen() -%}
    {%- set seen = history_state_relation('ledger_seen') -%}
    {%- set last_seen = history_state_relation('last_date_seen') -%}
    {%- set changes = api.Relation.create(identifier=this.identifier ~ '__ledger_changes').include(database=false, schema=false) -%}
    {%- set bounds = api.Relation.create(identifier=this.identifier ~ '__bounds').include(database=false, schema=false) -%}
    create table if not exists {{ seen }} (
        account_id text not null, calendar_date date not null, entries bigint not null, fingerprint numeric not null,
        customer_id text, product text, currency text, primary key (account_id, calendar_date)
    );
    create table if not exists {{ last_seen }} (last_date date);
    delete from {{ seen }} where (select is_full from {{ bounds }});
    delete from {{ seen }} as seen using {{ changes }} as changes
    where seen.account_id = changes.account_id and seen.calendar_date = changes.calendar_date;
    insert into {{ seen }} (account_id, calendar_date, entries, fingerprint, customer_id, product, currency)
    select account_id, calendar_date, entries, fingerprint, customer_id, product, currency
    from ({{ ledger_days_sql() }}) as now_days
    where (select is_full from {{ bounds }});
    insert into {{ seen }} (account_id, calendar_date, entries, fingerprint, customer_id, product, currency)
    select account_id, calendar_date, entries, fingerprint, customer_id, product, currency
    from {{ changes }} where is_present;
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
    int_account_balances_daily: a daily run reads the ledger from the earliest rebuilt day
    only, through fct_transactions' date_key index (not all history).
#}
{% macro rebuilt_ledger_days_filter(transactions, rebuilt_accounts) -%}
    {%- if is_incremental() -%}
    where {{ transactions }}.date_key >= (
        select {{ date_key_floor('min(wanted.rebuild_from)') }}
        from {{ rebuilt_accounts }} as wanted
    )
    {%- endif -%}
{%- endmacro %}
