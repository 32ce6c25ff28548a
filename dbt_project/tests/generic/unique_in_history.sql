{#
    Values of column_name in `model` (in a daily run: the business date's rows, see
    macros/test_scope.sql) that occur more than once in `history`, the whole relation
    (e.g. ref('fct_transactions')): a daily run checks the day's ids against all history,
    through the column's index, instead of re-checking every id of every day.
#}
{% test unique_in_history(model, column_name, history) %}

select
    all_rows.{{ column_name }} as unique_field,
    count(*) as n_records
from {{ history }} as all_rows
where all_rows.{{ column_name }} in (
    select {{ column_name }} from {{ model }} where {{ column_name }} is not null
)
group by all_rows.{{ column_name }}
having count(*) > 1

{% endtest %}
