{#
    Models over CRM snapshots whose result is current state or history per member
    (int_customers_versioned, dim_account): a daily run that only adds snapshot dates after
    every date the model has seen reads its previous build and those new snapshots, not
    every snapshot since the first (which grows with history: 30 days of 10,000 customers
    is 300,000 rows for 10,000 new ones).

    Any other change (a snapshot date re-delivered, one loaded out of order or gone, a
    missing state, a full refresh, a run without var business_date) rebuilds from every
    snapshot, so the result always equals a full rebuild. The models are tables: each run
    writes the whole result, and a failed run leaves the previous one.

    Per run, in the table's transaction: the pre_hook `plan_snapshot_increment` compares
    the per-date fingerprints of the snapshots with those saved by the last run
    (macros/incremental_history.sql) and puts into the temporary table `<model>__plan` the
    date after which snapshots are read (`snapshots_after()`): the latest date seen, or
    -infinity for a full rebuild. The post_hook `save_input_fingerprints('snapshots')` saves
    the fingerprints.
#}

{# The model's previous build, when a daily run may read it (none: rebuild from every snapshot). #}
{% macro previous_build() -%}
    {%- if not execute or should_full_refresh() or business_date_var() is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier)) -}}
{%- endmacro %}

{# pre_hook. `snapshots_sql`: a select of the snapshots; `columns`: those the model reads. #}
{% macro plan_snapshot_increment(snapshots_sql, columns) -%}
    {%- set seen = history_state_relation('snapshots_seen') -%}
    {{ input_fingerprints('snapshots', snapshots_sql, 'snapshot_date', columns) }};
    create temporary table {{ rebuild_plan_relation() }} on commit drop as
    {%- if previous_build() is not none and state_exists(seen) %}
    select
        case
            when seen_until is not null and (changed_from is null or changed_from > seen_until) then seen_until
            else date '-infinity'
        end as snapshots_after
    from (
        select
            (select max(input_date) from {{ seen }}) as seen_until,
            {{ input_changed_from('snapshots') }} as changed_from
    ) as compared
    {%- else %}
    select date '-infinity' as snapshots_after
    {%- endif %}
{%- endmacro %}

{# The date after which the model reads snapshots: the last one its previous build saw, or -infinity. #}
{% macro snapshots_after() -%}
    {%- if execute -%}
        (select {{ rebuild_plan_relation() }}.snapshots_after from {{ rebuild_plan_relation() }})
    {%- else -%}
        date '-infinity'
    {%- endif -%}
{%- endmacro %}
