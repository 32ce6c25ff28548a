{{
    config(
        pre_hook="{{ create_erlang_c_function(this.schema) }}",
    )
}}
{#
    Inbound calls per 30-minute interval (bank zone, by ivr_entry_ts) and service, with the
    agents Erlang C says were needed and the agents who actually answered.
    Intervals are 30 minutes of elapsed time from the local midnight that starts the
    calendar date, not bins of the local wall clock: a 25-hour day (DST ends) has 50, its
    repeated hour two intervals per half hour with the same interval_start_local, a 23-hour
    day 46; each interval_start_ts is a distinct instant. Binning the wall clock would merge
    the repeated hour into one interval and map it back to one of its two instants.
    offered, short_abandoned, answered_within_threshold and service_level as in
    call_center_daily (warehouse.md), per interval. aht_seconds = mean handle time of the
    interval's answered calls. traffic_erlangs A = offered x aht / 1800. agents_required =
    smallest N > A with 1 - C(N, A) exp(-(N - A) T / AHT) >= target (vars
    staffing_service_level_target, staffing_answer_seconds; macros/management.sql).
    agents_answered = distinct agents who answered the interval's calls of the service.
    staffing_gap = agents_answered - agents_required: negative = understaffed.
#}
{%- set short_abandon = numeric_var('short_abandon_seconds') -%}
{%- set answer_threshold = numeric_var('answer_threshold_seconds') -%}
{%- set target = numeric_var('staffing_service_level_target') -%}
{%- set staffing_answer = numeric_var('staffing_answer_seconds') -%}
{%- set zone = bank_timezone() -%}
with

calls as (

    select * from {{ ref('fct_calls') }}
    where direction = 'INBOUND' and is_offered

),

intervals as (

    select
        *,
        -- origin: the instant the local calendar date starts (its local midnight)
        date_bin(
            interval '30 minutes', ivr_entry_ts, cast(calendar_date as timestamp) at time zone {{ zone }}
        ) as interval_start_ts
    from calls

),

counted as (

    select
        calendar_date,
        interval_start_ts,
        service,
        count(*) as offered,
        count(*) filter (where outcome = 'ANSWERED') as answered,
        count(*) filter (where outcome = 'ABANDONED' and queue_seconds < {{ short_abandon }}) as short_abandoned,
        count(*) filter (
            where outcome = 'ANSWERED' and queue_seconds <= {{ answer_threshold }}
        ) as answered_within_threshold,
        avg(handle_seconds) filter (where outcome = 'ANSWERED') as aht_seconds,
        count(distinct agent_id) filter (where outcome = 'ANSWERED') as agents_answered
    from intervals
    group by calendar_date, interval_start_ts, service

),

staffed as (

    select
        *,
        {{ erlang_c_agents_required(this.schema, 'offered', 'aht_seconds', 1800, target, staffing_answer) }}
            as agents_required
    from counted

),

final as (

    select
        calendar_date,
        interval_start_ts at time zone {{ zone }} as interval_start_local,
        service,
        {{ date_key('calendar_date') }} as date_key,
        interval_start_ts,
        cast(offered as integer) as offered,
        cast(answered as integer) as answered,
        cast(short_abandoned as integer) as short_abandoned,
        cast(answered_within_threshold as integer) as answered_within_threshold,
        cast(answered_within_threshold as numeric) / nullif(offered - short_abandoned, 0) as service_level,
        cast(aht_seconds as numeric) as aht_seconds,
        cast(offered * aht_seconds / 1800.0 as numeric) as traffic_erlangs,
        cast(agents_required as integer) as agents_required,
        cast(agents_answered as integer) as agents_answered,
        cast(agents_answered - agents_required as integer) as staffing_gap

    from staffed

)

select * from final
