{#
    Replaces: default__get_where_subquery
    Original: dbt-adapters 1.24.5, dbt/include/global_project/macros/materializations/tests/where_subquery.sql
    Original sha256: e0e1dcabd25ce74ced06c2766bac3ac57766b31e11a96fc251cac17569ba7eb8
    Why: a generic data test on an intermediate model opts into the batch with
    `config: {where: __recomputed_in_this_batch__}`: in a sync build it then reads only the rows the
    batch recomputed (batch_watermark above the low watermark), in every other build all rows (see
    reconcile_only_this_batch). dbt renders a test's `where` before any model runs, so the
    watermark is put in here, when the test runs.
#}
{% macro postgres__get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if not where -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- if '__recomputed_in_this_batch__' in where -%}
        {%- set batch = 'batch_watermark > ' ~ migrate_kit.sync_low_watermark() if migrate_kit.reconcile_only_this_batch() else 'true' -%}
        {%- set where = where | replace('__recomputed_in_this_batch__', batch) -%}
    {%- endif -%}
    {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') as dbt_subquery') }}
{%- endmacro %}
