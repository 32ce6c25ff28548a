{#
    Reconciliation: per business date, fct_transactions has as many rows and the same
    signed sum as raw.transactions, and fct_calls as many rows as raw.calls. Returns the
    dates that disagree (a daily run: its business date only).
#}
with

raw_transactions as (

    select
        business_date,
        count(*) as n_rows,
        sum(case when direction = 'CREDIT' then amount else -amount end) as signed_sum
    from {{ source('core_banking', 'transactions') }}
    where {{ on_business_date('business_date') }}
    group by business_date

),

fct_transactions as (

    select
        business_date,
        count(*) as n_rows,
        sum(signed_amount) as signed_sum
    from {{ ref('fct_transactions') }}
    where {{ on_business_date('business_date') }}
    group by business_date

),

raw_calls as (

    select
        business_date,
        count(*) as n_rows
    from {{ source('contact_center', 'calls') }}
    where {{ on_business_date('business_date') }}
    group by business_date

),

fct_calls as (

    select
        business_date,
        count(*) as n_rows
    from {{ ref('fct_calls') }}
    where {{ on_business_date('business_date') }}
    group by business_date

),

transaction_gaps as (

    select
        'transactions' as fact,
        coalesce(raw_transactions.business_date, fct_transactions.business_date) as business_date,
        raw_transactions.n_rows as raw_rows,
        fct_transactions.n_rows as fact_rows,
        raw_transactions.signed_sum as raw_signed_sum,
        fct_transactions.signed_sum as fact_signed_sum
    from raw_transactions
    full outer join fct_transactions
        on raw_transactions.business_date = fct_transactions.business_date
    where raw_transactions.n_rows is distinct from fct_transactions.n_rows
        or raw_transactions.signed_sum is distinct from fct_transactions.signed_sum

),

call_gaps as (

    select
        'calls' as fact,
        coalesce(raw_calls.business_date, fct_calls.business_date) as business_date,
        raw_calls.n_rows as raw_rows,
        fct_calls.n_rows as fact_rows,
        cast(null as numeric) as raw_signed_sum,
        cast(null as numeric) as fact_signed_sum
    from raw_calls
    full outer join fct_calls
        on raw_calls.business_date = fct_calls.business_date
    where raw_calls.n_rows is distinct from fct_calls.n_rows

),

final as (

    select * from transaction_gaps
    union all
    select * from call_gaps

)

select * from final
