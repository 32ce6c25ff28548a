{#
    Ledger entries, typed and named for the warehouse.
    counterparty_account (personal) leaves here only as its keyed pseudonym.
#}
with

source as (

    select * from {{ source('core_banking', 'transactions') }}

),

renamed as (

    select
        txn_id,
        business_date,
        load_id,
        account_id,
        txn_ts,
        cast(amount as numeric(18, 2)) as amount,
        upper(currency) as currency,
        upper(direction) as direction,
        upper(txn_type) as txn_type,
        upper(channel) as channel_code,
        branch_id,
        cast(balance_after as numeric(18, 2)) as balance_after,
        counterparty_bank,
        {{ pseudonym('counterparty_account') }} as counterparty_account_key,
        reverses_txn_id,
        cast(
            case when upper(direction) = 'CREDIT' then amount else -amount end
            as numeric(18, 2)
        ) as signed_amount

    from source

)

select * from renamed
