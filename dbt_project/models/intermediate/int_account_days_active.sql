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
    the day's entry count and debit total in CNY (var fx_rates_to_cny). Rolling windows over
    an account's days (unusual_account_activity) read these rows instead of the ledger, about
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

final as (

    select
        account_id,
        calendar_date,
        max(customer_id) as customer_id,
        count(*) as entry_count,
        coalesce(sum({{ to_cny('amount', 'currency') }}) filter (where direction = 'DEBIT'), 0) as debit_amount_cny

    from transactions
    where calendar_date >= {{ rebuild_from() }}
    group by account_id, calendar_date

)

select * from final
