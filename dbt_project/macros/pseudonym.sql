{#
    Keyed pseudonym (HMAC-SHA256, hex) of a personal value: what analysts get to count or
    link callers and counterparties without seeing them. Computed by the warehouse
    (restricted.pseudonym, loader only) with the key the session brings (cdw.pseudonyms);
    NULL stays NULL.
#}
{% macro pseudonym(column) -%}
    restricted.pseudonym(cast({{ column }} as text))
{%- endmacro %}
