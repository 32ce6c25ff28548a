{# Account snapshots, one row per (account, snapshot date). #}
with

source as (

    select * from {{ source('crm', 'accounts') }}

),

renamed as (

    select
        account_id,
        business_date as snapshot_date,
        load_id,
        customer_id,
        upper(product) as product,
        upper(currency) as currency,
        open_date,
        close_date,
        upper(status) as status,
        branch_id

    from source

)

select * from renamed
