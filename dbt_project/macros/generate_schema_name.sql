{#
    Schemas are exactly as configured: dbt's default would prefix the target schema
    ("staging_analytics"). No custom schema -> the profile's schema (staging).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
