{#
    Why: every incremental run asks each landing table for the rows written since the last batch
    (`_migrate_synced_at > watermark`) and for the newest write (the batch's high watermark). With
    an index both are index scans instead of full scans of the largest tables. Landing belongs to
    the loader, so this only adds an index, idempotently, to each landing table that exists (every
    source in the landing schema, MIGRATE_LANDING_SCHEMA: see harness/dbt_contract.py); it runs
    from on-run-start and is a no-op once they are there. It looks the index up first, since
    CREATE INDEX IF NOT EXISTS locks the table even when the index exists: while `sync --follow`
    applies batches during a run, those share locks taken table after table deadlock with them.
#}
{% macro create_landing_sync_indexes() -%}
    {{ return(adapter.dispatch('create_landing_sync_indexes', 'migrate_kit')()) }}
{%- endmacro %}

{% macro postgres__create_landing_sync_indexes() %}
    {%- if execute -%}
        {%- set landing_schema = env_var('MIGRATE_LANDING_SCHEMA', 'landing') -%}
        {%- set statements = [] -%}
        {%- for node in graph.sources.values() if node.schema == landing_schema -%}
            {%- set relation = source(node.source_name, node.name) -%}
            {%- set index_name = migrate_kit.fitting_name(node.identifier | lower ~ '__migrate_synced_at') -%}
            {%- set index = adapter.quote(relation.schema) ~ '.' ~ adapter.quote(index_name) -%}
            {%- do statements.append(
                "do $$ begin if to_regclass('" ~ relation ~ "') is not null and to_regclass('" ~ index ~ "') is null then "
                ~ "create index if not exists \"" ~ index_name ~ "\" on " ~ relation ~ " (\"_migrate_synced_at\"); "
                ~ "end if; end $$"
            ) -%}
        {%- endfor -%}
        {{ statements | join(';\n') }}
    {%- endif -%}
{% endmacro %}
