-- A single SELECT on purpose, without the usual import CTEs: PostgreSQL does not flatten a view
-- whose query has a WITH clause into the query that uses it, so the incremental models could
-- not look rows up by key through it (they would compute every row of the table instead).

select
    source."SKU" as sku,
    {{ normalize_sku('source."SKU"') }} as sku_key,
    {{ squish('source."DESCR"') }} as product_name,
    source."CAT_PATH" as category_path_raw,
    {{ normalize_category_path('source."CAT_PATH"') }} as category_path,
    source."PRICE" as price_raw,
    {{ money_to_cents('source."PRICE"', kind='float') }} as price_cents,
    source."ACTIVE" as active_raw,
    {{ legacy_boolean('source."ACTIVE"') }} as is_active,
    {{ local_to_timestamptz('source."LAST_UPD"') }} as updated_at,
    to_jsonb(source.*) - '_migrate_synced_at' - '_migrate_deleted' as source_row,
    source._migrate_synced_at as synced_at,
    source._migrate_deleted as is_deleted
from {{ source('oms', 'PRODUCT') }} as source
