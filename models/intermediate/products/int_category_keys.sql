{{
    config(
        unique_key='path',
        incremental_strategy='append',
        full_refresh=false,
        indexes=[
            {'columns': ['path'], 'unique': true},
            {'columns': ['category_id'], 'unique': true},
            {'columns': ['batch_watermark']},
        ],
    )
}}

-- The category key map: every prefix of every normalised CAT_PATH of a migrated product is a
-- category (`Home`, `Home > Kitchen`, `Home > Kitchen > Knives`). Ids are assigned once per path
-- and never reassigned (full_refresh=false); parents get their id before their children.

-- depends_on: {{ ref('sync_batches') }}

with

products as not materialized (
    select * from {{ ref('int_products_deduplicated') }}
),

paths as (
    select distinct products.category_path
    from products
    where
        products.disposition = 'migrated'
        and products.category_path is not null
        and products.batch_watermark > {{ sync_low_watermark() }}
),

prefixes as (
    select distinct
        array_to_string((string_to_array(paths.category_path, ' > '))[1:levels.depth], ' > ') as path,
        levels.depth
    from paths
    cross join lateral generate_series(1, cardinality(string_to_array(paths.category_path, ' > '))) as levels (depth)
),

new_paths as (
    select prefixes.*
    from prefixes
    {% if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as known
            where known.path = prefixes.path
        )
    {% endif %}
),

final as (
    select
        {% if is_incremental() %}
            (select coalesce(max(known.category_id), 0) from {{ this }} as known)
        {% else %}
            0
        {% endif %}
        + row_number() over (order by new_paths.depth, new_paths.path) as category_id,
        new_paths.path,
        nullif(array_to_string((string_to_array(new_paths.path, ' > '))[1:new_paths.depth - 1], ' > '), '')
            as parent_path,
        (string_to_array(new_paths.path, ' > '))[new_paths.depth] as name,
        new_paths.depth,
        {{ sync_high_watermark() }} as batch_watermark
    from new_paths
)

select * from final
