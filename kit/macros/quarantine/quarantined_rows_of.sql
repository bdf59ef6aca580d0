{#
    Why: every legacy table's rejected rows go to quarantine alike: the rows its decision model
    quarantined (recomputed in this batch, in an incremental run), with the rule, the reason, and
    the whole landing row from its staging model. One query per table (var source_tables), so that
    quarantined_rows is their union.
#}
{% macro quarantined_rows_of(source_table) -%}
    {%- set models = var('source_tables').get(source_table) -%}
    {%- if models is none -%}
        {{ exceptions.raise_compiler_error(source_table ~ " is not listed in var source_tables (dbt_project.yml)") }}
    {%- endif -%}
    select
        '{{ source_table }}' as source_table,
        {{ migrate_kit.source_key(models['key'], 'decided') }} as source_key,
        decided.quarantine_rule as rule,
        decided.quarantine_reason as reason,
        staged.source_row,
        staged.synced_at as source_synced_at
    from {{ ref(models['decisions']) }} as decided
    inner join {{ ref(models['staging']) }} as staged
        on {% for column in models['key'] %}decided.{{ column }} = staged.{{ column }}{{ " and " if not loop.last }}{% endfor %}
    where
        decided.disposition = 'quarantined'
        and {{ migrate_kit.recomputed_in_this_batch('decided.batch_watermark') }}
{%- endmacro %}
