{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='business_date',
        on_schema_change='fail',
        pre_hook=[
            "{{ delete_business_date() }}",
            "{{ plan_ledger_dates() }}",
        ],
        post_hook=[
            "{{ log_dates_built() }}",
        ],
        indexes=[
            {'columns': ['business_date']},
            {'columns': ['calendar_date']},
            {'columns': ['account_id', 'calendar_date']},
        ],
    )
}}
{#
    One row per business date, account and local calendar date with ledger entries, from
    the staged ledger and the channels seed (every account id, known to the CRM or not): what
    the intermediates read of the ledger, so that none of them reads fct_transactions.
    - the entries' count and fingerprint (a 64-bit hash sum of their columns) for
      int_account_balances_daily's change detection (macros/ledger_changes.sql);
    - the last entry (latest txn_ts, then txn_id) and its balance_after: the end of the day
      is the last of these over the business dates that posted on that calendar date;
    - debits, amounts per channel group and customer-initiated inflow in CNY (var
      fx_rates_to_cny; NULL when no entry counts), which int_account_days_active sums.
    Calendar dates, channel groups and CNY amounts are derived as fct_transactions derives
    them (local date of txn_ts in the bank's zone; an unknown channel code is group UNKNOWN).

    Incremental per business date (delete+insert on business_date, the date deleted first so
    a re-delivery that lost rows is replaced too): with var business_date that date, without
    it every staged date. The dates a run rebuilt are logged (macros/fact_dates.sql):
    int_account_balances_daily compares only those dates with what it saw before.
#}
with

transactions as (

    select * from {{ ref('stg_core_banking__transactions') }}

),

channels as (

    select * from {{ ref('channels') }}

),

dates_to_build as (

    select business_date from {{ this.identifier }}__dates  -- the pre_hook's plan

),

entries as (

    select
        transactions.business_date,
        transactions.account_id,
        {{ local_date('transactions.txn_ts') }} as calendar_date,
        transactions.txn_id,
        transactions.txn_ts,
        transactions.balance_after,
        transactions.direction,
        transactions.txn_type,
        hashtextextended(concat_ws(
            '|', transactions.txn_id, transactions.txn_ts, transactions.balance_after, transactions.amount,
            transactions.signed_amount, transactions.direction, transactions.currency, transactions.channel_code,
            transactions.txn_type
        ), 0) as entry_hash,
        coalesce(channels.channel_group, 'UNKNOWN') as channel_group,
        {{ is_customer_initiated("coalesce(channels.channel_group, 'UNKNOWN')", 'transactions.txn_type') }}
            as is_customer_initiated,
        {{ to_cny('transactions.amount', 'transactions.currency') }} as amount_cny
    from transactions
    left join channels on transactions.channel_code = channels.channel_code
    -- a filter on the scan (not a semi-join): raw's BRIN index on business_date finds the dates built
    where transactions.business_date = any(array(select dates_to_build.business_date from dates_to_build))

),

final as (

    select
        business_date,
        account_id,
        calendar_date,
        count(*) as entry_count,
        sum(entry_hash) as fingerprint,
        max(txn_ts) as last_txn_ts,
        (array_agg(txn_id order by txn_ts desc, txn_id desc))[1] as last_txn_id,
        (array_agg(balance_after order by txn_ts desc, txn_id desc))[1] as last_balance_after,
        sum(amount_cny) filter (where direction = 'DEBIT') as debit_amount_cny,
        {%- for group in ['SELF_SERVICE', 'DIGITAL', 'ASSISTED'] %}
        count(*) filter (where channel_group = '{{ group }}') as {{ group | lower }}_entry_count,
        sum(amount_cny) filter (where channel_group = '{{ group }}') as {{ group | lower }}_amount_cny,
        {%- endfor %}
        sum(amount_cny) filter (
            where direction = 'CREDIT' and is_customer_initiated and txn_type <> 'REVERSAL'
        ) as customer_inflow_cny,
        bool_or(is_customer_initiated) as has_customer_initiated_entry

    from entries
    group by business_date, account_id, calendar_date

)

select * from final
