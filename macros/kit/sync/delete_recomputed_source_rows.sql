{#
    Why: pre-hook of the incremental quarantine and findings models: before this batch's rows are
    appended, remove every row of a legacy row recomputed in this batch (it may have been fixed,
    deleted at the source, or be rejected for another reason now). Same transaction as the append.
    with_order_totals: see recomputed_source_keys.
#}
{% macro delete_recomputed_source_rows(with_order_totals=true) -%}
    {%- if is_incremental() -%}
        {{ planner_settings() }};
        delete from {{ this }} as existing
        using ({{ recomputed_source_keys(with_order_totals) }}) as recomputed
        where
            existing.source_table = recomputed.source_table
            and existing.source_key = recomputed.source_key
    {%- endif -%}
{%- endmacro %}
