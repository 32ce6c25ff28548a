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
    Current state of every known account: its row in the latest snapshot that lists it. The
    intermediates' view of accounts (owner, product, currency; an account is known when it is
    here); dim_account publishes the same rows with keys and the unknown member, and is built
    the same way from the same snapshots (it reads its own previous build: a mart is not read
    by an intermediate). A daily run that only adds later snapshot dates reads the previous
    build's rows and the new snapshots (macros/snapshot_increment.sql).
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
    where {{ snapshots_after() }} > date '-infinity'

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

final as (

    select
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

)

select * from final
