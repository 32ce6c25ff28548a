{#
    Run-time configuration read from vars, validated before it reaches SQL text.
#}

{#
    The business date being built (YYYY-MM-DD), or none: every date.
    From var business_date, else from env CDW_BUSINESS_DATE. The env variable is read
    only at execution time (never while parsing), so a daily run does not invalidate
    dbt's partial parse the way a changed --vars does (cdw.dbt.run_dbt passes it so).
#}
{% macro business_date_var() -%}
    {%- set value = var('business_date', none) -%}
    {%- if (value is none or (value | string | trim) == '') and execute -%}
        {%- set value = env_var('CDW_BUSINESS_DATE', '') -%}
    {%- endif -%}
    {%- if value is none or (value | string | trim) in ('', 'None', 'null') -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set value = value | string | trim -%}
    {%- set parts = value.split('-') -%}
    {%- if value | length != 10 or parts | length != 3 or not (parts | join('')).isdigit() -%}
        {{- exceptions.raise_compiler_error("var business_date must be YYYY-MM-DD, got '" ~ value ~ "'") -}}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}

{#
    The bank's time zone as a SQL literal: a property of the warehouse, not of dbt. The zone
    the first committed load recorded in audit.warehouse_timezone; before any load (nothing
    is dated yet) env CDW_TIMEZONE, else Asia/Shanghai: the zone that first load would
    record (cdw.warehouse.bank_timezone reads the same). Asked of the database at execution
    time only: parsing (Cosmos parses offline) gets 'UTC', which never reaches a query.
    A model that needs the zone more than once sets it once (`set zone = bank_timezone()`).
#}
{% macro bank_timezone() -%}
    {%- if not execute -%}
        {{- return("'UTC'") -}}
    {%- endif -%}
    {%- set tz = none -%}
    {#- a warehouse whose schema predates the table has no recorded zone either #}
    {%- if run_query("select to_regclass('audit.warehouse_timezone') is not null").columns[0].values()[0] -%}
        {%- set recorded = run_query("select timezone from audit.warehouse_timezone") -%}
        {%- if recorded.rows | length > 0 -%}
            {%- set tz = recorded.columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {%- if tz is none -%}
        {%- set tz = env_var('CDW_TIMEZONE', '') | trim or 'Asia/Shanghai' -%}
    {%- endif -%}
    {%- set tz = tz | string | trim -%}
    {#- the name goes into SQL text: IANA names only use these characters #}
    {%- set allowed = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-/' -%}
    {%- if tz | length == 0 or tz | reject('in', allowed) | list | length > 0 -%}
        {{- exceptions.raise_compiler_error("the bank's time zone is not a time zone name: '" ~ tz ~ "'") -}}
    {%- endif -%}
    {{- return("'" ~ tz ~ "'") -}}
{%- endmacro %}

{# The local (bank zone) calendar date of a timestamptz; `zone`: bank_timezone() when already read. #}
{% macro local_date(ts, zone=none) -%}
    cast(({{ ts }}) at time zone {{ zone if zone is not none else bank_timezone() }} as date)
{%- endmacro %}

{# date_key of dim_date: the integer YYYYMMDD of a date. #}
{% macro date_key(date_expr) -%}
    cast(to_char({{ date_expr }}, 'YYYYMMDD') as integer)
{%- endmacro %}

{#
    The first local calendar date of the ledger, every account included (NULL when empty),
    from int_account_days_posted's calendar_date index.
#}
{% macro first_ledger_date() -%}
    (select min(calendar_date) from {{ ref('int_account_days_posted') }})
{%- endmacro %}

{#
    The latest business date the warehouse holds (NULL when empty), as a select: the latest
    date with ledger entries, calls or an account snapshot. Every drop lists the ledger
    (landing.md), so a date whose ledger file was empty but whose calls or snapshots were not
    is a ledger date too: balances are carried forward to it and customer_360 is as of it.
    (The ledger alone stopped the balances the day before, and classified every account of
    that day's snapshot as empty.) Read from the intermediates and staging, never the marts
    (int_account_balances_daily uses it): the ledger's dates from int_account_days_posted's
    index, the snapshots' from int_accounts_latest (one row per account), the calls' from
    staged calls after those dates only (raw's BRIN index on business_date). A date whose
    every file was empty leaves no row anywhere: it is seen once a later one is.
#}
{% macro latest_business_date_sql() -%}
    select greatest(
        known.latest_date,
        (select max(calls.business_date) from {{ ref('stg_contact_center__calls') }} as calls
            where calls.business_date > coalesce(known.latest_date, date '-infinity'))
    )
    from (
        select max(latest_dates.latest_date) as latest_date from (
            select max(business_date) as latest_date from {{ ref('int_account_days_posted') }}
            union all
            select max(last_snapshot_date) as latest_date from {{ ref('int_accounts_latest') }}
        ) as latest_dates
    ) as known
{%- endmacro %}

{# A numeric var (threshold), checked to be a number. #}
{% macro numeric_var(name) -%}
    {%- set value = var(name) | string | trim -%}
    {%- if not (value | replace('.', '', 1)).isdigit() -%}
        {{- exceptions.raise_compiler_error("var " ~ name ~ " must be a non-negative number, got '" ~ value ~ "'") -}}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}

{#
    The business dates an incremental fact rebuilds, as a select of one column
    `business_date`: the var's date (plus `repair_cte`'s dates, rows whose keys must
    be re-resolved), or, without the var, every date of `all_cte`.
#}
{% macro dates_to_build(all_cte, repair_cte=none) -%}
    {%- set business_date = business_date_var() -%}
    {%- if business_date is none -%}
        select distinct business_date from {{ all_cte }}
    {%- else -%}
        select cast('{{ business_date }}' as date) as business_date
        {%- if repair_cte is not none %}
        union
        select business_date from {{ repair_cte }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#
    pre_hook of the incremental facts: the run's business date is replaced as a whole,
    even when its re-delivery has no rows left (delete+insert alone would keep them).
#}
{% macro delete_business_date() -%}
    {%- set business_date = business_date_var() -%}
    {%- if business_date is not none and is_incremental() -%}
        delete from {{ this }} where business_date = cast('{{ business_date }}' as date)
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#
    Join condition: the customer version (alias `dim`) valid on a date. The first version
    of a customer also covers every earlier date, so a fact dated before the customer's
    first snapshot (a late-arriving member) resolves once the customer is known.
#}
{% macro customer_version_valid_on(dim, date_expr) -%}
    ({{ date_expr }} >= {{ dim }}.valid_from or {{ dim }}.is_first_version)
    and {{ date_expr }} < {{ dim }}.valid_to
{%- endmacro %}

{#
    post_hook of the incremental facts: statistics of business_date that include the date
    just built. Statistics taken before it (autovacuum's, every tenth of the table) estimate
    that date at about one row, and the daily tests' joins planned for one row took 10 to
    100 times longer. One column: about a quarter of a second on 650,000 ledger entries.
#}
{% macro analyze_business_dates() -%}
    analyze {{ this }} (business_date)
{%- endmacro %}
