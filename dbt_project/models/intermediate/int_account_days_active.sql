{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ plan_rebuild('calendar_date', producers=[ref('int_account_balances_daily')]) }}",
        post_hook=[
            "create index if not exists {{ this.identifier }}__account_date on {{ this }} (account_id, calendar_date)",
            "create index if not exists {{ this.identifier }}__calendar_date on {{ this }} (calendar_date)",
            "{{ finish_rebuild() }}",
        ],
    )
}}
-- depends_on: {{ ref('int_account_balances_daily') }}
{#
    One row per account per local calendar date with ledger entries (known accounts only):
    the day's entry count and debit total, its entries and amounts per channel group, its
    customer-initiated inflow (all in CNY, var fx_rates_to_cny) and whether it had a
    customer-initiated entry. Rolling windows over an account's or a customer's days
    (unusual_account_activity, customer_360) read these rows instead of the ledger: about
    half as many, already summed.

    Summed from int_account_days_posted (a calendar date's entries may come from more than one
    business date) for the accounts of int_accounts_latest, whose owner is the row's customer.

    Incremental (macros/incremental_history.sql): a day's row depends on that day's entries
    and the account's owner only, which int_account_balances_daily compares (amount,
    direction, currency, channel, type, owner included), so a daily run rebuilds the dates
    from the one that model rebuilt from.
    Without a business date: every date. A change of fx_rates_to_cny needs --full-refresh.
#}
with

{# one row per business date, account and calendar date with entries: summed over business dates #}
ledger_days as (

    select * from {{ ref('int_account_days_posted') }}
    where calendar_date >= {{ rebuild_from() }}  -- its calendar_date index finds the rebuilt dates

),

{# known accounts and their owners (what fct_transactions' account_key and customer_id resolve to) #}
accounts as (

    select * from {{ ref('int_accounts_latest') }}

),

final as (

    select
        ledger_days.account_id,
        ledger_days.calendar_date,
        max(accounts.customer_id) as customer_id,
        cast(sum(ledger_days.entry_count) as bigint) as entry_count,
        coalesce(sum(ledger_days.debit_amount_cny), 0) as debit_amount_cny,
        {%- for group in ['self_service', 'digital', 'assisted'] %}
        cast(sum(ledger_days.{{ group }}_entry_count) as bigint) as {{ group }}_entry_count,
        coalesce(sum(ledger_days.{{ group }}_amount_cny), 0) as {{ group }}_amount_cny,
        {%- endfor %}
        coalesce(sum(ledger_days.customer_inflow_cny), 0) as customer_inflow_cny,
        coalesce(bool_or(ledger_days.has_customer_initiated_entry), false) as has_customer_initiated_entry

    from ledger_days
    inner join accounts on ledger_days.account_id = accounts.account_id
    group by ledger_days.account_id, ledger_days.calendar_date

)

select * from final
