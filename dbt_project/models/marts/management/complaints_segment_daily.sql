{#
    Complaints per 1,000 customers, per (calendar_date, segment), for every date with calls.
    A complaint counts in the segment of the customer version valid at the call
    (fct_calls.customer_key). customers = distinct customers who had joined by that date
    whose version valid on that date is in the segment. Unidentified callers form segment
    'UNKNOWN' (no rate).
#}
with

calls as (

    select * from {{ ref('fct_calls') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

call_dates as (

    select distinct calendar_date from calls

),

population as (

    select
        call_dates.calendar_date,
        customers.segment,
        count(distinct customers.customer_id) as customers
    from call_dates
    inner join customers
        on customers.customer_key <> {{ unknown_key() }}
            and call_dates.calendar_date >= customers.join_date
        and {{ customer_version_valid_on('customers', 'call_dates.calendar_date') }}  -- noqa: LT02
    group by call_dates.calendar_date, customers.segment

),

complaints as (

    select
        calls.calendar_date,
        coalesce(customers.segment, 'UNKNOWN') as segment,
        count(*) as complaints
    from calls
    left join customers
        on calls.customer_key = customers.customer_key
            and customers.customer_key <> {{ unknown_key() }}
    where calls.reason_code = 'COMPLAINT'
    group by calls.calendar_date, coalesce(customers.segment, 'UNKNOWN')

),

final as (

    select
        coalesce(population.calendar_date, complaints.calendar_date) as calendar_date,
        coalesce(population.segment, complaints.segment) as segment,
        {{ date_key('coalesce(population.calendar_date, complaints.calendar_date)') }} as date_key,
        cast(coalesce(complaints.complaints, 0) as integer) as complaints,
        cast(population.customers as integer) as customers,
        cast(1000.0 * coalesce(complaints.complaints, 0) / nullif(population.customers, 0) as numeric)
            as complaints_per_1000_customers

    from population
    full outer join complaints
        on population.calendar_date = complaints.calendar_date
            and population.segment = complaints.segment

)

select * from final
