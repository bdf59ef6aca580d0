{{
    config(
        incremental_strategy='append',
        pre_hook=["{{ delete_recomputed_source_rows() }}"],
        post_hook=["{{ analyze_after_build() }}"],
        indexes=[
            {'columns': ['source_table', 'source_key'], 'unique': true},
            {'columns': ['rule']},
        ],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

-- One query per legacy table (macro quarantined_rows_of, var source_tables in dbt_project.yml).

with

rejected as (
    {{ quarantined_rows_of('CUSTOMER') }}
    union all
    {{ quarantined_rows_of('PRODUCT') }}
    union all
    {{ quarantined_rows_of('ORDER_HDR') }}
    union all
    {{ quarantined_rows_of('ORDER_LINE') }}
    union all
    {{ quarantined_rows_of('PAYMENT') }}
),

final as (
    select
        source_table,
        source_key,
        rule,
        reason,
        source_row,
        source_synced_at
    from rejected
)

select * from final
