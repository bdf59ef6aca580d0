{#
    Why: a generic data test on an intermediate model opts into the batch with
    `config: {where: __recomputed_in_this_batch__}`: in a sync build it then reads only the rows the
    batch recomputed (batch_watermark above the low watermark), in every other build all rows (see
    reconcile_only_this_batch). dbt renders a test's `where` before any model runs, so the
    watermark is put in here, when the test runs. Overrides dbt's macro of the same name for PostgreSQL.
#}
{% macro postgres__get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if not where -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- if '__recomputed_in_this_batch__' in where -%}
        {%- set batch = 'batch_watermark > ' ~ sync_low_watermark() if reconcile_only_this_batch() else 'true' -%}
        {%- set where = where | replace('__recomputed_in_this_batch__', batch) -%}
    {%- endif -%}
    {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') as dbt_subquery') }}
{%- endmacro %}
