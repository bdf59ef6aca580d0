{{
    config(
        unique_key='category_id',
        post_hook=[
            "{{ add_self_foreign_key('parent_id', 'category_id', 'category_parent_id_fkey') }}",
            "{{ advance_identity('category_id') }}",
        ],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

category_keys as not materialized (
    select * from {{ ref('int_category_keys') }}
),

final as (
    select
        categories.category_id,
        parents.category_id as parent_id,
        categories.name,
        categories.path
    from category_keys as categories
    left join category_keys as parents on categories.parent_path = parents.path
    {% if is_incremental() %}
        where categories.batch_watermark > {{ sync_low_watermark() }}
    {% endif %}
)

select * from final
