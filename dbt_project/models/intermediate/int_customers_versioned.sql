{{
    config(
        pre_hook="{{ plan_snapshot_increment(
            'select * from ' ~ ref('stg_crm__customers'),
            ['load_id', 'customer_id', 'segment', 'city', 'education', 'kyc_status', 'gender', 'birth_date', 'join_date']
        ) }}",
        post_hook="{{ save_input_fingerprints('snapshots') }}",
    )
}}
{#
    SCD type 2 history of customers, built from the per-business-date snapshots only
    (never from the time dbt runs), so loading dates in any order, or all at once as a
    backfill, gives the same versions.

    Rule: walk each customer's snapshots in business-date order; a new version starts
    at every snapshot whose tracked attributes (segment, city, education, kyc_status)
    differ from the customer's previous snapshot. Consecutive snapshots with identical
    tracked attributes collapse into one version (A, A, B, A gives three versions).
    valid_from = business date of the version's first snapshot; valid_to = valid_from of
    the next version (exclusive), '9999-12-31' for the current version. A date without a
    customer snapshot changes nothing (the previous snapshot stands). Non-tracked
    attributes (gender, birth date, join date) take the customer's latest value.

    A daily run that only adds later snapshot dates walks the previous build's versions
    (each a run of snapshots with the same tracked attributes) and the new snapshots
    instead of every snapshot: the same walk, the same versions (macros/snapshot_increment.sql).
#}
{%- set previous = previous_build() %}
with

customers as (

    select * from {{ ref('stg_crm__customers') }}
    where snapshot_date > {{ snapshots_after() }}

),

{# runs of snapshots with the same tracked attributes: each snapshot, and each version already built #}
runs as (

    {%- if previous %}

    select
        customer_id,
        valid_from as snapshot_date,
        last_snapshot_date,
        segment,
        city,
        education,
        kyc_status,
        gender,
        birth_date,
        join_date
    from {{ previous }}
    where {{ snapshots_after() }} > date '-infinity'

    union all
    {%- endif %}

    select
        customer_id,
        snapshot_date,
        snapshot_date as last_snapshot_date,
        segment,
        city,
        education,
        kyc_status,
        gender,
        birth_date,
        join_date
    from customers

),

lagged as (

    select
        customer_id,
        snapshot_date,
        last_snapshot_date,
        segment,
        city,
        education,
        kyc_status,
        lag(snapshot_date) over by_date as previous_snapshot_date,
        lag(segment) over by_date as previous_segment,
        lag(city) over by_date as previous_city,
        lag(education) over by_date as previous_education,
        lag(kyc_status) over by_date as previous_kyc_status

    from runs
    window by_date as (partition by customer_id order by snapshot_date)

),

compared as (

    select
        *,
        case
            when previous_snapshot_date is null then 1
            when coalesce(segment, '~') <> coalesce(previous_segment, '~') then 1
            when coalesce(city, '~') <> coalesce(previous_city, '~') then 1
            when coalesce(education, '~') <> coalesce(previous_education, '~') then 1
            when coalesce(kyc_status, '~') <> coalesce(previous_kyc_status, '~') then 1
            else 0
        end as starts_version

    from lagged

),

numbered as (

    select
        *,
        sum(starts_version) over (
            partition by customer_id order by snapshot_date
            rows between unbounded preceding and current row
        ) as version_number

    from compared

),

versions as (

    select
        customer_id,
        version_number,
        segment,
        city,
        education,
        kyc_status,
        min(snapshot_date) as valid_from,
        max(last_snapshot_date) as last_snapshot_date

    from numbered
    group by customer_id, version_number, segment, city, education, kyc_status

),

latest as (

    select distinct on (customer_id)
        customer_id,
        gender,
        birth_date,
        join_date

    from runs
    order by customer_id asc, last_snapshot_date desc

),

as_of as (

    {# ages are computed at the latest snapshot date: deterministic for a given history #}
    select max(last_snapshot_date) as as_of_date from runs

),

final as (

    select
        {{ surrogate_key(['versions.customer_id', 'versions.valid_from']) }} as customer_key,
        versions.customer_id,
        cast(versions.version_number as integer) as version_number,
        latest.gender,
        latest.birth_date,
        cast(extract(year from latest.birth_date) as integer) as birth_year,
        cast(extract(year from age(as_of.as_of_date, latest.birth_date)) as integer) as age_at_as_of,
        versions.education,
        versions.city,
        versions.segment,
        versions.kyc_status,
        latest.join_date,
        versions.valid_from,
        coalesce(
            lead(versions.valid_from) over (partition by versions.customer_id order by versions.valid_from),
            cast('9999-12-31' as date)
        ) as valid_to,
        versions.last_snapshot_date,
        versions.version_number = 1 as is_first_version

    from versions
    inner join latest on versions.customer_id = latest.customer_id
    cross join as_of

)

select * from final
