with

versions as (

    select * from {{ ref('int_customers_versioned') }}

),

known as (

    select
        customer_key,
        customer_id,
        gender,
        birth_year,
        case
            when age_at_as_of is null then 'UNKNOWN'
            when age_at_as_of < 18 then '<18'
            when age_at_as_of < 25 then '18-24'
            when age_at_as_of < 35 then '25-34'
            when age_at_as_of < 45 then '35-44'
            when age_at_as_of < 55 then '45-54'
            when age_at_as_of < 65 then '55-64'
            else '65+'
        end as age_band,
        education,
        city,
        segment,
        kyc_status,
        join_date,
        valid_from,
        valid_to,
        valid_to = cast('9999-12-31' as date) as is_current,
        version_number,
        is_first_version

    from versions

),

unknown as (

    select
        {{ unknown_key() }} as customer_key,
        'UNKNOWN' as customer_id,
        cast(null as text) as gender,
        cast(null as integer) as birth_year,
        'UNKNOWN' as age_band,
        cast(null as text) as education,
        cast(null as text) as city,
        cast(null as text) as segment,
        cast(null as text) as kyc_status,
        cast(null as date) as join_date,
        cast('1900-01-01' as date) as valid_from,
        cast('9999-12-31' as date) as valid_to,
        true as is_current,
        0 as version_number,
        false as is_first_version

),

final as (

    select * from known
    union all
    select * from unknown

)

select * from final
