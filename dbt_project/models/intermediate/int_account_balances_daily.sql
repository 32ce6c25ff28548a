{#
    End-of-day balance of every account on every date from its first ledger entry in the
    data to the latest business date. A day's balance is the balance_after of the account's
    last entry that day (latest txn_ts, then txn_id: ids follow file order); a day without
    entries carries the previous balance forward. The ledger carries no opening balances,
    so before an account's first entry in the data its balance is unknown (no row).

    Cost: one row per account per day since its first entry, generated from one row per
    account-day with entries (each spans to the day before its next entry), never by
    scanning accounts x calendar.
#}
with

transactions as (

    select * from {{ ref('fct_transactions') }}
    where account_key <> {{ unknown_key() }}

),

accounts as (

    select * from {{ ref('dim_account') }}
    where account_key <> {{ unknown_key() }}

),

bounds as (

    select max(business_date) as last_date from transactions

),

end_of_day as (

    select distinct on (account_id, calendar_date)
        account_id,
        calendar_date,
        balance_after
    from transactions
    order by account_id asc, calendar_date asc, txn_ts desc, txn_id desc

),

spans as (

    select
        end_of_day.account_id,
        end_of_day.calendar_date as entry_date,
        end_of_day.balance_after,
        coalesce(
            lead(end_of_day.calendar_date) over (
                partition by end_of_day.account_id order by end_of_day.calendar_date
            ) - 1,
            bounds.last_date
        ) as span_end_date
    from end_of_day
    cross join bounds

),

days as (

    select
        spans.account_id,
        cast(series.day_ts as date) as balance_date,
        spans.balance_after as balance,
        spans.entry_date as last_entry_date
    from spans
    cross join lateral generate_series(spans.entry_date, spans.span_end_date, interval '1 day') as series (day_ts)

),

final as (

    select
        days.account_id,
        days.balance_date,
        accounts.customer_id,
        accounts.product,
        accounts.currency,
        cast(days.balance as numeric(18, 2)) as balance,
        cast({{ to_cny('days.balance', 'accounts.currency') }} as numeric(18, 2)) as balance_cny,
        accounts.product in {{ deposit_products() }} as is_deposit,
        days.last_entry_date,
        days.last_entry_date = days.balance_date as has_entry

    from days
    inner join accounts on days.account_id = accounts.account_id

)

select * from final
