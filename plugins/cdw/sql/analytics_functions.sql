-- Functions analysts call in `analytics`, made by cdw.roles.setup_roles with the schema itself
-- (a schema dropped and made again gets them back); execute granted there.

-- Contact-center KPIs over any span of days, per service, with call_center_daily's definitions
-- (warehouse.md), computed from the calls themselves: a mean or a ratio of several days is not
-- the mean of the daily figures. PL/pgSQL, so it can exist before the first publication.
create or replace function analytics.call_center_kpis(first_date date, last_date date)
returns table (
    service text,
    days_with_calls integer,
    offered integer,
    answered integer,
    abandoned integer,
    short_abandoned integer,
    ivr_only integer,
    answered_within_threshold integer,
    service_level numeric,
    abandon_rate numeric,
    asa_seconds numeric,
    aht_seconds numeric,
    fcr_rate numeric,
    csat_avg numeric,
    csat_top2_share numeric,
    csat_responses integer
)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
    if first_date is null or last_date is null or first_date > last_date then
        raise exception 'call_center_kpis: first_date (%) must be a date on or before last_date (%)',
            first_date, last_date;
    end if;
    return query
    with counted as (
        select
            c.service,
            count(distinct c.calendar_date) as days_with_calls,
            count(*) filter (where c.is_offered) as offered,
            count(*) filter (where c.is_offered and c.outcome = 'ANSWERED') as answered,
            count(*) filter (where c.is_offered and c.outcome = 'ABANDONED') as abandoned,
            count(*) filter (where c.is_offered and c.outcome = 'ABANDONED' and c.is_short_abandon) as short_abandoned,
            count(*) filter (where c.outcome = 'IVR_ONLY') as ivr_only,
            count(*) filter (where c.is_offered and c.outcome = 'ANSWERED' and c.answered_within_threshold)
                as answered_within_threshold,
            avg(c.queue_seconds) filter (where c.is_offered and c.outcome = 'ANSWERED') as asa_seconds,
            avg(c.handle_seconds) filter (where c.is_offered and c.outcome = 'ANSWERED') as aht_seconds,
            count(*) filter (where c.is_offered and c.outcome = 'ANSWERED' and c.resolved) as answered_resolved,
            count(*) filter (where c.is_offered and c.outcome = 'ANSWERED' and c.resolved is not null)
                as answered_with_fcr_mark,
            avg(c.csat_score) as csat_avg,
            count(*) filter (where c.csat_score in (4, 5)) as csat_top2,
            count(c.csat_score) as csat_responses
        from analytics.fct_calls as c
        where c.direction = 'INBOUND' and c.calendar_date between first_date and last_date
        group by c.service
    )
    select
        k.service::text,
        k.days_with_calls::integer,
        k.offered::integer,
        k.answered::integer,
        k.abandoned::integer,
        k.short_abandoned::integer,
        k.ivr_only::integer,
        k.answered_within_threshold::integer,
        k.answered_within_threshold::numeric / nullif(k.offered - k.short_abandoned, 0),
        (k.abandoned - k.short_abandoned)::numeric / nullif(k.offered - k.short_abandoned, 0),
        k.asa_seconds::numeric,
        k.aht_seconds::numeric,
        k.answered_resolved::numeric / nullif(k.answered_with_fcr_mark, 0),
        k.csat_avg::numeric,
        k.csat_top2::numeric / nullif(k.csat_responses, 0),
        k.csat_responses::integer
    from counted as k
    order by k.service;
end $$;
revoke all on function analytics.call_center_kpis(date, date) from public;
