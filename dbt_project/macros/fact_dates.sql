{#
    The business dates a run of fct_transactions rebuilds, planned before it runs and logged
    after, so that a model reading the ledger can look at those dates only.

    pre_hook `plan_transaction_dates`: the temporary table `fct_transactions__dates` (dropped
    at commit) of the dates this run rebuilds: the business date and every built date with a
    row whose keys would now resolve differently (macros/fact_repair.sql). Without a business
    date: every staged date and '-infinity' (logged: every date); on a first build: '-infinity'.
    post_hook `log_dates_built`: appends them to `<schema>__fct_transactions__dates_built`
    (seq, business_date; '-infinity' = every date), beside the intermediates.
#}
{% macro plan_transaction_dates() -%}
    create temporary table {{ this.identifier }}__dates on commit drop as
    {%- if is_incremental() and business_date_var() is not none %}
    with

    accounts as (
        select * from {{ ref('dim_account') }}
        where account_key <> {{ unknown_key() }}
    ),

    customers as (
        select * from {{ ref('dim_customer') }}
        where customer_key <> {{ unknown_key() }}
    ),

    repair_candidates as (
        {{ fact_repair_candidates({'account': 'account_id', 'customer': 'customer_id'}) }}
    ),

    repair_dates as (
        select distinct built.business_date
        from repair_candidates as built
        left join accounts
            on built.account_id = accounts.account_id
        left join customers
            on accounts.customer_id = customers.customer_id
            and {{ customer_version_valid_on('customers', 'built.calendar_date') }}
        where built.account_key <> coalesce(accounts.account_key, {{ unknown_key() }})
            or built.customer_key <> coalesce(customers.customer_key, {{ unknown_key() }})
            or built.customer_id is distinct from accounts.customer_id
    )

    {{ dates_to_build('transactions', 'repair_dates') }}
    {%- elif is_incremental() %}
    {# a backfill: every date staged, logged as every date #}
    select distinct business_date from {{ ref('stg_core_banking__transactions') }}
    union all
    select date '-infinity' as business_date
    {%- else %}
    select date '-infinity' as business_date
    {%- endif %}
{%- endmacro %}

{% macro log_dates_built() -%}
    {%- set log = history_state_relation('dates_built') -%}
    create table if not exists {{ log }} (
        seq bigint generated always as identity primary key,
        business_date date not null,
        logged_at timestamptz not null default now()
    );
    insert into {{ log }} (business_date) select business_date from {{ this.identifier }}__dates
{%- endmacro %}
