{#
    When a fact row was (re)built: the database's clock at the start of the model's transaction,
    so every row of one run carries the same value and the publication's watermark
    (cdw.publication) compares values of one clock only.
#}
{% macro built_at() %}cast(transaction_timestamp() as timestamptz){% endmacro %}
