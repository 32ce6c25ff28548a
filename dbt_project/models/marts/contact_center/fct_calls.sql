{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        on_schema_change='fail',
        pre_hook="{{ delete_business_date() }}",
        post_hook=[
            "{{ save_member_state(['customer', 'agent'], ['customer_id', 'agent_id']) }}",
            "{{ analyze_business_dates() }}",
        ],
        indexes=[
            {'columns': ['call_id'], 'unique': true},
            {'columns': ['business_date']},
            {'columns': ['built_at', 'business_date']},
            {'columns': ['date_key', 'service']},
            {'columns': ['customer_key', 'date_key']},
            {'columns': ['agent_key', 'date_key']},
        ],
    )
}}
{#
    Incremental per business date, like fct_transactions: the run's date plus every
    built date holding a call whose customer or agent key would now resolve differently
    (checked for changed customers and agents only: macros/fact_repair.sql).

    Durations are seconds (numeric). wait = queue_seconds: for an answered call
    answer_ts - queue_entry_ts (0 when never queued); for a queued call that was not
    answered queue_exit_ts - queue_entry_ts (end_ts when queue_exit_ts is missing);
    null for calls that never asked for an agent.
#}
{%- set answer_threshold = numeric_var('answer_threshold_seconds') -%}
{%- set short_abandon = numeric_var('short_abandon_seconds') -%}
with

calls as (

    select * from {{ ref('stg_contact_center__calls') }}

),

customers as (

    select * from {{ ref('dim_customer') }}
    where customer_key <> {{ unknown_key() }}

),

agents as (

    select * from {{ ref('dim_agent') }}
    where agent_key <> {{ unknown_key() }}

),

{% if is_incremental() %}
repair_candidates as (

    {{ fact_repair_candidates({'customer': 'customer_id', 'agent': 'agent_id'}) }}

),

repair_dates as (

    select distinct built.business_date
    from repair_candidates as built
    left join customers
        on built.customer_id = customers.customer_id
        and {{ customer_version_valid_on('customers', 'built.calendar_date') }}  -- noqa: LT02
    left join agents
        on built.agent_id = agents.agent_id
    where built.customer_key <> coalesce(customers.customer_key, {{ unknown_key() }})
        or built.agent_key <> coalesce(agents.agent_key, {{ unknown_key() }})

),
{% endif %}

dates_to_build as (

    {{ dates_to_build('calls', 'repair_dates' if is_incremental() else none) }}

),

selected as (

    select
        *,
        {{ local_date('ivr_entry_ts') }} as calendar_date,
        outcome = 'ANSWERED' as is_answered,
        queue_entry_ts is not null or outcome = 'ANSWERED' as is_offered
    from calls
    -- a filter on the scan (not a semi-join): the staging view's pseudonym is computed for the
    -- dates built only, and raw's BRIN index on business_date finds them
    where business_date = any(array(select dates_to_build.business_date from dates_to_build))

),

measured as (

    select
        *,
        extract(epoch from ivr_exit_ts - ivr_entry_ts) as ivr_seconds,
        case
            when is_answered then extract(epoch from answer_ts - coalesce(queue_entry_ts, answer_ts))
            when queue_entry_ts is not null
                then extract(epoch from coalesce(queue_exit_ts, end_ts) - queue_entry_ts)
        end as queue_seconds,
        case when is_answered then extract(epoch from end_ts - answer_ts) end as talk_seconds

    from selected

),

final as (

    select
        measured.call_id,
        {{ date_key('measured.calendar_date') }} as date_key,
        coalesce(customers.customer_key, {{ unknown_key() }}) as customer_key,
        coalesce(agents.agent_key, {{ unknown_key() }}) as agent_key,
        measured.service,
        measured.direction,
        measured.outcome,
        measured.ivr_seconds,
        measured.queue_seconds,
        measured.talk_seconds,
        measured.wrap_up_seconds,
        case
            when measured.is_answered then measured.talk_seconds + coalesce(measured.wrap_up_seconds, 0)
        end as handle_seconds,
        coalesce(measured.is_answered and measured.queue_seconds <= {{ answer_threshold }}, false)
            as answered_within_threshold,
        measured.is_offered and measured.outcome = 'ABANDONED' as is_abandoned,
        coalesce(
            measured.is_offered and measured.outcome = 'ABANDONED' and measured.queue_seconds < {{ short_abandon }},
            false
        ) as is_short_abandon,
        measured.reason_code,
        measured.resolved,
        measured.csat_score,
        measured.business_date,
        measured.calendar_date,
        measured.is_offered,
        measured.is_answered,
        measured.outcome = 'IVR_ONLY' as is_ivr_only,
        measured.customer_id,
        measured.agent_id,
        measured.priority,
        measured.hold_seconds,
        measured.ivr_entry_ts,
        measured.ivr_exit_ts,
        measured.queue_entry_ts,
        measured.queue_exit_ts,
        measured.answer_ts,
        measured.end_ts,
        measured.campaign_id,
        measured.caller_key,
        measured.load_id,
        {{ built_at() }} as built_at

    from measured
    left join customers
        on measured.customer_id = customers.customer_id
        and {{ customer_version_valid_on('customers', 'measured.calendar_date') }}  -- noqa: LT02
    left join agents
        on measured.agent_id = agents.agent_id

)

select * from final
