{#
    Deposit balance of every customer per day, in CNY: the sum over the customer's deposit
    accounts (var deposit_products) of max(balance, 0) x rate (var fx_rates_to_cny), from
    int_account_balances_daily. An overdrawn current account counts 0, as in the bank's own
    tiering. A customer has a row from the first day any of its accounts has a known balance.
#}
with

balances as (

    select * from {{ ref('int_account_balances_daily') }}

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
