{{
    config(
        unique_key='order_no',
        incremental_strategy='sync_replace',
        indexes=[
            {'columns': ['order_no'], 'unique': true},
            {'columns': ['batch_watermark']},
        ],
    )
}}

-- An order's total is the sum of its migrated lines (business rule 4). The legacy ORDER_TOTAL is
-- only compared: when it is blank, unparseable, or off by more than one cent, the order keeps the
-- line sum, stores the legacy text and gets a finding.

-- depends_on: {{ ref('sync_batches') }}

with

orders as not materialized (
    select * from {{ ref('int_orders_validated') }}
),

lines as not materialized (
    select * from {{ ref('int_order_lines_validated') }}
),

{% if is_incremental() %}
    in_scope as (
        select orders.order_no
        from orders
        where orders.batch_watermark > {{ sync_low_watermark() }}
        union
        select lines.order_no
        from lines
        where lines.batch_watermark > {{ sync_low_watermark() }}
    ),
{% endif %}

line_sums as (
    select
        lines.order_no,
        sum(lines.line_total_cents) as total_cents,
        count(*) as migrated_lines
    from lines
    where
        lines.disposition = 'migrated'
        and {{ incremental_predicate('lines.order_no in (select in_scope.order_no from in_scope)') }}
    group by lines.order_no
),

final as (
    select
        orders.order_no,
        coalesce(line_sums.total_cents, 0)::bigint as total_cents,
        coalesce(line_sums.migrated_lines, 0) as migrated_lines,
        orders.legacy_total_cents,
        orders.legacy_total_cents is null
        or abs(orders.legacy_total_cents - coalesce(line_sums.total_cents, 0)) > 1 as has_total_mismatch,
        {{ sync_high_watermark() }} as batch_watermark
    from orders
    left join line_sums on orders.order_no = line_sums.order_no
    {% if is_incremental() %}
        where orders.order_no in (select in_scope.order_no from in_scope)
    {% endif %}
)

select * from final
