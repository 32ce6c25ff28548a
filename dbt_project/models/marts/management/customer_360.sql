{#
    One row per current customer: balances, activity, contact history and the bank's
    management rules (tier, value quadrant, wealth prospect, dormancy, churn risk) as of
    the latest business date (as_of_date; a date without ledger entries counts too). Amounts are CNY (var
    fx_rates_to_cny). Windows of N days are the N calendar dates ending on as_of_date.
    Every rule is spelled out in _management__models.yml. No personal data: ids, codes,
    figures and an age band only.
#}
{%- set affluent_min = numeric_var('tier_affluent_min') -%}
{%- set private_min = numeric_var('tier_private_min') -%}
{%- set value_high = numeric_var('value_high_balance') -%}
{%- set potential_high = numeric_var('potential_high_inflow') -%}
{%- set prospect_balance = numeric_var('wealth_prospect_min_balance') -%}
{%- set prospect_age = numeric_var('wealth_prospect_min_age') -%}
{%- set recent_days = numeric_var('churn_recent_days') -%}
{%- set baseline_days = numeric_var('churn_baseline_days') -%}
{%- set drop_pct = numeric_var('churn_balance_drop_pct') -%}
{%- set complaint_days = numeric_var('churn_complaint_days') -%}
with

customers as (

    select * from {{ ref('dim_customer') }}
    where is_current and customer_key <> {{ unknown_key() }}

),

versions as (

    select * from {{ ref('int_customers_versioned') }}
    where valid_to = cast('9999-12-31' as date)

),

active_days as (

    select * from {{ ref('int_account_days_active') }}

),

calls as (

    select * from {{ ref('fct_calls') }}
    where customer_id is not null

),

account_balances as (

    select * from {{ ref('int_account_balances_daily') }}

),

customer_balances as (

    select * from {{ ref('int_customer_balances_daily') }}

),

account_days as (

    select * from {{ ref('int_account_days_classified') }}

),

as_of as (

    {# the latest business date, with or without ledger entries, from indexes: a CTE read
       twice would be materialised, copying the whole ledger #}
    select ({{ latest_business_date_sql() }}) as as_of_date

),

balances_now as (

    select
        account_balances.customer_id,
        sum(account_balances.balance_cny) filter (where account_balances.product = 'CURRENT') as current_balance,
        sum(account_balances.balance_cny) filter (where account_balances.product = 'SAVINGS') as savings_balance,
        sum(account_balances.balance_cny) filter (
            where account_balances.product = 'TIME_DEPOSIT'
        ) as time_deposit_balance,
        sum(account_balances.balance_cny) filter (where account_balances.product = 'WEALTH') as wealth_balance,
        sum(account_balances.balance_cny) filter (
            where account_balances.product = 'CREDIT_CARD'
        ) as credit_card_balance,
        sum(account_balances.balance_cny) filter (where account_balances.product = 'LOAN') as loan_balance,
        sum(greatest(account_balances.balance_cny, 0)) filter (where account_balances.is_deposit) as deposit_balance
    from account_balances
    inner join as_of on account_balances.balance_date = as_of.as_of_date
    group by account_balances.customer_id

),

balance_windows as (

    select
        customer_balances.customer_id,
        avg(customer_balances.deposit_balance_cny) filter (
            where customer_balances.balance_date > as_of.as_of_date - 30
        ) as adb_30d,
        avg(customer_balances.deposit_balance_cny) filter (
            where customer_balances.balance_date > as_of.as_of_date - 90
        ) as adb_90d,
        avg(customer_balances.deposit_balance_cny) filter (
            where customer_balances.balance_date > as_of.as_of_date - {{ recent_days }}
        ) as adb_recent,
        avg(customer_balances.deposit_balance_cny) filter (
            where customer_balances.balance_date <= as_of.as_of_date - {{ recent_days }}
            and customer_balances.balance_date > as_of.as_of_date - {{ recent_days }} - {{ baseline_days }}
        ) as adb_baseline,
        min(customer_balances.balance_date) filter (
            where customer_balances.balance_date > as_of.as_of_date - 90
        ) as first_known_date_90d
    from customer_balances
    cross join as_of
    where customer_balances.balance_date <= as_of.as_of_date
    group by customer_balances.customer_id

),

balance_growth as (

    select
        balance_windows.customer_id,
        now_balance.deposit_balance_cny - first_balance.deposit_balance_cny as balance_growth_90d
    from balance_windows
    cross join as_of
    inner join customer_balances as first_balance
        on balance_windows.customer_id = first_balance.customer_id
            and balance_windows.first_known_date_90d = first_balance.balance_date
    inner join customer_balances as now_balance
        on balance_windows.customer_id = now_balance.customer_id
            and as_of.as_of_date = now_balance.balance_date

),

activity as (

    {# per customer over its accounts' days with entries (int_account_days_active), not the ledger #}
    select
        active_days.customer_id,
        {%- for group in ['self_service', 'digital', 'assisted'] %}
        {%- for days in [30, 90] %}
        coalesce(sum(active_days.{{ group }}_entry_count) filter (
            where as_of.as_of_date - active_days.calendar_date < {{ days }}
        ), 0) as {{ group }}_txn_count_{{ days }}d,
        coalesce(sum(active_days.{{ group }}_amount_cny) filter (
            where as_of.as_of_date - active_days.calendar_date < {{ days }}
        ), 0) as {{ group }}_txn_amount_{{ days }}d,
        {%- endfor %}
        {%- endfor %}
        coalesce(sum(active_days.customer_inflow_cny) filter (
            where as_of.as_of_date - active_days.calendar_date < 90
        ), 0) as inflow_90d,
        max(active_days.calendar_date) filter (
            where active_days.has_customer_initiated_entry
        ) as last_customer_entry_date
    from active_days
    cross join as_of
    where active_days.calendar_date <= as_of.as_of_date
    group by active_days.customer_id

),

contacts as (

    select
        calls.customer_id,
        count(*) filter (where as_of.as_of_date - calls.calendar_date < 90) as calls_90d,
        count(*) filter (
            where as_of.as_of_date - calls.calendar_date < 90 and calls.reason_code = 'COMPLAINT'
        ) as complaints_90d,
        count(*) filter (
            where as_of.as_of_date - calls.calendar_date < {{ complaint_days }} and calls.reason_code = 'COMPLAINT'
        ) as complaints_churn_window,
        avg(calls.csat_score) filter (where as_of.as_of_date - calls.calendar_date < 90) as csat_avg_90d,
        max(calls.calendar_date) as last_call_date
    from calls
    cross join as_of
    where calls.calendar_date <= as_of.as_of_date
    group by calls.customer_id

),

latest_account_days as (

    select
        customer_id,
        count(*) filter (where is_open) as open_accounts,
        count(*) filter (where is_dormant) as dormant_accounts,
        count(*) filter (where is_effective) as effective_accounts
    from account_days
    where snapshot_date = (
            select max(latest.snapshot_date) from (select * from {{ ref('int_account_days_classified') }}) as latest
        )
    group by customer_id

),

combined as (

    select
        customers.customer_id,
        customers.customer_key,
        as_of.as_of_date,
        customers.segment,
        customers.age_band,
        customers.education,
        versions.age_at_as_of as age,
        customers.join_date,
        as_of.as_of_date - customers.join_date as tenure_days,
        coalesce(balances_now.current_balance, 0) as current_balance,
        coalesce(balances_now.savings_balance, 0) as savings_balance,
        coalesce(balances_now.time_deposit_balance, 0) as time_deposit_balance,
        coalesce(balances_now.wealth_balance, 0) as wealth_balance,
        coalesce(balances_now.credit_card_balance, 0) as credit_card_balance,
        coalesce(balances_now.loan_balance, 0) as loan_balance,
        coalesce(balances_now.deposit_balance, 0) as deposit_balance,
        balance_windows.adb_30d,
        balance_windows.adb_90d,
        balance_windows.adb_recent,
        balance_windows.adb_baseline,
        balance_growth.balance_growth_90d,
        {%- for group in ['self_service', 'digital', 'assisted'] %}
        {%- for days in [30, 90] %}
        coalesce(activity.{{ group }}_txn_count_{{ days }}d, 0) as {{ group }}_txn_count_{{ days }}d,
        coalesce(activity.{{ group }}_txn_amount_{{ days }}d, 0) as {{ group }}_txn_amount_{{ days }}d,
        {%- endfor %}
        {%- endfor %}
        coalesce(activity.inflow_90d, 0) as inflow_90d,
        activity.last_customer_entry_date,
        coalesce(contacts.calls_90d, 0) as calls_90d,
        coalesce(contacts.complaints_90d, 0) as complaints_90d,
        coalesce(contacts.complaints_churn_window, 0) as complaints_churn_window,
        contacts.csat_avg_90d,
        contacts.last_call_date,
        coalesce(latest_account_days.open_accounts, 0) as open_accounts,
        coalesce(latest_account_days.dormant_accounts, 0) as dormant_accounts,
        coalesce(latest_account_days.effective_accounts, 0) as effective_accounts

    from customers
    cross join as_of
    left join versions on customers.customer_id = versions.customer_id
    left join balances_now on customers.customer_id = balances_now.customer_id
    left join balance_windows on customers.customer_id = balance_windows.customer_id
    left join balance_growth on customers.customer_id = balance_growth.customer_id
    left join activity on customers.customer_id = activity.customer_id
    left join contacts on customers.customer_id = contacts.customer_id
    left join latest_account_days on customers.customer_id = latest_account_days.customer_id

),

ruled as (

    select
        *,
        case
            when coalesce(adb_90d, 0) >= {{ private_min }} then 'PRIVATE'
            when coalesce(adb_90d, 0) >= {{ affluent_min }} then 'AFFLUENT'
            else 'MASS'
        end as tier,
        deposit_balance >= {{ value_high }} as is_high_value,
        greatest(inflow_90d, coalesce(balance_growth_90d, 0)) >= {{ potential_high }} as is_high_potential,
        deposit_balance > {{ prospect_balance }} as prospect_balance_ok,
        coalesce(age > {{ prospect_age }}, false) as prospect_age_ok,
        coalesce(education in ('BACHELOR', 'POSTGRADUATE'), false) as prospect_education_ok,
        case
            when adb_baseline > 0 then 1 - coalesce(adb_recent, 0) / adb_baseline
        end as balance_drop_share,
        last_customer_entry_date is null
        or last_customer_entry_date <= as_of_date - {{ recent_days }} as has_stopped_transacting

    from combined

),

final as (

    select
        customer_id,
        customer_key,
        as_of_date,
        segment,
        tier,
        tier <> segment as is_segment_mismatch,
        age_band,
        cast(tenure_days as integer) as tenure_days,
        cast(current_balance as numeric(18, 2)) as current_balance,
        cast(savings_balance as numeric(18, 2)) as savings_balance,
        cast(time_deposit_balance as numeric(18, 2)) as time_deposit_balance,
        cast(wealth_balance as numeric(18, 2)) as wealth_balance,
        cast(credit_card_balance as numeric(18, 2)) as credit_card_balance,
        cast(loan_balance as numeric(18, 2)) as loan_balance,
        cast(deposit_balance as numeric(18, 2)) as deposit_balance,
        cast(adb_30d as numeric(18, 2)) as adb_30d,
        cast(adb_90d as numeric(18, 2)) as adb_90d,
        {%- for group in ['self_service', 'digital', 'assisted'] %}
        {%- for days in [30, 90] %}
        cast({{ group }}_txn_count_{{ days }}d as integer) as {{ group }}_txn_count_{{ days }}d,
        cast({{ group }}_txn_amount_{{ days }}d as numeric(18, 2)) as {{ group }}_txn_amount_{{ days }}d,
        {%- endfor %}
        {%- endfor %}
        cast(calls_90d as integer) as calls_90d,
        cast(complaints_90d as integer) as complaints_90d,
        cast(csat_avg_90d as numeric) as csat_avg_90d,
        last_customer_entry_date,
        last_call_date,
        greatest(last_customer_entry_date, last_call_date) as last_activity_date,
        cast(inflow_90d as numeric(18, 2)) as inflow_90d,
        cast(balance_growth_90d as numeric(18, 2)) as balance_growth_90d,
        case
            when is_high_value and is_high_potential then 'KEY'
            when not is_high_value and is_high_potential then 'DEVELOP'
            when is_high_value and not is_high_potential then 'MAINTAIN'
            else 'REVIEW'
        end as value_quadrant,
        prospect_balance_ok and (prospect_age_ok or prospect_education_ok) as is_wealth_prospect,
        case
            when prospect_balance_ok and (prospect_age_ok or prospect_education_ok)
                then concat_ws(
                        '; ',
                        'deposit balance ' || cast(cast(deposit_balance as numeric(18, 2)) as text)
                        || ' > {{ prospect_balance }}',
                        case when prospect_age_ok then 'age ' || age || ' > {{ prospect_age }}' end,
                        case when prospect_education_ok then 'education ' || education end
                    )
        end as wealth_prospect_reason,
        cast(open_accounts as integer) as open_accounts,
        cast(dormant_accounts as integer) as dormant_accounts,
        cast(effective_accounts as integer) as effective_accounts,
        effective_accounts > 0 as is_effective,
        open_accounts > 0 and dormant_accounts = open_accounts as is_fully_dormant,
        cast(adb_recent as numeric(18, 2)) as adb_recent,
        cast(adb_baseline as numeric(18, 2)) as adb_baseline,
        cast(balance_drop_share as numeric) as balance_drop_share,
        cast(complaints_churn_window as integer) as complaints_churn_window,
        has_stopped_transacting,
        coalesce(
            balance_drop_share > {{ drop_pct }} / 100.0
            and (complaints_churn_window > 0 or has_stopped_transacting),
            false
        ) as is_churn_risk,
        case
            when balance_drop_share > {{ drop_pct }} / 100.0
                and (complaints_churn_window > 0 or has_stopped_transacting)
                then concat_ws(
                        '; ',
                        '{{ recent_days }}-day average balance ' || cast(cast(adb_recent as numeric(18, 2)) as text)
                        || ' is ' || cast(round(balance_drop_share * 100, 1) as text)
                        || ' % below the previous {{ baseline_days }} days ('
                        || cast(cast(adb_baseline as numeric(18, 2)) as text) || ')',
                        case
                            when complaints_churn_window > 0
                                then complaints_churn_window || ' complaint(s) in {{ complaint_days }} days'
                        end,
                        case
                            when has_stopped_transacting
                                then 'no customer-initiated entry in {{ recent_days }} days'
                        end
                    )
        end as churn_reasons

    from ruled

)

select * from final
