{#
    The business dates a run of an incremental ledger model rebuilds, planned before it runs
    (a temporary table `<model>__dates`, dropped at commit, which the model reads).

    pre_hook `plan_transaction_dates` (fct_transactions): with var business_date on a built
    fact, that date and every built date with a row whose keys would now resolve differently
    (macros/fact_repair.sql); otherwise every staged date.
    pre_hook `plan_ledger_dates` (int_account_days_posted): the var's date, or every staged date.
    post_hook `log_dates_built` (int_account_days_posted): appends them to
    `<schema>__<model>__dates_built` (seq, business_date), beside the intermediates;
    '-infinity' when the run rebuilt every date (first build, full refresh, backfill), so
    that int_account_balances_daily can compare those dates of the ledger only.
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

{% macro plan_ledger_dates() -%}
    create temporary table {{ this.identifier }}__dates on commit drop as
    {{ dates_to_build(ref('stg_core_banking__transactions')) }}
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
