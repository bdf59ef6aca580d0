{{
    config(
        materialized='view',
    )
}}

-- depends_on: {{ ref('sync_app_deletes') }}

-- Every legacy row ends migrated, merged or quarantined, counted independently from where each
-- ends: the landing rows that are not tombstoned, the rows in app that came from legacy, the merge
-- tables, and quarantine. Tests on the sources assert source_rows = migrated + merged + quarantined.

with

landing_rows as (
    select
        'CUSTOMER' as source_table,
        count(*) filter (where not is_deleted) as source_rows
    from {{ ref('stg_oms__customers') }}
    union all
    select
        'PRODUCT' as source_table,
        count(*) filter (where not is_deleted) as source_rows
    from {{ ref('stg_oms__products') }}
    union all
    select
        'ORDER_HDR' as source_table,
        count(*) filter (where not is_deleted) as source_rows
    from {{ ref('stg_oms__orders') }}
    union all
    select
        'ORDER_LINE' as source_table,
        count(*) filter (where not is_deleted) as source_rows
    from {{ ref('stg_oms__order_lines') }}
    union all
    select
        'PAYMENT' as source_table,
        count(*) filter (where not is_deleted) as source_rows
    from {{ ref('stg_oms__payments') }}
),

migrated_rows as (
    select
        'CUSTOMER' as source_table,
        count(legacy_cust_id) as migrated
    from {{ ref('customer') }}
    union all
    select
        'PRODUCT' as source_table,
        count(*) as migrated
    from {{ ref('product') }}
    union all
    select
        'ORDER_HDR' as source_table,
        count(legacy_order_no) as migrated
    from {{ ref('sales_order') }}
    union all
    select
        'ORDER_LINE' as source_table,
        count(*) as migrated
    from {{ ref('order_line') }}
    union all
    select
        'PAYMENT' as source_table,
        count(legacy_pay_id) as migrated
    from {{ ref('payment') }}
),

merged_rows as (
    select
        'CUSTOMER' as source_table,
        count(*) as merged
    from {{ ref('customer_merge') }}
    union all
    select
        'PRODUCT' as source_table,
        count(*) as merged
    from {{ ref('product_merge') }}
),

quarantined_rows as (
    select
        source_table,
        count(*) as quarantined
    from {{ ref('quarantined_rows') }}
    group by source_table
),

final as (
    select
        landing_rows.source_table,
        landing_rows.source_rows,
        coalesce(migrated_rows.migrated, 0) as migrated,
        coalesce(merged_rows.merged, 0) as merged,
        coalesce(quarantined_rows.quarantined, 0) as quarantined
    from landing_rows
    left join migrated_rows on landing_rows.source_table = migrated_rows.source_table
    left join merged_rows on landing_rows.source_table = merged_rows.source_table
    left join quarantined_rows on landing_rows.source_table = quarantined_rows.source_table
)

select * from final
