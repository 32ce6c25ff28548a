{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ plan_rebuild('balance_date', producers=[ref('int_account_balances_daily')]) }}",
        post_hook=[
            "create index if not exists {{ this.identifier }}__balance_date on {{ this }} (balance_date)",
            "{{ finish_rebuild() }}",
        ],
    )
}}
{#
    Deposit balance of every customer per day, in CNY: the sum over the customer's deposit
    accounts (var deposit_products) of max(balance, 0) x rate (var fx_rates_to_cny), from
    int_account_balances_daily. An overdrawn current account counts 0, as in the bank's own
    tiering. A customer has a row from the first day any of its accounts has a known balance.

    Incremental (macros/incremental_history.sql): a day's rows depend on that day's account
    balances only; a daily run rebuilds the dates from the one int_account_balances_daily
    rebuilt from. Without a business date: every date.
#}
with

balances as (

    select * from {{ ref('int_account_balances_daily') }}
    where balance_date >= {{ rebuild_from() }}

),

final as (

    select
        customer_id,
        balance_date,
        cast(coalesce(sum(greatest(balance_cny, 0)) filter (where is_deposit), 0) as numeric(18, 2))
            as deposit_balance_cny,
        cast(count(*) as integer) as accounts_with_known_balance

    from balances
    group by customer_id, balance_date

)

select * from final
