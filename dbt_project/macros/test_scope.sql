{#
    Data tests of a daily run look at the run's business date, not at all history: a
    generic test on a model named in var daily_test_scope ({model: date column}) reads only
    the rows of that column equal to the business date (a test whose own `where` config is
    set keeps it). Without a business date (first build, backfill) every row is tested.
    Uniqueness of ids across history stays checked by unique_in_history (tests/generic).
    dbt calls this macro for the `model` of every generic test (it overrides dbt's own).
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if not where -%}
        {%- set business_date = business_date_var() -%}
        {%- set column = var('daily_test_scope', {}).get(relation.identifier) -%}
        {%- if business_date is not none and column -%}
            {%- set where = column ~ " = cast('" ~ business_date ~ "' as date)" -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#
    Condition for a singular test: `column` is the run's business date; true without one.
#}
{% macro on_business_date(column) -%}
    {%- set business_date = business_date_var() -%}
    {%- if business_date is none -%}
        true
    {%- else -%}
        {{ column }} = cast('{{ business_date }}' as date)
    {%- endif -%}
{%- endmacro %}
