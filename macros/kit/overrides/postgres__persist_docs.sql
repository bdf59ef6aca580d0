{#
    Why: a sync build changes data, not documentation, so it does not write the comments of tables
    that exist already again (one statement per model and batch); every other build does. Overrides
    dbt's macro of the same name for PostgreSQL.
#}
{% macro postgres__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- if not (is_sync_build() and is_incremental()) -%}
        {% do dbt.default__persist_docs(relation, model, for_relation, for_columns) %}
    {%- endif -%}
{%- endmacro %}
