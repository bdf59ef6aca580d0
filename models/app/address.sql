{{
    config(
        unique_key='address_id',
        post_hook=["{{ advance_identity('address_id') }}"],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

address_keys as not materialized (
    select * from {{ ref('int_address_keys') }}
),

final as (
    select
        address_id,
        line1,
        line2,
        city,
        region,
        postal_code,
        country_code::char(2) as country_code
    from address_keys
    {% if is_incremental() %}
        where batch_watermark > {{ sync_low_watermark() }}
    {% endif %}
)

select * from final
