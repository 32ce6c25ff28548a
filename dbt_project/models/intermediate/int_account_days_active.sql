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

    Incremental (macros/incremental_history.sql): a day's row depends on that day's entries
    only, which int_account_balances_daily fingerprints (amount, direction, currency, owner
    included), so a daily run rebuilds the dates from the one that model rebuilt from.
    Without a business date: every date. A change of fx_rates_to_cny needs --full-refresh.
#}
with

transactions as (

    select * from {{ ref('fct_transactions') }}
    where account_key <> {{ unknown_key() }}
        -- the fact's date_key index finds the rebuilt dates
        and date_key >= {{ date_key_floor(rebuild_from()) }}

),

channels as (

    select * from {{ ref('dim_channel') }}

),

entries as (

    select
        transactions.account_id,
        transactions.calendar_date,
        transactions.customer_id,
        transactions.direction,
        transactions.txn_type,
        channels.channel_group,
        {{ is_customer_initiated('channels.channel_group', 'transactions.txn_type') }} as is_customer_initiated,
        {{ to_cny('transactions.amount', 'transactions.currency') }} as amount_cny
    from transactions
    left join channels on transactions.channel_key = channels.channel_key
    where transactions.calendar_date >= {{ rebuild_from() }}

),

final as (

    select
        account_id,
        calendar_date,
        max(customer_id) as customer_id,
        count(*) as entry_count,
        coalesce(sum(amount_cny) filter (where direction = 'DEBIT'), 0) as debit_amount_cny,
        {%- for group in ['SELF_SERVICE', 'DIGITAL', 'ASSISTED'] %}
        count(*) filter (where channel_group = '{{ group }}') as {{ group | lower }}_entry_count,
        coalesce(sum(amount_cny) filter (where channel_group = '{{ group }}'), 0) as {{ group | lower }}_amount_cny,
        {%- endfor %}
        coalesce(sum(amount_cny) filter (
            where direction = 'CREDIT' and is_customer_initiated and txn_type <> 'REVERSAL'
        ), 0) as customer_inflow_cny,
        coalesce(bool_or(is_customer_initiated), false) as has_customer_initiated_entry

    from entries
    group by account_id, calendar_date

)

select * from final
