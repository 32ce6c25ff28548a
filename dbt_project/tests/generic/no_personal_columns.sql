{#
    Fails when the model has a column named like personal data (warehouse.md): the
    published schema must never carry full_name, phone, email, caller_number,
    counterparty_account or agent_name.
#}
{% test no_personal_columns(model) %}

select
    column_name
from information_schema.columns
where table_schema = '{{ model.schema }}'
    and table_name = '{{ model.identifier }}'
    and column_name in ('full_name', 'phone', 'email', 'caller_number', 'counterparty_account', 'agent_name')

{% endtest %}
