{#
    One row per CRM snapshot date: open, dormant and effective accounts and customers, and
    the accounts that turned dormant or reactivated since their previous snapshot (rules in
    int_account_days_classified). An account's first snapshot sets its state without a
    transition; a transition needs the account open on both snapshots.
#}
with

account_days as (

    select * from {{ ref('int_account_days_classified') }}

),

lagged as (

    select
        *,
        lag(is_dormant) over by_account as previous_is_dormant,
        lag(is_open) over by_account as previous_is_open
    from account_days
    window by_account as (partition by account_id order by snapshot_date)

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
