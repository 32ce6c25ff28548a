{#
    Outbound campaign calls per (campaign_id, calendar_date). attempted = outbound calls
    with a campaign_id; connected = those ANSWERED; converted = connected with reason_code
    SALES and resolved = true. Rates are NULL on a zero denominator.
#}
with

calls as (

    select * from {{ ref('fct_calls') }}
    where direction = 'OUTBOUND' and campaign_id is not null

),

counted as (

    select
        campaign_id,
        calendar_date,
        count(*) as attempted,
        count(*) filter (where outcome = 'ANSWERED') as connected,
        count(*) filter (where outcome = 'ANSWERED' and reason_code = 'SALES' and resolved) as converted
    from calls
    group by campaign_id, calendar_date

),

final as (

    select
        campaign_id,
        calendar_date,
        {{ date_key('calendar_date') }} as date_key,
        cast(attempted as integer) as attempted,
        cast(connected as integer) as connected,
        cast(converted as integer) as converted,
        cast(connected as numeric) / nullif(attempted, 0) as connect_rate,
        cast(converted as numeric) / nullif(connected, 0) as conversion_rate,
        cast(converted as numeric) / nullif(attempted, 0) as attempt_conversion_rate

    from counted

)

select * from final
