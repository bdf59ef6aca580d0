-- A single SELECT on purpose, without the usual import CTEs: PostgreSQL does not flatten a view
-- whose query has a WITH clause into the query that uses it, so the incremental models could
-- not look rows up by key through it (they would compute every row of the table instead).

select
    source."PAY_ID" as pay_id,
    source."ORDER_NO" as order_no,
    upper(btrim(source."METHOD")) as method_code,
    source."AMOUNT" as amount_raw,
    {{ money_to_cents('source."AMOUNT"', kind='numeric') }} as amount_cents,
    source."PAID_AT" as paid_at_local,
    {{ local_to_timestamptz('source."PAID_AT"') }} as paid_at,
    coalesce({{ is_nonexistent_local_time('source."PAID_AT"') }}, false) as is_in_dst_gap,
    {{ card_last4('source."CARD_NO"') }} as card_last4,
    {{ is_full_card_number('source."CARD_NO"') }} as has_full_card_number,
    (to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted')
    || jsonb_build_object('CARD_NO', {{ card_last4('source."CARD_NO"') }}) as source_row,
    source._migrate_synced_at as synced_at,
    source._migrate_deleted as is_deleted
from {{ source('oms', 'PAYMENT') }} as source
