{#
    Why: pre-hook of the incremental quarantine and findings models: before this batch's rows are
    appended, remove every row of a legacy row recomputed in this batch (it may have been fixed,
    deleted at the source, or be rejected for another reason now). Same transaction as the append.
    `also_recomputed`: a query of more (source_table, source_key) the model recomputes, beyond the rows of
    recomputed_source_keys (e.g. parents whose totals are recomputed with their children).
#}
{% macro delete_recomputed_source_rows(also_recomputed=none) -%}
    {%- if is_incremental() -%}
        {{ migrate_kit.planner_settings() }};
        delete from {{ this }} as existing
        using (
            {{ migrate_kit.recomputed_source_keys() }}
            {%- if also_recomputed %}
            union all
            {{ also_recomputed }}
            {%- endif %}
        ) as recomputed
        where
            existing.source_table = recomputed.source_table
            and existing.source_key = recomputed.source_key
    {%- endif -%}
{%- endmacro %}
