{{ config(materialized='view', schema='fallback', tags=['fallback']) }}

-- The changes the new application made to `app` after cutover, from the reverse capture log
-- that cutover installs in the target's `_migrate` schema. Until cutover there is no log, and
-- this view is empty.

{%- set log = source('reverse_capture', 'changes') %}
{%- set log_exists = execute and adapter.get_relation(
    database=log.database, schema=log.schema, identifier=log.identifier
) is not none %}
{#- A log made by an earlier capture version has no image_format: its images are JSON. #}
{%- set log_columns = adapter.get_columns_in_relation(log) | map(attribute='name') | list if log_exists else [] %}
{%- set has_image_format = 'image_format' in log_columns %}

{% if log_exists %}
    select
        changes.change_id,
        changes.table_name,
        changes.op,
        changes.old_row,
        changes.new_row,
        changes.captured_at,
        {{ 'changes.image_format' if has_image_format else 'null::text as image_format' }}
    from {{ log }} as changes
    where changes.table_schema = 'app'
{% else %}
    select
        null::bigint as change_id,
        null::text as table_name,
        null::char(1) as op,
        null::jsonb as old_row,
        null::jsonb as new_row,
        null::timestamptz as captured_at,
        null::text as image_format
    where false
{% endif %}
