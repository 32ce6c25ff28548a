with

channels as (

    select * from {{ ref('channels') }}

),

unknown as (

    select
        {{ unknown_key() }} as channel_key,
        'UNKNOWN' as channel_code,
        'UNKNOWN' as channel_group,
        'Unknown channel' as channel_name

),

final as (

    select
        cast(channel_key as bigint) as channel_key,
        channel_code,
        channel_group,
        channel_name
    from channels

    union all

    select * from unknown

)

select * from final
