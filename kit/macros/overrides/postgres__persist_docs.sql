{#
    Replaces: default__persist_docs
    Original: dbt-adapters 1.24.5, dbt/include/global_project/macros/adapters/persist_docs.sql
    Original sha256: 974c6035d9c8115d615414d1db11a7084f43409e557d2b0f5c0a1a4ccc30c3a2
    Why: a sync build changes data, not documentation, so it does not write the comments of tables
    that exist already again (one statement per model and batch); every other build does.
#}
{% macro postgres__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- if not (migrate_kit.is_sync_build() and is_incremental()) -%}
        {% do dbt.default__persist_docs(relation, model, for_relation, for_columns) %}
    {%- endif -%}
{%- endmacro %}
