{#
    Why: quarantine and findings hold one row (or several) per legacy row, keyed by
    (source_table, source_key). An incremental run recomputes some legacy rows; their old
    quarantine and finding rows must go before the new ones are added, whether or not the row is
    still rejected. This is the list of (source_table, source_key) recomputed in this batch: the
    rows of each table's decision model (var source_tables) that carry this batch's watermark.
#}
{% macro recomputed_source_keys() -%}
    {%- for source_table, models in var('source_tables').items() %}
        select '{{ source_table }}' as source_table, {{ migrate_kit.source_key(models['key'], 'decided') }} as source_key
        from {{ ref(models['decisions']) }} as decided
        where decided.batch_watermark > {{ migrate_kit.sync_low_watermark() }}
        {{- "\n        union all" if not loop.last }}
    {%- endfor %}
{%- endmacro %}
