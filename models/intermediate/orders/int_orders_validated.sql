{{
    config(
        unique_key='order_no',
        incremental_strategy='sync_replace',
        indexes=[
            {'columns': ['order_no'], 'unique': true},
            {'columns': ['cust_id']},
            {'columns': ['customer_id']},
            {'columns': ['batch_watermark']},
        ],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

orders as not materialized (
    select * from {{ ref('stg_oms__orders') }}
),

customers as not materialized (
    select * from {{ ref('int_customers_deduplicated') }}
),

statuses as not materialized (
    select * from {{ ref('order_statuses') }}
),

currencies as not materialized (
    select * from {{ ref('currencies') }}
),

{% if is_incremental() %}
    -- Orders written since the last batch, plus the orders of every customer recomputed in this
    -- batch (merged, un-merged, quarantined, deleted or arrived: the order's fate follows).
    in_scope as (
        select orders.order_no
        from orders
        where {{ in_sync_batch('orders.synced_at') }}
        union
        select previous.order_no
        from {{ this }} as previous
        inner join customers on previous.cust_id = customers.cust_id
        where customers.batch_watermark > {{ sync_low_watermark() }} and customers.has_changed_fate
    ),
{% endif %}

resolved as (
    select
        orders.order_no,
        orders.cust_id,
        customers.disposition as customer_disposition,
        customers.customer_id,
        orders.ordered_at_local,
        orders.ordered_at,
        orders.is_in_dst_gap,
        orders.status_code,
        statuses.status,
        orders.ship_line1,
        orders.ship_line2,
        orders.ship_city,
        orders.ship_region,
        orders.ship_postal_code,
        orders.ship_country_code,
        orders.ship_country_raw,
        orders.has_ship_address,
        orders.currency_code,
        currencies.currency_code is not null as is_known_currency,
        orders.legacy_total_text,
        orders.legacy_total_cents,
        orders.notes,
        orders.synced_at,
        orders.is_deleted
    from orders
    left join customers on orders.cust_id = customers.cust_id
    left join statuses on orders.status_code = statuses.legacy_code
    left join currencies on orders.currency_code = currencies.currency_code
    {% if is_incremental() %}
        where orders.order_no in (select in_scope.order_no from in_scope)
    {% endif %}
),

decided as (
    select
        *,
        case
            when is_deleted then null
            when cust_id is null or customer_disposition is null or customer_disposition = 'deleted'
                then 'order_customer_missing'
            when customer_disposition = 'quarantined' then 'order_customer_quarantined'
            when status is null then 'order_status_unknown'
            when has_ship_address and ship_country_code is null then 'order_country_unmapped'
            when not is_known_currency then 'order_currency_unknown'
        end as quarantine_rule
    from resolved
),

{%- set ship_address = [
    'ship_line1', 'ship_line2', 'ship_city', 'ship_region', 'ship_postal_code', 'ship_country_code'
] %}

current_rows as (
    select
        order_no,
        case
            when is_deleted then 'deleted'
            when quarantine_rule is not null then 'quarantined'
            else 'migrated'
        end as disposition,
        quarantine_rule,
        case quarantine_rule
            when 'order_customer_missing'
                then
                    case
                        when cust_id is null then 'CUST_ID is NULL'
                        when
                            customer_disposition = 'deleted'
                            then 'customer ' || cust_id || ' was deleted at the source'
                        else 'customer ' || cust_id || ' does not exist in CUSTOMER'
                    end
            when 'order_customer_quarantined' then 'customer ' || cust_id || ' is quarantined'
            when 'order_status_unknown'
                then 'status code ' || coalesce('''' || status_code || '''', 'NULL') || ' is not in seed order_statuses'
            when 'order_country_unmapped'
                then 'ship country ''' || ship_country_raw || ''' is not in seed country_codes'
            when 'order_currency_unknown' then 'currency ''' || currency_code || ''' is not in seed currencies'
        end as quarantine_reason,
        cust_id,
        case when quarantine_rule is null and not is_deleted then customer_id end as customer_id,
        ordered_at_local,
        ordered_at,
        is_in_dst_gap,
        status_code,
        status,
        case
            when has_ship_address
                then {{ address_hash(*ship_address) }}
        end as ship_address_hash,
        ship_line1,
        ship_line2,
        ship_city,
        ship_region,
        ship_postal_code,
        ship_country_code,
        currency_code,
        legacy_total_text,
        legacy_total_cents,
        notes,
        synced_at,
        {{ sync_high_watermark() }} as batch_watermark
    from decided
),

final as (
    select
        latest.*,
        {{ has_changed_fate(['disposition', 'currency_code']) }} as has_changed_fate,
        -- The customer the order counted for before this batch (model customer recomputes both
        -- when an order moves or goes); kept through a rerun of a batch that did not complete.
        {% if is_incremental() %}
            case
                when previous.batch_watermark > {{ sync_low_watermark() }} then previous.previous_customer_id
                else previous.customer_id
            end
        {% else %}
            null::bigint
        {% endif %} as previous_customer_id
    from current_rows as latest
    {% if is_incremental() %}
        left join {{ this }} as previous on latest.order_no = previous.order_no
    {% endif %}
)

select * from final
