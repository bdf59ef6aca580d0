{#
    Why: the intermediate models recompute whole legacy rows (a row's new state replaces its old
    one, whatever changed), like dbt's delete+insert. dbt's version leaves the batch without planner
    statistics, so a batch of a few thousand rows is joined to a million-row table by a full scan;
    this one analyzes the batch's keys first (all the join needs), so small batches go by index.
    Used as `incremental_strategy='sync_replace'` with a `unique_key`.
#}
{% macro get_incremental_sync_replace_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_sync_replace_sql', 'migrate_kit')(arg_dict)) }}
{%- endmacro %}

{% macro postgres__get_incremental_sync_replace_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- if unique_key is none -%}
        {{ exceptions.raise_compiler_error("sync_replace needs a unique_key on " ~ target) }}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='name') | map('string') | list -%}
    analyze {{ source }} ({% for key in keys %}{{ adapter.quote(key) }}{% if not loop.last %}, {% endif %}{% endfor %});
    delete from {{ target }} as target
    using {{ source }} as source
    where {% for key in keys %}target.{{ adapter.quote(key) }} = source.{{ adapter.quote(key) }}{% if not loop.last %} and {% endif %}{% endfor %};
    insert into {{ target }} ({% for column in columns %}{{ adapter.quote(column) }}{% if not loop.last %}, {% endif %}{% endfor %})
    select {% for column in columns %}{{ adapter.quote(column) }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ source }}
{% endmacro %}
