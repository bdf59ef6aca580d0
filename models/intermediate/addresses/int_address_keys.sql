{{
    config(
        unique_key='address_hash',
        incremental_strategy='append',
        full_refresh=false,
        indexes=[
            {'columns': ['address_hash'], 'unique': true},
            {'columns': ['address_id'], 'unique': true},
            {'columns': ['batch_watermark']},
        ],
    )
}}

-- The address key map: one address_id per distinct normalised address, assigned once and never
-- reassigned or removed (full_refresh=false: it survives `dbt build --full-refresh`, so rebuilt
-- app tables get the same ids). Only addresses of migrated customers and orders get an id.

-- depends_on: {{ ref('sync_batches') }}

with

customers as not materialized (
    select * from {{ ref('int_customers_deduplicated') }}
),

orders as not materialized (
    select * from {{ ref('int_orders_validated') }}
),

candidates as (
    select
        billing_address_hash as address_hash,
        line1,
        line2,
        city,
        region,
        postal_code,
        country_code
    from customers
    where
        disposition = 'migrated'
        and billing_address_hash is not null
        and batch_watermark > {{ sync_low_watermark() }}
    union
    select
        ship_address_hash as address_hash,
        ship_line1 as line1,
        ship_line2 as line2,
        ship_city as city,
        ship_region as region,
        ship_postal_code as postal_code,
        ship_country_code as country_code
    from orders
    where
        disposition = 'migrated'
        and ship_address_hash is not null
        and batch_watermark > {{ sync_low_watermark() }}
),

new_addresses as (
    select distinct on (candidates.address_hash) candidates.*
    from candidates
    {% if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as known
            where known.address_hash = candidates.address_hash
        )
    {% endif %}
    order by candidates.address_hash
),

final as (
    select
        {% if is_incremental() %}
            (select coalesce(max(known.address_id), 0) from {{ this }} as known)
        {% else %}
            0
        {% endif %}
        + row_number() over (
            order by
                new_addresses.country_code, new_addresses.postal_code, new_addresses.line1,
                new_addresses.line2, new_addresses.city, new_addresses.region, new_addresses.address_hash
        ) as address_id,
        new_addresses.address_hash,
        new_addresses.line1,
        new_addresses.line2,
        new_addresses.city,
        new_addresses.region,
        new_addresses.postal_code,
        new_addresses.country_code,
        {{ sync_high_watermark() }} as batch_watermark
    from new_addresses
)

select * from final
