-- A single SELECT on purpose, without the usual import CTEs: PostgreSQL does not flatten a view
-- whose query has a WITH clause into the query that uses it, so the incremental models could
-- not look rows up by key through it (they would compute every row of the table instead).

select
    source."ORDER_NO" as order_no,
    source."LINE_NO" as line_no,
    source."SKU" as sku,
    {{ normalize_sku('source."SKU"') }} as sku_key,
    source."QTY" as quantity,
    source."UNIT_PRICE" as unit_price_raw,
    {{ money_to_cents('source."UNIT_PRICE"', kind='float') }} as unit_price_cents,
    source."DISC_PCT" as discount_pct_raw,
    round(coalesce(source."DISC_PCT", 0) * 100)::integer as discount_bps,
    to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted' as source_row,
    source._migrate_synced_at as synced_at,
    source._migrate_deleted as is_deleted
from {{ source('oms', 'ORDER_LINE') }} as source
