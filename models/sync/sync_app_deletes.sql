{{
    config(
        incremental_strategy='append',
        post_hook=[
            "{{ apply_sync_deletes(['payment', 'order_line', 'customer_merge', 'sales_order', 'customer', 'product']) }}",
        ],
        indexes=[{'columns': ['batch_id']}],
    )
}}

-- The app rows this batch removes, child tables first, and why: their legacy row was deleted at
-- the source (tombstone), is quarantined now, or was merged into another. The post-hook deletes
-- them in this order (macro apply_sync_deletes) in the same transaction as this log, then marks
-- the batch completed, which advances the watermark.

-- depends_on: {{ ref('sync_batches') }}

with

customers as not materialized (
    select * from {{ ref('int_customers_deduplicated') }}
    where batch_watermark > {{ sync_low_watermark() }}
),

products as not materialized (
    select * from {{ ref('int_products_deduplicated') }}
    where batch_watermark > {{ sync_low_watermark() }}
),

orders as not materialized (
    select * from {{ ref('int_orders_validated') }}
    where batch_watermark > {{ sync_low_watermark() }} and disposition <> 'migrated'
),

order_lines as not materialized (
    select * from {{ ref('int_order_lines_validated') }}
    where batch_watermark > {{ sync_low_watermark() }} and disposition <> 'migrated'
),

payments as not materialized (
    select * from {{ ref('int_payments_validated') }}
    where batch_watermark > {{ sync_low_watermark() }} and disposition <> 'migrated'
),

app_payments as not materialized (
    select * from {{ ref('payment') }}
),

app_order_lines as not materialized (
    select * from {{ ref('order_line') }}
),

app_customer_merges as not materialized (
    select * from {{ ref('customer_merge') }}
),

app_orders as not materialized (
    select * from {{ ref('sales_order') }}
),

app_customers as not materialized (
    select * from {{ ref('customer') }}
),

app_products as not materialized (
    select * from {{ ref('product') }}
),

departing as (
    select
        1 as delete_order,
        'payment' as app_table,
        app_payments.payment_id::text as app_key,
        payments.disposition,
        payments.quarantine_rule
    from payments
    inner join app_payments on payments.pay_id = app_payments.payment_id

    union all

    select
        2 as delete_order,
        'order_line' as app_table,
        app_order_lines.order_id || '|' || app_order_lines.line_no as app_key,
        order_lines.disposition,
        order_lines.quarantine_rule
    from order_lines
    inner join app_order_lines
        on order_lines.order_no = app_order_lines.order_id and order_lines.line_no = app_order_lines.line_no

    union all

    select
        3 as delete_order,
        'customer_merge' as app_table,
        app_customer_merges.legacy_cust_id::text as app_key,
        customers.disposition,
        customers.quarantine_rule
    from customers
    inner join app_customer_merges on customers.cust_id = app_customer_merges.legacy_cust_id
    where customers.disposition <> 'merged'

    union all

    select
        4 as delete_order,
        'sales_order' as app_table,
        app_orders.order_id::text as app_key,
        orders.disposition,
        orders.quarantine_rule
    from orders
    inner join app_orders on orders.order_no = app_orders.order_id

    union all

    select
        5 as delete_order,
        'customer' as app_table,
        app_customers.customer_id::text as app_key,
        customers.disposition,
        customers.quarantine_rule
    from customers
    inner join app_customers on customers.cust_id = app_customers.customer_id
    where customers.disposition <> 'migrated'

    union all

    -- A product goes when none of its twins is migrated any more.
    select
        6 as delete_order,
        'product' as app_table,
        app_products.product_id::text as app_key,
        min(products.disposition) as disposition,
        min(products.quarantine_rule) as quarantine_rule
    from products
    inner join app_products on products.sku_key = app_products.sku
    group by app_products.product_id
    having not bool_or(products.disposition = 'migrated')
),

final as (
    select
        '{{ invocation_id }}'::text as batch_id,
        delete_order,
        app_table,
        app_key,
        disposition,
        quarantine_rule,
        now() as deleted_at
    from departing
)

select * from final
