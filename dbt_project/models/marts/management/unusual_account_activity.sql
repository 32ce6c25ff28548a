{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ plan_rebuild('calendar_date', producers=[ref('int_account_days_active')]) }}",
        post_hook=[
            "create index if not exists {{ this.identifier }}__calendar_date on {{ this }} (calendar_date)",
            "{{ finish_rebuild() }}",
        ],
    )
}}
{#
    Outlier review list: one row per account-day (local calendar date) on which at least one
    rule fired. Figures per account-day: debit_amount (sum of DEBIT entries, CNY) and
    entry_count (all entries). Rules:
    - DEBIT_AMOUNT_LIMIT: debit_amount > var unusual_debit_amount_limit;
    - ENTRY_COUNT_LIMIT: entry_count > var unusual_entry_count_limit;
    - DEBIT_AMOUNT_SIGMA / ENTRY_COUNT_SIGMA: the figure > mean + k x standard deviation
      (var unusual_sigma_k) of the same figure over the account's history: its days with
      entries in the var unusual_history_days (90) days before, required to number at least
      var unusual_min_history_days; a zero standard deviation never fires.

    Incremental (macros/incremental_history.sql): an account-day depends on the account's
    days with entries (int_account_days_active: count and debit total per account-day) on
    that day and the unusual_history_days before, so a daily run rebuilds the dates from the
    one int_account_days_active rebuilt from, reading its days from unusual_history_days
    earlier, of the accounts with entries on the rebuilt dates only. Without a business
    date: every date. A change of a var here or of fx_rates_to_cny needs --full-refresh.
#}
{%- set amount_limit = numeric_var('unusual_debit_amount_limit') -%}
{%- set count_limit = numeric_var('unusual_entry_count_limit') -%}
{%- set sigma_k = numeric_var('unusual_sigma_k') -%}
{%- set history_days = numeric_var('unusual_history_days') -%}
{%- set min_history = numeric_var('unusual_min_history_days') -%}
with

account_days as (

    select
        account_id,
        calendar_date,
        customer_id,
        debit_amount_cny as debit_amount,
        entry_count
    from {{ ref('int_account_days_active') }}
    where calendar_date >= {{ rebuild_from() }} - {{ history_days }}
    {%- if is_incremental() %}
    -- rows are written only for accounts with entries on the rebuilt dates
    and account_id in (
        select rebuilt.account_id from (select * from {{ ref('int_account_days_active') }}) as rebuilt
        where rebuilt.calendar_date >= {{ rebuild_from() }}
    )
    {%- endif %}

),

with_history as (

    select
        *,
        count(*) over history as history_days,
        avg(debit_amount) over history as history_mean_debit_amount,
        stddev_samp(debit_amount) over history as history_sd_debit_amount,
        avg(entry_count) over history as history_mean_entry_count,
        stddev_samp(entry_count) over history as history_sd_entry_count
    from account_days
    window history as (
        partition by account_id order by calendar_date
        range between interval '{{ history_days }} days' preceding and interval '1 day' preceding
    )

),

ruled as (

    select
        *,
        debit_amount > {{ amount_limit }} as debit_amount_limit_fired,
        entry_count > {{ count_limit }} as entry_count_limit_fired,
        coalesce(
            history_days >= {{ min_history }} and history_sd_debit_amount > 0
            and debit_amount > history_mean_debit_amount + {{ sigma_k }} * history_sd_debit_amount,
            false
        ) as debit_amount_sigma_fired,
        coalesce(
            history_days >= {{ min_history }} and history_sd_entry_count > 0
            and entry_count > history_mean_entry_count + {{ sigma_k }} * history_sd_entry_count,
            false
        ) as entry_count_sigma_fired
    from with_history

),

final as (

    select
        account_id,
        calendar_date,
        {{ date_key('calendar_date') }} as date_key,
        customer_id,
        concat_ws(
            ', ',
            case when debit_amount_limit_fired then 'DEBIT_AMOUNT_LIMIT' end,
            case when entry_count_limit_fired then 'ENTRY_COUNT_LIMIT' end,
            case when debit_amount_sigma_fired then 'DEBIT_AMOUNT_SIGMA' end,
            case when entry_count_sigma_fired then 'ENTRY_COUNT_SIGMA' end
        ) as rules_fired,
        debit_amount_limit_fired,
        entry_count_limit_fired,
        debit_amount_sigma_fired,
        entry_count_sigma_fired,
        cast(debit_amount as numeric(18, 2)) as debit_amount,
        cast(entry_count as integer) as entry_count,
        cast(history_days as integer) as history_days,
        cast(history_mean_debit_amount as numeric(18, 2)) as history_mean_debit_amount,
        cast(history_sd_debit_amount as numeric(18, 2)) as history_sd_debit_amount,
        cast(history_mean_entry_count as numeric) as history_mean_entry_count,
        cast(history_sd_entry_count as numeric) as history_sd_entry_count,
        cast({{ amount_limit }} as numeric) as debit_amount_limit,
        cast({{ count_limit }} as integer) as entry_count_limit,
        cast({{ sigma_k }} as numeric) as sigma_k

    from ruled
    where calendar_date >= {{ rebuild_from() }}
        and (debit_amount_limit_fired or entry_count_limit_fired or debit_amount_sigma_fired or entry_count_sigma_fired)

)

select * from final
