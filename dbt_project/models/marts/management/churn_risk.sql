{#
    One row per current customer flagged at risk of leaving (customer_360.is_churn_risk):
    the average daily deposit balance of the last var churn_recent_days (30) days fell by
    more than var churn_balance_drop_pct (30 %) against the var churn_baseline_days (90)
    days before them, AND the customer complained within var churn_complaint_days (90) days
    or made no customer-initiated ledger entry in the last churn_recent_days days.
#}
with

customers as (

    select * from {{ ref('customer_360') }}
    where is_churn_risk

),

final as (

    select
        customer_id,
        as_of_date,
        segment,
        value_quadrant,
        adb_recent,
        adb_baseline,
        balance_drop_share,
        complaints_churn_window as complaints,
        last_customer_entry_date,
        has_stopped_transacting,
        churn_reasons as reasons

    from customers

)

select * from final
