{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ plan_rebuild('calendar_date', producers=[ref('int_customer_balances_daily')]) }}",
        post_hook=[
            "create index if not exists {{ this.identifier }}__calendar_date on {{ this }} (calendar_date)",
            "{{ finish_rebuild() }}",
        ],
    )
}}
{#
    Concentration of deposits per business date: the share of all customers' deposit
    balances (int_customer_balances_daily, CNY) held by the top var concentration_top_share
    (20 %) of customers with a positive balance. top_customers = ceil(share x customers);
    customers are ranked by balance (ties broken by customer_id, so the count is exact).

    Incremental (macros/incremental_history.sql): one date's row depends on that date's
    customer balances only; a daily run rebuilds the dates from the one
    int_customer_balances_daily rebuilt from. Without a business date: every date.
#}
{%- set top_share = numeric_var('concentration_top_share') -%}
with

balances as (

    select * from {{ ref('int_customer_balances_daily') }}
    where deposit_balance_cny > 0 and balance_date >= {{ rebuild_from() }}

),

ranked as (

    select
        balance_date,
        customer_id,
        deposit_balance_cny,
        row_number() over (
            partition by balance_date order by deposit_balance_cny desc, customer_id asc
        ) as balance_rank,
        count(*) over (partition by balance_date) as customers_with_balance
    from balances

),

final as (

    select
        balance_date as calendar_date,
        {{ date_key('balance_date') }} as date_key,
        cast(max(customers_with_balance) as integer) as customers_with_balance,
        cast(ceil(max(customers_with_balance) * {{ top_share }}) as integer) as top_customers,
        cast(sum(deposit_balance_cny) as numeric(18, 2)) as total_balance,
        cast(
            sum(deposit_balance_cny) filter (where balance_rank <= ceil(customers_with_balance * {{ top_share }}))
            as numeric(18, 2)
        ) as top_balance,
        cast(
            sum(deposit_balance_cny) filter (where balance_rank <= ceil(customers_with_balance * {{ top_share }}))
            / nullif(sum(deposit_balance_cny), 0)
            as numeric
        ) as top_share_of_balance

    from ranked
    group by balance_date

)

select * from final
