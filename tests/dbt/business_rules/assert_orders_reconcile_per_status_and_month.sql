-- Business rule 2: the number of orders per status group per month is the same in legacy as in
-- the target plus quarantine. The status group is the target status (seed order_statuses; codes
-- it does not know form the group 'unknown'), month is the New York calendar month of ORDER_DT.
-- Legacy orders count +1, target and quarantined orders -1: returns every (status group, month)
-- whose balance is not zero. A sync build compares only the orders its batch recomputed (macro
-- reconcile_only_this_batch): no other order can have moved.

-- depends_on: {{ ref('sync_app_deletes') }}
-- depends_on: {{ ref('sync_batches') }}
-- depends_on: {{ ref('int_orders_validated') }}

{%- set only_this_batch = reconcile_only_this_batch() %}


with

{% if only_this_batch %}
    recomputed as (
        select order_no
        from {{ ref('int_orders_validated') }}
        where batch_watermark > {{ sync_low_watermark() }}
    ),
{% endif %}

statuses as (
    select * from {{ ref('order_statuses') }}
),

legacy_orders as (
    select * from {{ source('oms', 'ORDER_HDR') }}
    where
        not _migrate_deleted
        and {{ recomputed_only('"ORDER_NO"', 'recomputed.order_no') }}
),

migrated_orders as (
    select * from {{ ref('sales_order') }}
    where
        legacy_order_no is not null
        and {{ recomputed_only('legacy_order_no', 'recomputed.order_no') }}
),

quarantined_orders as (
    select * from {{ ref('quarantined_rows') }}
    where
        source_table = 'ORDER_HDR'
        and {{ recomputed_only('source_key', 'recomputed.order_no::text') }}
),

legacy as (
    select
        coalesce(statuses.status, 'unknown') as status_group,
        date_trunc('month', legacy_orders."ORDER_DT") as ordered_month,
        1 as orders
    from legacy_orders
    left join statuses on upper(btrim(legacy_orders."STATUS_CD")) = statuses.legacy_code
),

migrated as (
    select
        status as status_group,
        date_trunc('month', ordered_at at time zone '{{ var("legacy_time_zone") }}') as ordered_month,
        -1 as orders
    from migrated_orders
),

quarantined as (
    select
        coalesce(statuses.status, 'unknown') as status_group,
        date_trunc('month', (quarantined_orders.source_row ->> 'ORDER_DT')::timestamp) as ordered_month,
        -1 as orders
    from quarantined_orders
    left join statuses on upper(btrim(quarantined_orders.source_row ->> 'STATUS_CD')) = statuses.legacy_code
),

movements as (
    select * from legacy
    union all
    select * from migrated
    union all
    select * from quarantined
)

select
    status_group,
    ordered_month,
    sum(orders) as difference
from movements
group by status_group, ordered_month
having sum(orders) <> 0
