{#- The rows to look at are materialized once (in an incremental run, the batch's few thousand),
    then every rule filters them: otherwise each rule would scan its whole table. -#}
{{
    config(
        incremental_strategy='append',
        pre_hook=["{{ delete_recomputed_source_rows(also_recomputed=recomputed_order_total_keys()) }}"],
        post_hook=["{{ analyze_after_build() }}"],
        indexes=[
            {'columns': ['source_table', 'source_key']},
            {'columns': ['rule']},
        ],
    )
}}

-- depends_on: {{ ref('sync_batches') }}
-- depends_on: {{ ref('int_order_lines_validated') }}

with

customers as materialized (
    select * from {{ ref('int_customers_deduplicated') }}
    where
        disposition = 'migrated'
        and {{ recomputed_in_this_batch() }}
),

products as materialized (
    select * from {{ ref('int_products_deduplicated') }}
    where
        disposition = 'migrated'
        and {{ recomputed_in_this_batch() }}
),

orders as materialized (
    select * from {{ ref('int_orders_validated') }}
    where
        disposition = 'migrated'
        -- with the orders whose lines were recomputed: their total was
        and {{ incremental_predicate('order_no in (' ~ orders_recomputed_in_this_batch() ~ ')') }}
),

order_totals as (
    {{ order_line_sums('lines.order_no in (select orders.order_no from orders)') }}
),

payments as materialized (
    select * from {{ ref('int_payments_validated') }}
    where
        disposition = 'migrated'
        and {{ recomputed_in_this_batch() }}
),

customer_findings as (
    select
        'customer_email_invalid' as rule,
        cust_id,
        'EMAIL_ADDR ''' || email_raw || ''' is not a valid address: email left NULL' as detail
    from customers
    where has_invalid_email
    union all
    select
        'customer_email_shared' as rule,
        cust_id,
        'e-mail ''' || email || ''' belongs to customer ' || email_owner_cust_id
        || ' too, whose name differs (not a duplicate): email left NULL, it must be unique' as detail
    from customers
    where has_shared_email
    union all
    select
        'customer_phone_unparseable' as rule,
        cust_id,
        'PHONE ''' || phone_raw || ''' is not a phone number of ' || country_code || ': phone_e164 left NULL' as detail
    from customers
    where phone_raw is not null and phone_e164 is null
    union all
    select
        'customer_phone_extension_dropped' as rule,
        cust_id,
        'extension ' || phone_extension || ' of PHONE ''' || phone_raw
        || ''' dropped: E.164 has no extensions' as detail
    from customers
    where phone_extension is not null and phone_e164 is not null
    union all
    select
        'customer_created_unknown' as rule,
        cust_id,
        'CREATED ' || coalesce('''' || created_raw || '''', 'NULL')
        || ' is not a date: created_at is the first order time, else the load time' as detail
    from customers
    where created_at is null
    union all
    select
        'customer_status_missing' as rule,
        cust_id,
        'STATUS is NULL: status left NULL' as detail
    from customers
    where status_code is null or status_code = ''
    union all
    select
        'customer_name_not_split' as rule,
        cust_id,
        'CUST_NM ''' || display_name || ''' has no unambiguous given/family split: display_name only' as detail
    from customers
    where given_name is null and not is_company
),

product_findings as (
    select
        'product_category_missing' as rule,
        sku,
        'CAT_PATH is blank: category_id left NULL' as detail
    from products
    where category_path is null
    union all
    select
        'product_active_unknown' as rule,
        sku,
        'ACTIVE ' || coalesce('''' || active_raw || '''', 'NULL')
        || ' is not a known flag: is_active left NULL' as detail
    from products
    where is_active is null
    union all
    select
        'product_price_missing' as rule,
        sku,
        'PRICE is NULL: price_cents left NULL' as detail
    from products
    where price_cents is null
),

order_findings as (
    select
        'order_time_in_dst_gap' as rule,
        order_no,
        'ORDER_DT ' || ordered_at_local || ' does not exist in {{ var("legacy_time_zone") }} (spring-forward gap): '
        || 'shifted forward one hour' as detail
    from orders
    where is_in_dst_gap
    union all
    select
        'order_total_mismatch' as rule,
        orders.order_no,
        case
            when orders.legacy_total_cents is null
                then 'ORDER_TOTAL ' || coalesce('''' || orders.legacy_total_text || '''', 'NULL') || ' is not an amount'
            else
                'ORDER_TOTAL ''' || orders.legacy_total_text || ''' (' || orders.legacy_total_cents
                || ' cents) differs from the sum of the lines (' || coalesce(order_totals.total_cents, 0) || ' cents)'
        end || ': total_cents is the line sum, the legacy text is kept in legacy_total_text' as detail
    from orders
    left join order_totals on orders.order_no = order_totals.order_no
    where {{ order_total_disagrees('orders.legacy_total_cents', 'coalesce(order_totals.total_cents, 0)') }}
    union all
    select
        'order_notes_oversize' as rule,
        order_no,
        'NOTES is ' || octet_length(notes) || ' bytes (over 64 KiB): kept whole' as detail
    from orders
    where octet_length(notes) > 65536
    union all
    select
        'order_notes_mojibake' as rule,
        order_no,
        'NOTES look double-encoded (UTF-8 read as Latin-1, like ''CafÃ©''): kept as written' as detail
    from orders
    where notes ~ '(Ã|Â)[\u0080-\u00BF]'
),

payment_findings as (
    select
        'payment_full_card_number' as rule,
        pay_id,
        'CARD_NO held a full card number: only the last four digits were kept' as detail
    from payments
    where has_full_card_number
    union all
    select
        'payment_card_on_non_card_method' as rule,
        pay_id,
        'CARD_NO present on method ' || method_code || ': not carried over' as detail
    from payments
    where has_card_on_non_card_method
    union all
    select
        'payment_time_in_dst_gap' as rule,
        pay_id,
        'PAID_AT ' || paid_at_local || ' does not exist in {{ var("legacy_time_zone") }} (spring-forward gap): '
        || 'shifted forward one hour' as detail
    from payments
    where is_in_dst_gap
),

final as (
    select
        rule,
        'CUSTOMER' as source_table,
        cust_id::text as source_key,
        detail
    from customer_findings
    union all
    select
        rule,
        'PRODUCT' as source_table,
        sku as source_key,
        detail
    from product_findings
    union all
    select
        rule,
        'ORDER_HDR' as source_table,
        order_no::text as source_key,
        detail
    from order_findings
    union all
    select
        rule,
        'PAYMENT' as source_table,
        pay_id::text as source_key,
        detail
    from payment_findings
)

select * from final
