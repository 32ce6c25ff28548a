{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ plan_rebuild('calendar_date', producers=[ref('int_account_days_classified')]) }}",
        post_hook=[
            "create index if not exists {{ this.identifier }}__calendar_date on {{ this }} (calendar_date)",
            "{{ finish_rebuild() }}",
        ],
    )
}}
{#
    One row per CRM snapshot date: open, dormant and effective accounts and customers, and
    the accounts that turned dormant or reactivated since their previous snapshot (rules in
    int_account_days_classified). An account's first snapshot sets its state without a
    transition; a transition needs the account open on both snapshots.

    Incremental (macros/incremental_history.sql): a date's row depends on that date's
    classified accounts and each account's previous snapshot; a daily run rebuilds the dates
    from the one int_account_days_classified rebuilt from, each account's last earlier
    snapshot read through the index on (account_id, snapshot_date). Without a business
    date: every date.
#}
with

classified as (

    select * from {{ ref('int_account_days_classified') }}

),

account_days as (

    select * from classified
    where snapshot_date >= {{ rebuild_from() }}

),

ordered as (

    select
        *,
        lag(is_dormant) over by_account as lag_is_dormant,
        lag(is_open) over by_account as lag_is_open,
        row_number() over by_account as snapshot_number
    from account_days
    window by_account as (partition by account_id order by snapshot_date)

),

lagged as (

    {# an account's first rebuilt snapshot takes its previous state from the kept rows #}
    select
        ordered.*,
        case when ordered.snapshot_number = 1 then earlier.is_dormant else ordered.lag_is_dormant end
            as previous_is_dormant,
        case when ordered.snapshot_number = 1 then earlier.is_open else ordered.lag_is_open end as previous_is_open
    from ordered
    left join lateral (
        select
            previous.is_dormant,
            previous.is_open
        from classified as previous
        where
            ordered.snapshot_number = 1
            and previous.account_id = ordered.account_id
            and previous.snapshot_date < ordered.snapshot_date
        order by previous.snapshot_date desc
        limit 1
    ) as earlier on true

),

final as (

    select
        snapshot_date as calendar_date,
        {{ date_key('snapshot_date') }} as date_key,
        cast(count(*) filter (where is_open) as integer) as open_accounts,
        cast(count(*) filter (where is_dormant) as integer) as dormant_accounts,
        cast(count(*) filter (where is_effective) as integer) as effective_accounts,
        cast(count(distinct customer_id) filter (where is_open) as integer) as customers_with_open_account,
        cast(count(distinct customer_id) filter (where is_effective) as integer) as effective_customers,
        cast(
            count(*) filter (where is_dormant and previous_is_open and not previous_is_dormant) as integer
        ) as accounts_turned_dormant,
        cast(
            count(*) filter (where is_open and not is_dormant and previous_is_open and previous_is_dormant)
            as integer
        ) as accounts_reactivated

    from lagged
    group by snapshot_date

)

select * from final
