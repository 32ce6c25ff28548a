{#
    Complaint calls (reason_code COMPLAINT, any direction) per (calendar_date, service,
    team). team = the answering agent's team (dim_agent; 'UNKNOWN' without one).
    First-contact resolution share = complaints with resolved = true / complaints with a
    resolution mark (NULL when none). A complaint is a repeat when the same identified
    customer made another complaint call in the var complaint_repeat_days (7) days before it.
#}
{%- set repeat_days = numeric_var('complaint_repeat_days') -%}
with

calls as (

    select * from {{ ref('fct_calls') }}
    where reason_code = 'COMPLAINT'

),

agents as (

    select * from {{ ref('dim_agent') }}

),

flagged as (

    select
        calls.calendar_date,
        calls.service,
        coalesce(agents.team, 'UNKNOWN') as team,
        calls.customer_id,
        calls.resolved,
        calls.customer_id is not null
        and calls.ivr_entry_ts - lag(calls.ivr_entry_ts) over (
            partition by calls.customer_id order by calls.ivr_entry_ts, calls.call_id
        ) <= interval '{{ repeat_days }} days' as is_repeat
    from calls
    left join agents on calls.agent_key = agents.agent_key

),

final as (

    select
        calendar_date,
        service,
        team,
        {{ date_key('calendar_date') }} as date_key,
        cast(count(*) as integer) as complaints,
        cast(count(distinct customer_id) as integer) as complaining_customers,
        cast(count(*) filter (where resolved) as integer) as resolved_first_contact,
        cast(count(*) filter (where resolved) as numeric)
        / nullif(count(*) filter (where resolved is not null), 0) as first_contact_resolution_share,
        cast(count(*) filter (where is_repeat) as integer) as repeat_complaints

    from flagged
    group by calendar_date, service, team

)

select * from final
