{# Call detail records, typed and named. caller_number (personal) leaves here only as its keyed pseudonym. #}
with

source as (

    select * from {{ source('contact_center', 'calls') }}

),

renamed as (

    select
        call_id,
        business_date,
        load_id,
        upper(direction) as direction,
        customer_id,
        upper(service) as service,
        cast(priority as integer) as priority,
        ivr_entry_ts,
        ivr_exit_ts,
        queue_entry_ts,
        queue_exit_ts,
        answer_ts,
        end_ts,
        upper(outcome) as outcome,
        agent_id,
        cast(hold_seconds as integer) as hold_seconds,
        cast(wrap_up_seconds as integer) as wrap_up_seconds,
        upper(reason_code) as reason_code,
        resolved,
        cast(csat_score as integer) as csat_score,
        campaign_id,
        {{ pseudonym('caller_number') }} as caller_key

    from source

)

select * from renamed
