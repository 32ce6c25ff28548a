{#
    Every calendar day from 1 January of the year before the facts' first business date
    to 31 December of the year after the last one (the margin covers local dates that a
    time zone shifts across a year boundary). Without data: the years around today's date
    in the bank's zone.
#}
{%- set zone = bank_timezone() -%}
with

{# from the facts' business_date indexes (min/max over a view of raw would scan it) #}
transaction_dates as (

    select
        min(business_date) as first_date,
        max(business_date) as last_date
    from {{ ref('fct_transactions') }}

),

call_dates as (

    select
        min(business_date) as first_date,
        max(business_date) as last_date
    from {{ ref('fct_calls') }}

),

bounds as (

    {# whole years: date - 1 would be a day, and the margin none #}
    select
        cast(date_trunc('year', coalesce(
            least(transaction_dates.first_date, call_dates.first_date), {{ local_date('now()', zone) }}
        )) - interval '1 year' as date) as first_date,
        cast(date_trunc('year', coalesce(
            greatest(transaction_dates.last_date, call_dates.last_date), {{ local_date('now()', zone) }}
        )) + interval '2 years' - interval '1 day' as date) as last_date
    from transaction_dates
    cross join call_dates

),

days as (

    select cast(series.day_ts as date) as calendar_date
    from bounds
    cross join generate_series(bounds.first_date, bounds.last_date, interval '1 day') as series (day_ts)

),

final as (

    select
        {{ date_key('calendar_date') }} as date_key,
        calendar_date,
        cast(extract(year from calendar_date) as integer) as year,
        cast(extract(quarter from calendar_date) as integer) as quarter,
        cast(extract(month from calendar_date) as integer) as month,
        cast(extract(day from calendar_date) as integer) as day_of_month,
        cast(extract(isodow from calendar_date) as integer) as day_of_week,
        trim(to_char(calendar_date, 'Day')) as day_name,
        trim(to_char(calendar_date, 'Month')) as month_name,
        extract(isodow from calendar_date) in (6, 7) as is_weekend

    from days

)

select * from final
