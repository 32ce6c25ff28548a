{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ plan_rebuild(
            'calendar_date',
            changed_from=[input_changed_from('ledger')],
            extra=input_fingerprints(
                'ledger', 'select * from ' ~ ref('fct_transactions'), 'calendar_date',
                ['txn_id', 'channel_key', 'currency', 'amount', 'signed_amount']
            )
        ) }}",
        post_hook=[
            "create index if not exists {{ this.identifier }}__calendar_date on {{ this }} (calendar_date)",
            "{{ finish_rebuild(save_input_fingerprints('ledger')) }}",
        ],
    )
}}
{#
    Transactions per (calendar_date, channel_code, currency). amount is summed in the
    transaction currency, so the grain includes currency; share_of_txn_count is the row's
    txn_count over all transactions of that calendar date (all channels and currencies).

    Incremental (macros/incremental_history.sql): a date's rows depend on that date's ledger
    entries only. A daily run compares a fingerprint per calendar date of the entries' columns
    used here with the one of its last run and rebuilds from the earliest date that differs.
    Without a business date: every date.
#}
with

transactions as (

    select * from {{ ref('fct_transactions') }}
    -- the fact's date_key index finds the rebuilt days
    where date_key >= {{ date_key_floor(rebuild_from()) }}

),

channels as (

    select * from {{ ref('dim_channel') }}

),

counted as (

    select
        transactions.calendar_date,
        channels.channel_code,
        transactions.currency,
        max(transactions.channel_key) as channel_key,
        count(*) as txn_count,
        sum(transactions.amount) as amount,
        sum(transactions.signed_amount) as signed_amount

    from transactions
    inner join channels on transactions.channel_key = channels.channel_key
    group by transactions.calendar_date, channels.channel_code, transactions.currency

),

final as (

    select
        calendar_date,
        channel_code,
        currency,
        {{ date_key('calendar_date') }} as date_key,
        channel_key,
        cast(txn_count as integer) as txn_count,
        cast(amount as numeric(18, 2)) as amount,
        cast(signed_amount as numeric(18, 2)) as signed_amount,
        cast(txn_count as numeric) / sum(txn_count) over (partition by calendar_date) as share_of_txn_count

    from counted

)

select * from final
