-- Business rule 3: legacy customers = customers in the target + merged duplicates + quarantined
-- customers, counted directly from landing and from each place a customer can end up.

-- depends_on: {{ ref('sync_app_deletes') }}

with

legacy as (
    select count(*) as customers
    from {{ source('oms', 'CUSTOMER') }}
    where not _migrate_deleted
),

migrated as (
    select count(*) as customers
    from {{ ref('customer') }}
    where legacy_cust_id is not null
),

merged as (
    select count(*) as customers from {{ ref('customer_merge') }}
),

quarantined as (
    select count(*) as customers
    from {{ ref('quarantined_rows') }}
    where source_table = 'CUSTOMER'
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
