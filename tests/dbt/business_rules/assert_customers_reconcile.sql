-- Business rule 3: legacy customers = customers in the target + merged duplicates + quarantined
-- customers, counted directly from landing and from each place a customer can end up. A sync
-- build counts only the customers its batch recomputed (macro reconcile_only_this_batch): no
-- other customer can have moved.

-- depends_on: {{ ref('sync_app_deletes') }}
-- depends_on: {{ ref('sync_batches') }}
-- depends_on: {{ ref('int_customers_deduplicated') }}

{%- set only_this_batch = reconcile_only_this_batch() %}


with

{% if only_this_batch %}
    recomputed as (
        select cust_id
        from {{ ref('int_customers_deduplicated') }}
        where batch_watermark > {{ sync_low_watermark() }}
    ),
{% endif %}

legacy as (
    select count(*) as customers
    from {{ source('oms', 'CUSTOMER') }}
    where
        not _migrate_deleted
        and {{ recomputed_only('"CUST_ID"', 'recomputed.cust_id') }}
),

migrated as (
    select count(*) as customers
    from {{ ref('customer') }}
    where
        legacy_cust_id is not null
        and {{ recomputed_only('legacy_cust_id', 'recomputed.cust_id') }}
),

merged as (
    select count(*) as customers
    from {{ ref('customer_merge') }}
    where {{ recomputed_only('legacy_cust_id', 'recomputed.cust_id') }}
),

quarantined as (
    select count(*) as customers
    from {{ ref('quarantined_rows') }}
    where
        source_table = 'CUSTOMER'
        and {{ recomputed_only('source_key', 'recomputed.cust_id::text') }}
)

select
    legacy.customers as legacy_customers,
    migrated.customers as migrated_customers,
    merged.customers as merged_customers,
    quarantined.customers as quarantined_customers
from legacy
cross join migrated
cross join merged
cross join quarantined
where legacy.customers <> migrated.customers + merged.customers + quarantined.customers
