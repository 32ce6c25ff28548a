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
    snapshot read from the kept rows. Without a business date: every date.
#}
with

classified as not materialized (

    select * from {{ ref('int_account_days_classified') }}

),

account_days as (

    select
        account_id,
        snapshot_date,
        customer_id,
        is_open,
        is_dormant,
        is_effective
    from classified
    where snapshot_date >= {{ rebuild_from() }}

),

previous_snapshot as (

    select max(snapshot_date) as snapshot_date
    from classified
    where snapshot_date < {{ rebuild_from() }}

),

absent_before as (

    {# rebuilt accounts without a row on the last earlier snapshot date #}
    select account_days.account_id
    from account_days
    except
    select classified.account_id
    from classified
    inner join previous_snapshot on classified.snapshot_date = previous_snapshot.snapshot_date

),

own_last_rows as (

    select distinct on (classified.account_id)
        classified.account_id,
        classified.snapshot_date,
        classified.customer_id,
        classified.is_open,
        classified.is_dormant,
        classified.is_effective
    from classified
    inner join previous_snapshot on classified.snapshot_date < previous_snapshot.snapshot_date
    inner join absent_before on classified.account_id = absent_before.account_id
    order by classified.account_id asc, classified.snapshot_date desc

),

previous_rows as (

    {# the kept state each rebuilt account had before the rebuilt dates (none on a full build):
       its row on the last earlier snapshot date, or its own last earlier row when absent there #}
    select
        classified.account_id,
        classified.snapshot_date,
        classified.customer_id,
        classified.is_open,
        classified.is_dormant,
        classified.is_effective
    from classified
    inner join previous_snapshot on classified.snapshot_date = previous_snapshot.snapshot_date

    union all

    select * from own_last_rows

),

lagged as (

    select
        *,
        lag(is_dormant) over by_account as previous_is_dormant,
        lag(is_open) over by_account as previous_is_open
    from (
        select * from account_days
        union all
        select * from previous_rows
    ) as with_previous
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
    where snapshot_date >= {{ rebuild_from() }}
    group by snapshot_date

)

select * from final
