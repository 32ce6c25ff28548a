{#
    Contact-center KPIs of inbound calls per (calendar_date, service), exactly as
    warehouse.md defines them. wait = fct_calls.queue_seconds. A ratio whose
    denominator is 0 is NULL (nullif). Rebuilt in full from fct_calls each run.
#}
{%- set short_abandon = numeric_var('short_abandon_seconds') -%}
{%- set answer_threshold = numeric_var('answer_threshold_seconds') -%}
with

calls as (

    select * from {{ ref('fct_calls') }}
    where direction = 'INBOUND'

),

counted as (

    select
        calendar_date,
        service,
        count(*) filter (where is_offered) as offered,
        count(*) filter (where is_offered and outcome = 'ANSWERED') as answered,
        count(*) filter (where is_offered and outcome = 'ABANDONED') as abandoned,
        count(*) filter (
            where is_offered and outcome = 'ABANDONED' and queue_seconds < {{ short_abandon }}
        ) as short_abandoned,
        count(*) filter (where outcome = 'IVR_ONLY') as ivr_only,
        count(*) filter (
            where is_offered and outcome = 'ANSWERED' and queue_seconds <= {{ answer_threshold }}
        ) as answered_within_threshold,
        avg(queue_seconds) filter (where is_offered and outcome = 'ANSWERED') as asa_seconds,
        avg(handle_seconds) filter (where is_offered and outcome = 'ANSWERED') as aht_seconds,
        count(*) filter (where is_offered and outcome = 'ANSWERED' and resolved) as answered_resolved,
        count(*) filter (where is_offered and outcome = 'ANSWERED' and resolved is not null) as answered_with_fcr_mark,
        avg(csat_score) as csat_avg,
        count(*) filter (where csat_score in (4, 5)) as csat_top2,
        count(csat_score) as csat_responses

    from calls
    group by calendar_date, service

),

final as (

    select
        calendar_date,
        service,
        {{ date_key('calendar_date') }} as date_key,
        cast(offered as integer) as offered,
        cast(answered as integer) as answered,
        cast(abandoned as integer) as abandoned,
        cast(short_abandoned as integer) as short_abandoned,
        cast(ivr_only as integer) as ivr_only,
        cast(answered_within_threshold as integer) as answered_within_threshold,
        cast(answered_within_threshold as numeric) / nullif(offered - short_abandoned, 0) as service_level,
        cast(abandoned - short_abandoned as numeric) / nullif(offered - short_abandoned, 0) as abandon_rate,
        asa_seconds,
        aht_seconds,
        cast(answered_resolved as numeric) / nullif(answered_with_fcr_mark, 0) as fcr_rate,
        csat_avg,
        cast(csat_top2 as numeric) / nullif(csat_responses, 0) as csat_top2_share,
        cast(csat_responses as integer) as csat_responses

    from counted

)

select * from final
