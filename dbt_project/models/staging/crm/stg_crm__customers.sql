{# Customer snapshots, one row per (customer, snapshot date). full_name, phone, email (personal) are dropped here. #}
with

source as (

    select * from {{ source('crm', 'customers') }}

),

renamed as (

    select
        customer_id,
        business_date as snapshot_date,
        load_id,
        upper(gender) as gender,
        birth_date,
        upper(education) as education,
        trim(city) as city,
        upper(segment) as segment,
        join_date,
        upper(kyc_status) as kyc_status

    from source

)

select * from renamed
