{#
    Every legacy row that is not tombstoned ends migrated, merged or quarantined, exactly once:
    the landing rows of this source table (counted here, not taken from the view) equal
    migrated + merged + quarantined as quarantine.dispositions counts them. Returns a row when
    they differ or when the table is missing from dispositions. It counts whole tables, so the sync
    build leaves it out (tag full_build_only) and checks each batch row by row (lands_as_decided).
#}
{% test dispositions_balance(model) %}

{{ config(tags=['full_build_only']) }}

with

landing_rows as (
    select count(*) as source_rows
    from {{ model }}
    where not _migrate_deleted
),

accounted as (
    select
        migrated,
        merged,
        quarantined
    from {{ ref('dispositions') }}
    where source_table = '{{ model.identifier }}'
)

select
    '{{ model.identifier }}' as source_table,
    landing_rows.source_rows,
    accounted.migrated,
    accounted.merged,
    accounted.quarantined
from landing_rows
left join accounted on true
where
    accounted.migrated is null
    or landing_rows.source_rows <> accounted.migrated + accounted.merged + accounted.quarantined

{% endtest %}
