{# Every agent in its latest roster row; agent_name (personal) never reaches this model. #}
with

agents as (

    select * from {{ ref('stg_contact_center__agents') }}

),

latest as (

    select distinct on (agent_id) *
    from agents
    order by agent_id asc, snapshot_date desc

),

known as (

    select
        {{ surrogate_key(['agent_id']) }} as agent_key,
        agent_id,
        team,
        site,
        hire_date,
        snapshot_date as last_snapshot_date

    from latest

),

unknown as (

    select
        {{ unknown_key() }} as agent_key,
        'UNKNOWN' as agent_id,
        cast(null as text) as team,
        cast(null as text) as site,
        cast(null as date) as hire_date,
        cast(null as date) as last_snapshot_date

),

final as (

    select * from known
    union all
    select * from unknown

)

select * from final
