{#
    Why: the incremental queries choose between index lookups and full scans by planner statistics,
    and a table's statistics do not know the rows written a moment ago: after an incremental run
    they would say that no row has the new batch_watermark, and a query of the same run that joins
    on "rows recomputed in this batch" would be planned for one row and get thousands. So: after a
    full (re)build the whole table is analyzed; after an incremental run only `incremental_column`,
    if given, whose statistics target is lowered to 10 at the full build so that this takes a small
    fixed sample (3,000 rows; enough to see a batch of 1%). Post-hook of the intermediate models
    (with 'batch_watermark'), the app models and the quarantine tables (full builds only).
#}
{% macro analyze_after_build(incremental_column=none) -%}
    {{ return(adapter.dispatch('analyze_after_build', 'migrate_kit')(incremental_column)) }}
{%- endmacro %}

{% macro postgres__analyze_after_build(incremental_column) -%}
    {%- if not is_incremental() -%}
        {%- if incremental_column -%}
            alter table {{ this }} alter column {{ incremental_column }} set statistics 10;
        {%- endif %}
        analyze {{ this }}
    {%- elif incremental_column -%}
        analyze {{ this }} ({{ incremental_column }})
    {%- endif -%}
{%- endmacro %}
