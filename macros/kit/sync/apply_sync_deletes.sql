{#
    Why: rows leave app child tables first (payment, order_line, customer_merge, then sales_order,
    customer, product), because every foreign key is enforced and a parent can only go once nothing
    points at it any more; by the end of the run the children have been re-pointed (orders of a
    merged customer) or are leaving themselves. Post-hook of sync_app_deletes, which lists the rows;
    the same transaction then completes the batch in sync_batches, so the watermark only advances
    when everything of the batch is applied.
#}
{% macro apply_sync_deletes() -%}
    {%- set this_batch = "select app_key from " ~ this ~ " where batch_id = '" ~ invocation_id ~ "' and app_table = " -%}
    delete from {{ ref('payment') }}
    where payment_id in (select app_key::bigint from ({{ this_batch }}'payment') as keys);
    delete from {{ ref('order_line') }}
    where (order_id, line_no) in (
        select split_part(app_key, '|', 1)::bigint, split_part(app_key, '|', 2)::integer
        from {{ this }}
        where batch_id = '{{ invocation_id }}' and app_table = 'order_line'
    );
    delete from {{ ref('customer_merge') }}
    where legacy_cust_id in (select app_key::integer from ({{ this_batch }}'customer_merge') as keys);
    delete from {{ ref('sales_order') }}
    where order_id in (select app_key::bigint from ({{ this_batch }}'sales_order') as keys);
    delete from {{ ref('customer') }}
    where customer_id in (select app_key::bigint from ({{ this_batch }}'customer') as keys);
    delete from {{ ref('product') }}
    where product_id in (select app_key::bigint from ({{ this_batch }}'product') as keys);
    update {{ ref('sync_batches') }}
    set completed_at = now()
    where batch_id = '{{ invocation_id }}'
{%- endmacro %}
