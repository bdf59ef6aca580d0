with

source as (
    select * from {{ source('oms', 'PAYMENT') }}
),

renamed as (
    select
        "PAY_ID" as pay_id,
        "ORDER_NO" as order_no,
        upper(btrim("METHOD")) as method_code,
        "AMOUNT" as amount_raw,
        {{ money_to_cents('"AMOUNT"', kind='numeric') }} as amount_cents,
        "PAID_AT" as paid_at_local,
        {{ local_to_timestamptz('"PAID_AT"') }} as paid_at,
        coalesce({{ is_nonexistent_local_time('"PAID_AT"') }}, false) as is_in_dst_gap,
        {{ card_last4('"CARD_NO"') }} as card_last4,
        {{ is_full_card_number('"CARD_NO"') }} as has_full_card_number,
        (to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted') || jsonb_build_object('CARD_NO', {{ card_last4('"CARD_NO"') }}) as source_row,
        "_migrate_synced_at" as synced_at,
        "_migrate_deleted" as is_deleted
    from source
)

select * from renamed
