{#
    One row per current customer whose tier by 90-day average daily deposit balance
    (customer_360.tier) differs from the bank's own segment: the review list of the
    segment rule. direction tells which way the bank's segment is off.
#}
with

customers as (

    select * from {{ ref('customer_360') }}
    where is_segment_mismatch

),

final as (

    select
        customer_id,
        as_of_date,
        segment,
        tier,
        case
            when array_position(array['MASS', 'AFFLUENT', 'PRIVATE'], tier)
                > array_position(array['MASS', 'AFFLUENT', 'PRIVATE'], segment)
                then 'SEGMENT_BELOW_TIER'
            else 'SEGMENT_ABOVE_TIER'
        end as direction,
        adb_90d,
        deposit_balance,
        value_quadrant

    from customers

)

select * from final
