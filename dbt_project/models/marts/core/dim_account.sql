{{
    config(
        pre_hook="{{ plan_snapshot_increment(
            'select * from ' ~ ref('stg_crm__accounts'),
            ['load_id', 'account_id', 'customer_id', 'product', 'currency', 'open_date', 'close_date', 'status',
             'branch_id']
        ) }}",
        post_hook="{{ save_input_fingerprints('snapshots') }}",
    )
}}
{#
    Current state of every account: its row in the latest snapshot that lists it. A daily
    run that only adds later snapshot dates reads the previous build's rows (each account's
    latest row so far) and the new snapshots (macros/snapshot_increment.sql).
#}
{%- set previous = previous_build() %}
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}
    where snapshot_date > {{ snapshots_after() }}

),

candidates as (

    {%- if previous %}

    select
        account_id,
        last_snapshot_date as snapshot_date,
        customer_id,
        product,
        currency,
        open_date,
        close_date,
        status,
        branch_id
    from {{ previous }}
    where account_key <> {{ unknown_key() }}
        and {{ snapshots_after() }} > date '-infinity'

    union all
    {%- endif %}

    select
        account_id,
        snapshot_date,
        customer_id,
        product,
        currency,
        open_date,
        close_date,
        status,
        branch_id
    from accounts

),

latest as (

    select distinct on (account_id) *
    from candidates
    order by account_id asc, snapshot_date desc

),

known as (

    select
        {{ surrogate_key(['account_id']) }} as account_key,
        account_id,
        customer_id,
        product,
        currency,
        open_date,
        close_date,
        status,
        branch_id,
        snapshot_date as last_snapshot_date

    from latest

),

unknown as (

    select
        {{ unknown_key() }} as account_key,
        'UNKNOWN' as account_id,
        cast(null as text) as customer_id,
        cast(null as text) as product,
        cast(null as text) as currency,
        cast(null as date) as open_date,
        cast(null as date) as close_date,
        'UNKNOWN' as status,
        cast(null as text) as branch_id,
        cast(null as date) as last_snapshot_date

),

final as (

    select * from known
    union all
    select * from unknown

)

select * from final
