{{
    config(
        incremental_strategy='append',
        pre_hook=["{{ delete_recomputed_source_rows(with_order_totals=false) }}"],
        post_hook=["{{ analyze_after_build() }}"],
        indexes=[
            {'columns': ['source_table', 'source_key'], 'unique': true},
            {'columns': ['rule']},
        ],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

customers as not materialized (
    select * from {{ ref('int_customers_deduplicated') }}
),

products as not materialized (
    select * from {{ ref('int_products_deduplicated') }}
),

orders as not materialized (
    select * from {{ ref('int_orders_validated') }}
),

order_lines as not materialized (
    select * from {{ ref('int_order_lines_validated') }}
),

payments as not materialized (
    select * from {{ ref('int_payments_validated') }}
),

stg_customers as not materialized (
    select * from {{ ref('stg_oms__customers') }}
),

stg_products as not materialized (
    select * from {{ ref('stg_oms__products') }}
),

stg_orders as not materialized (
    select * from {{ ref('stg_oms__orders') }}
),

stg_order_lines as not materialized (
    select * from {{ ref('stg_oms__order_lines') }}
),

stg_payments as not materialized (
    select * from {{ ref('stg_oms__payments') }}
),

rejected as (
    select
        'CUSTOMER' as source_table,
        customers.cust_id::text as source_key,
        customers.quarantine_rule as rule,
        customers.quarantine_reason as reason,
        stg_customers.source_row,
        stg_customers.synced_at as source_synced_at
    from customers
    inner join stg_customers on customers.cust_id = stg_customers.cust_id
    where
        customers.disposition = 'quarantined'
        and {{ recomputed_in_this_batch('customers.batch_watermark') }}

    union all

    select
        'PRODUCT' as source_table,
        products.sku as source_key,
        products.quarantine_rule as rule,
        products.quarantine_reason as reason,
        stg_products.source_row,
        stg_products.synced_at as source_synced_at
    from products
    inner join stg_products on products.sku = stg_products.sku
    where
        products.disposition = 'quarantined'
        and {{ recomputed_in_this_batch('products.batch_watermark') }}

    union all

    select
        'ORDER_HDR' as source_table,
        orders.order_no::text as source_key,
        orders.quarantine_rule as rule,
        orders.quarantine_reason as reason,
        stg_orders.source_row,
        stg_orders.synced_at as source_synced_at
    from orders
    inner join stg_orders on orders.order_no = stg_orders.order_no
    where
        orders.disposition = 'quarantined'
        and {{ recomputed_in_this_batch('orders.batch_watermark') }}

    union all

    select
        'ORDER_LINE' as source_table,
        order_lines.order_no || '|' || order_lines.line_no as source_key,
        order_lines.quarantine_rule as rule,
        order_lines.quarantine_reason as reason,
        stg_order_lines.source_row,
        stg_order_lines.synced_at as source_synced_at
    from order_lines
    inner join stg_order_lines
        on order_lines.order_no = stg_order_lines.order_no and order_lines.line_no = stg_order_lines.line_no
    where
        order_lines.disposition = 'quarantined'
        and {{ recomputed_in_this_batch('order_lines.batch_watermark') }}

    union all

    select
        'PAYMENT' as source_table,
        payments.pay_id::text as source_key,
        payments.quarantine_rule as rule,
        payments.quarantine_reason as reason,
        stg_payments.source_row,
        stg_payments.synced_at as source_synced_at
    from payments
    inner join stg_payments on payments.pay_id = stg_payments.pay_id
    where
        payments.disposition = 'quarantined'
        and {{ recomputed_in_this_batch('payments.batch_watermark') }}
),

final as (
    select
        source_table,
        source_key,
        rule,
        reason,
        source_row,
        source_synced_at
    from rejected
)

select * from final
