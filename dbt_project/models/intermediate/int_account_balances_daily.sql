{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook=[
            "{{ plan_rebuild('balance_date', extra=ledger_changes_sql(), delete=false,
                changed_from=['(select global_from from ' ~ this.identifier ~ '__bounds)',
                              '(select min(rebuild_from) from ' ~ this.identifier ~ '__accounts_plan)']) }}",
            "{{ delete_rebuilt_balances() }}",
        ],
        post_hook=[
            "create index if not exists int_account_balances_daily__account_date on {{ this }} (account_id, balance_date)",
            "create index if not exists int_account_balances_daily__balance_date on {{ this }} (balance_date)",
            "{{ finish_rebuild(save_ledger_seen()) }}",
        ],
    )
}}
{#
    End-of-day balance of every account on every date from its first ledger entry in the
    data to the latest business date (with or without entries: latest_business_date_sql). A day's balance is the balance_after of the account's
    last entry that day (latest txn_ts, then txn_id: ids follow file order); a day without
    entries carries the previous balance forward. The ledger carries no opening balances,
    so before an account's first entry in the data its balance is unknown (no row).

    Cost: one row per account per day since its first entry, generated from one row per
    account-day with entries (each spans to the day before its next entry), never by
    scanning accounts x calendar.

    Incremental (macros/incremental_history.sql, macros/ledger_changes.sql): a daily run
    rebuilds each account from the first day its ledger view (entries, owner, product,
    currency) changed, and every account from the day after the latest business date when
    that moved; an account's rows before that date are kept, and its balance on the day
    before is where the rebuilt days start from. Without a business date: every row.
#}
with

{# one row per business date, account and calendar date with entries: a day's entries may come
   from more than one business date, its end is the last of their last entries #}
ledger_days as (

    select * from {{ ref('int_account_days_posted') }}

),

{# known accounts: the CRM's current state #}
accounts as (

    select * from {{ ref('int_accounts_latest') }}

),

bounds as (

    {# the latest business date, with or without entries (indexes, not the CTE: a second read
       of it would materialise the whole ledger) #}
    select ({{ latest_business_date_sql() }}) as last_date

),

{% if is_incremental() %}
rebuilt_accounts as (

    {# every account from the bounds' global_from, changed accounts from their own date #}
    select
        account_id,
        min(rebuild_from) as rebuild_from
    from (
        select
            accounts.account_id,
            plan_bounds.global_from as rebuild_from
        from accounts
        cross join {{ this.identifier }}__bounds as plan_bounds
        where plan_bounds.global_from is not null
        union all
        select
            accounts_plan.account_id,
            accounts_plan.rebuild_from
        from {{ this.identifier }}__accounts_plan as accounts_plan
    ) as wanted
    group by account_id

),

kept_end_of_day as (

    {# the kept balance on the day before an account's rebuilt days: where they start from #}
    select
        kept.account_id,
        kept.last_entry_date as calendar_date,
        kept.balance as balance_after
    from {{ this }} as kept
    inner join rebuilt_accounts
        on kept.account_id = rebuilt_accounts.account_id
            and kept.balance_date = rebuilt_accounts.rebuild_from - 1

),
{% else %}
rebuilt_accounts as (

    select
        account_id,
        date '-infinity' as rebuild_from
    from accounts

),
{% endif %}

rebuilt_end_of_day as (

    select distinct on (ledger_days.account_id, ledger_days.calendar_date)
        ledger_days.account_id,
        ledger_days.calendar_date,
        ledger_days.last_balance_after as balance_after
    from ledger_days
    inner join rebuilt_accounts
        on ledger_days.account_id = rebuilt_accounts.account_id
            and ledger_days.calendar_date >= rebuilt_accounts.rebuild_from
    {{ rebuilt_ledger_days_filter('ledger_days', 'rebuilt_accounts') }}
    order by
        ledger_days.account_id asc, ledger_days.calendar_date asc,
        ledger_days.last_txn_ts desc, ledger_days.last_txn_id desc

),

end_of_day as (

    select * from rebuilt_end_of_day
    {%- if is_incremental() %}
    union all
    select * from kept_end_of_day
    {%- endif %}

),

spans as (

    select
        end_of_day.account_id,
        end_of_day.calendar_date as entry_date,
        end_of_day.balance_after,
        rebuilt_accounts.rebuild_from,
        coalesce(
            lead(end_of_day.calendar_date) over (
                partition by end_of_day.account_id order by end_of_day.calendar_date
            ) - 1,
            bounds.last_date
        ) as span_end_date
    from end_of_day
    inner join rebuilt_accounts on end_of_day.account_id = rebuilt_accounts.account_id
    cross join bounds

),

days as (

    select
        spans.account_id,
        cast(series.day_ts as date) as balance_date,
        spans.balance_after as balance,
        spans.entry_date as last_entry_date
    from spans
    cross join lateral generate_series(
        greatest(spans.entry_date, spans.rebuild_from), spans.span_end_date, interval '1 day'
    ) as series (day_ts)

),

final as (

    select
        days.account_id,
        days.balance_date,
        accounts.customer_id,
        accounts.product,
        accounts.currency,
        cast(days.balance as numeric(18, 2)) as balance,
        cast({{ to_cny('days.balance', 'accounts.currency') }} as numeric(18, 2)) as balance_cny,
        accounts.product in {{ deposit_products() }} as is_deposit,
        days.last_entry_date,
        days.last_entry_date = days.balance_date as has_entry

    from days
    inner join accounts on days.account_id = accounts.account_id

)

select * from final
