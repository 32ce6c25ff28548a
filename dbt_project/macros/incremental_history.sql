{#
    Incremental models over history that are not facts: each run rebuilds only the dates
    from the earliest date whose inputs changed since the model's last run ("rebuild from"),
    so that the result equals a full rebuild whatever order dates were loaded, re-delivered
    or backfilled in. Without var business_date (first build, backfill) every date is
    rebuilt, as before.

    How a model learns what changed:
    - a producer (a model others read) appends the date it rebuilt from to its rebuild log
      (`<schema>__<model>__rebuilt`, beside the intermediates, never published);
    - a consumer remembers the last log entry of each producer it has consumed
      (`<schema>__<model>__consumed`) and rebuilds from the earliest date logged since;
    - inputs that are not models of this kind (CRM snapshots, the ledger) are compared
      with what the model saw last time by their own state tables (see the models).
    A missing state or log (first run, dropped by hand) means: rebuild every date.

    Per run, in one transaction: the pre_hook `plan_rebuild` puts the date to rebuild from
    into the temporary table `<model>__plan` (NULL: nothing changed) and deletes the model's
    rows from that date on; the model selects the rows from that date on
    (`rebuild_from()`); the post_hook `finish_rebuild` logs and saves the states.
#}

{# A state table of the model being built (or of `model`), in the intermediates' schema. #}
{% macro history_state_relation(what, model=none) -%}
    {%- set relation = model if model is not none else this -%}
    {{- return(api.Relation.create(
        database=relation.database, schema=target.schema,
        identifier=(relation.schema ~ '__' ~ relation.identifier ~ '__' ~ what)[:63]
    )) -}}
{%- endmacro %}

{# The per-run plan of the model being built (a temporary table, dropped at commit). #}
{% macro rebuild_plan_relation() -%}
    {{- return(api.Relation.create(identifier=(this.identifier ~ '__plan')[:63]).include(database=false, schema=false)) -}}
{%- endmacro %}

{# Asked of the database, not of dbt's relation cache, which misses tables made by hooks. #}
{% macro state_exists(relation) -%}
    {%- if not execute -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set found = run_query("select to_regclass('" ~ relation ~ "') is not null") -%}
    {{- return(found.columns[0].values()[0]) -}}
{%- endmacro %}

{#
    SQL expression: the earliest date the producers (refs) rebuilt from since this model
    consumed their logs; -infinity when a log or this model's consumed state is missing
    or a log was started again; NULL when nothing was logged since.
#}
{% macro rebuilt_since(producers) -%}
    {%- set consumed = history_state_relation('consumed') -%}
    {%- set parts = [] -%}
    {%- for producer in producers -%}
        {%- set log = history_state_relation('rebuilt', producer) -%}
        {%- if not (state_exists(log) and state_exists(consumed)) -%}
            {%- do parts.append("date '-infinity'") -%}
        {%- else -%}
            {%- do parts.append(
                "(select case when seen.seq is null or seen.seq > coalesce((select max(seq) from " ~ log ~ "), 0)"
                ~ " then date '-infinity'"
                ~ " else (select min(rebuilt_from) from " ~ log ~ " where seq > seen.seq) end"
                ~ " from (select max(seq) as seq from " ~ consumed ~ " where producer = '" ~ producer.identifier
                ~ "') as seen)"
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if parts | length == 0 -%}
        cast(null as date)
    {%- else -%}
        least({{ parts | join(', ') }})
    {%- endif -%}
{%- endmacro %}

{#
    pre_hook: the plan of this run and the deletion of the rows it rebuilds.
    `date_column`: the model's date; `producers`: refs whose rebuild logs this model reads;
    `changed_from`: further SQL expressions of dates inputs changed from (NULL: unchanged);
    `extra`: SQL run first (temporary tables the expressions read).
#}
{% macro plan_rebuild(date_column, producers=[], changed_from=[], extra='', delete=true) -%}
    {%- set plan = rebuild_plan_relation() -%}
    {{ extra }}
    {%- if extra %};{% endif %}
    create temporary table {{ plan }} on commit drop as
    select
        {%- if not is_incremental() or business_date_var() is none %}
        date '-infinity' as rebuild_from,
        {%- else %}
        least({{ ([rebuilt_since(producers)] + changed_from) | join(', ') }}) as rebuild_from,
        {%- endif %}
        {%- set seqs = [] -%}
        {%- for producer in producers -%}
            {%- set log = history_state_relation('rebuilt', producer) -%}
            {%- if state_exists(log) -%}
                {%- do seqs.append("'" ~ producer.identifier ~ "', (select max(seq) from " ~ log ~ ")") -%}
            {%- endif -%}
        {%- endfor %}
        jsonb_build_object({{ seqs | join(', ') }}) as producers_seen;
    {%- if is_incremental() and delete %}
    delete from {{ this }} where {{ date_column }} >= (select rebuild_from from {{ plan }});
    {%- endif %}
{%- endmacro %}

{# The date this run rebuilds from, for the model's SQL (every date on a first build). #}
{% macro rebuild_from() -%}
    {%- if is_incremental() -%}
        (select {{ rebuild_plan_relation() }}.rebuild_from from {{ rebuild_plan_relation() }})
    {%- else -%}
        date '-infinity'
    {%- endif -%}
{%- endmacro %}

{#
    post_hook: append this run's rebuild to the model's log (when it rebuilt anything) and
    save which producer log entries it consumed. `extra`: SQL run after (state updates).
#}
{% macro finish_rebuild(extra='') -%}
    {%- set plan = rebuild_plan_relation() -%}
    {%- set log = history_state_relation('rebuilt') -%}
    {%- set consumed = history_state_relation('consumed') -%}
    create table if not exists {{ log }} (
        seq bigint generated always as identity primary key,
        rebuilt_from date not null,
        logged_at timestamptz not null default now()
    );
    insert into {{ log }} (rebuilt_from) select rebuild_from from {{ plan }} where rebuild_from is not null;
    create table if not exists {{ consumed }} (producer text not null, seq bigint);
    delete from {{ consumed }};
    insert into {{ consumed }} (producer, seq)
    select seen.key, cast(seen.value as bigint)
    from {{ plan }}
    cross join lateral jsonb_each_text({{ plan }}.producers_seen) as seen
    where seen.value is not null;
    {{ extra }}
{%- endmacro %}

{#
    Per-date fingerprints of an input (`sql`: a select of `date_column` and the columns that
    matter), compared with what the model saw last time (`<schema>__<model>__<name>_seen`).
    `input_fingerprints` (pre_hook SQL) keeps them in the temporary table `<model>__<name>_now`;
    `input_changed_from` is the earliest date whose rows appeared, disappeared or changed
    (-infinity without a saved state); `save_input_fingerprints` (post_hook SQL) saves them.
#}
{% macro input_fingerprints(name, sql, date_column, columns) -%}
    create temporary table {{ this.identifier }}__{{ name }}_now on commit drop as
    select
        {{ date_column }} as input_date,
        count(*) as input_rows,
        sum(hashtextextended(concat_ws('|', {{ columns | join(', ') }}), 0)) as fingerprint
    from ({{ sql }}) as input_rows
    group by {{ date_column }}
{%- endmacro %}

{% macro input_changed_from(name) -%}
    {%- set seen = history_state_relation(name ~ '_seen') -%}
    {%- if not state_exists(seen) -%}
        date '-infinity'
    {%- else -%}
        (select min(coalesce(now_rows.input_date, seen_rows.input_date))
        from {{ this.identifier }}__{{ name }}_now as now_rows
        full outer join {{ seen }} as seen_rows on now_rows.input_date = seen_rows.input_date
        where (now_rows.input_rows, now_rows.fingerprint) is distinct from (seen_rows.input_rows, seen_rows.fingerprint))
    {%- endif -%}
{%- endmacro %}

{% macro save_input_fingerprints(name) -%}
    {%- set seen = history_state_relation(name ~ '_seen') -%}
    create table if not exists {{ seen }} (input_date date, input_rows bigint not null, fingerprint numeric);
    delete from {{ seen }};
    insert into {{ seen }} (input_date, input_rows, fingerprint)
    select input_date, input_rows, fingerprint from {{ this.identifier }}__{{ name }}_now
{%- endmacro %}

{#
    The date_key (YYYYMMDD) of a date, 0 for -infinity, NULL for NULL (nothing to rebuild): a
    filter on a fact's date_key from a rebuild date, which the fact's date_key index can serve.
#}
{% macro date_key_floor(date_expr) -%}
    (select case when floor_date = date '-infinity' then 0 else {{ date_key('floor_date') }} end
    from (select {{ date_expr }} as floor_date) as floor_dates)
{%- endmacro %}
