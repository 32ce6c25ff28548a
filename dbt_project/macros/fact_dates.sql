{#
    The business dates a run of fct_transactions rebuilds, planned before it runs and logged
    after, so that a model reading the ledger can look at those dates only.

    pre_hook `plan_transaction_dates`: the temporary table `fct_transactions__dates` (dropped
    at commit) of the dates this run rebuilds, which the model reads: with var business_date
    on a built fact, that date and every built date with a row whose keys would now resolve
    differently (macros/fact_repair.sql); otherwise every staged date.
    post_hook `log_dates_built`: appends them to `<schema>__fct_transactions__dates_built`
    (seq, business_date), beside the intermediates; '-infinity' when the run rebuilt every
    date (first build, full refresh, backfill).
#}
{% macro plan_transaction_dates() -%}
    create temporary table {{ this.identifier }}__dates on commit drop as
    {%- if is_incremental() and business_date_var() is not none %}
    with

    repair_candidates as (
        {{ fact_repair_candidates({'account': 'account_id', 'customer': 'customer_id'}) }}
    ),

    repair_dates as (
        select distinct built.business_date
        from repair_candidates as built
        left join {{ ref('dim_account') }} as accounts
            on built.account_id = accounts.account_id
            and accounts.account_key <> {{ unknown_key() }}
        left join {{ ref('dim_customer') }} as customers
            on accounts.customer_id = customers.customer_id
            and customers.customer_key <> {{ unknown_key() }}
            and {{ customer_version_valid_on('customers', 'built.calendar_date') }}
        where built.account_key <> coalesce(accounts.account_key, {{ unknown_key() }})
            or built.customer_key <> coalesce(customers.customer_key, {{ unknown_key() }})
            or built.customer_id is distinct from accounts.customer_id
    )

    {{ dates_to_build(none, 'repair_dates') }}
    {%- else %}
    {{ dates_to_build(ref('stg_core_banking__transactions')) }}
    {%- endif %}
{%- endmacro %}

{% macro log_dates_built() -%}
    {%- set log = history_state_relation('dates_built') -%}
    create table if not exists {{ log }} (
        seq bigint generated always as identity primary key,
        business_date date not null,
        logged_at timestamptz not null default now()
    );
    insert into {{ log }} (business_date)
    {%- if is_incremental() and business_date_var() is not none %}
    select business_date from {{ this.identifier }}__dates
    {%- else %}
    values (date '-infinity')
    {%- endif %}
{%- endmacro %}
