{{
    config(
        unique_key='sku',
        incremental_strategy='sync_replace',
        indexes=[
            {'columns': ['sku'], 'unique': true},
            {'columns': ['sku_key']},
            {'columns': ['batch_watermark']},
        ],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

products as not materialized (
    select * from {{ ref('stg_oms__products') }}
),

{% if is_incremental() %}
    -- SKU twins share a normalised SKU: recompute every twin of a product written since the last batch.
    in_scope as (
        select products.sku_key
        from products
        where {{ in_sync_batch('products.synced_at') }}
    ),
{% endif %}

resolved as (
    select
        products.*,
        case
            when products.is_deleted then null
            when products.sku_key is null then 'product_sku_blank'
            when products.price_cents < 0 then 'product_price_negative'
        end as quarantine_rule
    from products
    {% if is_incremental() %}
        where products.sku_key in (select in_scope.sku_key from in_scope)
    {% endif %}
),

ranked as (
    -- Among live, valid twins the one written in normal form supplies the attributes; failing
    -- that, the most recently updated one, then the lowest raw SKU (deterministic).
    select
        *,
        row_number() over (
            partition by sku_key
            order by
                (not is_deleted and quarantine_rule is null) desc,
                (sku = sku_key) desc,
                updated_at desc nulls last,
                sku asc
        ) as twin_rank
    from resolved
),

current_rows as (
    select
        sku,
        sku_key,
        case
            when is_deleted then 'deleted'
            when quarantine_rule is not null then 'quarantined'
            when twin_rank = 1 then 'migrated'
            else 'merged'
        end as disposition,
        quarantine_rule,
        case quarantine_rule
            when 'product_sku_blank' then 'SKU is blank after trimming'
            when 'product_price_negative' then 'price ' || price_raw || ' is negative'
        end as quarantine_reason,
        product_name,
        category_path_raw,
        category_path,
        price_raw,
        price_cents,
        active_raw,
        is_active,
        updated_at,
        synced_at,
        {{ sync_high_watermark() }} as batch_watermark
    from ranked
),

final as (
    select
        latest.*,
        {{ has_changed_fate(['disposition']) }} as has_changed_fate
    from current_rows as latest
    {% if is_incremental() %}
        left join {{ this }} as previous on latest.sku = previous.sku
    {% endif %}
)

select * from final
