{#
    Deterministic bigint surrogate key: the first 64 bits of md5 over the fields
    (text, '|'-separated, NULL spelled out). Same inputs give the same key in every
    run and every database, so a rebuild or a backfill never renumbers a dimension.
    -1 is reserved for the unknown member (a collision with it has odds of 2^-64).
#}
{% macro surrogate_key(fields) -%}
    ('x' || substr(md5(concat_ws('|'
    {%- for field in fields -%}
        , coalesce(cast({{ field }} as text), '_null_')
    {%- endfor -%}
    )), 1, 16))::bit(64)::bigint
{%- endmacro %}

{% macro unknown_key() -%}
    cast(-1 as bigint)
{%- endmacro %}
