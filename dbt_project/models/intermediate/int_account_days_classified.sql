{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ plan_rebuild(
            'snapshot_date',
            producers=[ref('int_account_balances_daily'), ref('int_account_days_active')],
            changed_from=[input_changed_from('snapshots'), input_changed_from('coverage')],
            extra=input_fingerprints(
                'snapshots', 'select * from ' ~ ref('stg_crm__accounts'), 'snapshot_date',
                ['account_id', 'customer_id', 'product', 'status', 'open_date', 'close_date']
            ) ~ ';' ~ input_fingerprints(
                'coverage', 'select ' ~ first_ledger_date() ~ ' as first_ledger_date',
                \"date '-infinity'\", ['first_ledger_date']
            )
        ) }}",
        post_hook=[
            "create index if not exists int_account_days_classified__snapshot_date on {{ this }} (snapshot_date)",
            "create index if not exists int_account_days_classified__account_date on {{ this }} (account_id, snapshot_date)",
            "{{ finish_rebuild(save_input_fingerprints('snapshots') ~ ';' ~ save_input_fingerprints('coverage')) }}",
        ],
    )
}}
{#
    One row per account per CRM snapshot date, classified as open, dormant, non-empty and
    effective on that date.

    Rules (var dormancy_days = N):
    - open: opened on or before the date, not CLOSED and no close_date on or before it.
    - customer-initiated entry: any ledger entry outside the INTERNAL channel group that is
      not INTEREST or FEE (the bank's own postings do not keep an account alive).
    - dormant (open accounts only), first matching rule:
      1. the account has a customer-initiated entry in the data on or before the date:
         dormant when the date is N or more days after the last one (LEDGER_INACTIVITY);
         an entry also overrides the bank's DORMANT status (the account was reactivated);
      2. no such entry and the bank's status that day is DORMANT (BANK_STATUS);
      3. no such entry, opened N or more days before the date and the loaded ledger covers
         the last N days (NEVER_USED);
      4. otherwise active: without N days of ledger the data cannot show inactivity.
    - non-empty: known end-of-day balance (int_account_balances_daily) other than 0.
    - effective account: open, not dormant and non-empty.

    Incremental (macros/incremental_history.sql): a row depends on its snapshot, the ledger up
    to its date (the account's days with a customer-initiated entry, int_account_days_active),
    its balance and the first ledger date. A daily run rebuilds the snapshot dates from the
    earliest of: a snapshot date whose rows changed, the date int_account_balances_daily or
    int_account_days_active rebuilt from (their logs also cover changed ledger entries, channel
    and type included), and every date when the first ledger date moved. Without a business date: every date. A change
    of var dormancy_days needs --full-refresh.
#}
{%- set dormancy_days = numeric_var('dormancy_days') -%}
with

snapshots as (

    select * from {{ ref('stg_crm__accounts') }}
    where snapshot_date >= {{ rebuild_from() }}

),

balances as (

    select * from {{ ref('int_account_balances_daily') }}
    where balance_date >= {{ rebuild_from() }}

),

coverage as (

    select {{ first_ledger_date() }} as first_ledger_date

),

{# an account's days with a customer-initiated entry (int_account_days_active), not the ledger #}
customer_entry_days as (

    select
        account_id,
        calendar_date as entry_date
    from {{ ref('int_account_days_active') }}
    where has_customer_initiated_entry
        and calendar_date >= {{ rebuild_from() }}

),

earlier_customer_entries as (

    {# the last entry before the rebuilt dates, carried into them (none on a full build) #}
    select
        account_id,
        max(calendar_date) as entry_date
    from {{ ref('int_account_days_active') }}
    where has_customer_initiated_entry
        and calendar_date < {{ rebuild_from() }}
    group by account_id

),

timeline as (

    select
        account_id,
        snapshot_date as event_date,
        1 as event_order,
        cast(null as date) as entry_date
    from snapshots

    union all

    select
        account_id,
        entry_date as event_date,
        0 as event_order,
        entry_date
    from customer_entry_days

    union all

    select
        account_id,
        date '-infinity' as event_date,
        0 as event_order,
        entry_date
    from earlier_customer_entries

),

carried as (

    select
        account_id,
        event_date,
        event_order,
        max(entry_date) over (
            partition by account_id order by event_date, event_order
            rows between unbounded preceding and current row
        ) as last_customer_entry_date
    from timeline

),

classified as (

    select
        snapshots.account_id,
        snapshots.snapshot_date,
        snapshots.customer_id,
        snapshots.product,
        snapshots.status,
        snapshots.open_date,
        snapshots.close_date,
        carried.last_customer_entry_date,
        balances.balance,
        balances.balance_cny,
        coalesce(snapshots.open_date <= snapshots.snapshot_date, true)
        and snapshots.status <> 'CLOSED'
        and (snapshots.close_date is null or snapshots.close_date > snapshots.snapshot_date) as is_open,
        case
            when carried.last_customer_entry_date is not null
                then
                    case
                        when snapshots.snapshot_date - carried.last_customer_entry_date >= {{ dormancy_days }}
                            then 'LEDGER_INACTIVITY'
                    end
            when snapshots.status = 'DORMANT' then 'BANK_STATUS'
            when snapshots.snapshot_date - snapshots.open_date >= {{ dormancy_days }}
                and snapshots.snapshot_date - coverage.first_ledger_date + 1 >= {{ dormancy_days }}
                then 'NEVER_USED'
        end as dormancy_basis

    from snapshots
    inner join carried
        on snapshots.account_id = carried.account_id
            and snapshots.snapshot_date = carried.event_date
            and carried.event_order = 1
    left join balances
        on snapshots.account_id = balances.account_id
            and snapshots.snapshot_date = balances.balance_date
    cross join coverage

),

final as (

    select
        account_id,
        snapshot_date,
        customer_id,
        product,
        status,
        open_date,
        close_date,
        last_customer_entry_date,
        balance,
        balance_cny,
        is_open,
        case when is_open then dormancy_basis end as dormancy_basis,
        is_open and dormancy_basis is not null as is_dormant,
        coalesce(balance <> 0, false) as is_non_empty,
        is_open and dormancy_basis is null and coalesce(balance <> 0, false) as is_effective

    from classified

)

select * from final
