{# Agent roster snapshots, one row per (agent, snapshot date). agent_name (personal) is dropped here. #}
with

source as (

    select * from {{ source('contact_center', 'agents') }}

),

renamed as (

    select
        agent_id,
        business_date as snapshot_date,
        load_id,
        team,
        site,
        hire_date

    from source

)

select * from renamed
