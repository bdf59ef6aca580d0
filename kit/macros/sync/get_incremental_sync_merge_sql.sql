{#
    Why: the app tables are the new application's tables, so a sync must change only what changed:
    a row is updated only when one of its values differs, and inserted when its key is new. dbt's own
    merge rewrites every matched row, which would churn the tables (and any capture on them) with
    no-op updates. Values differ when their text does (the two rows' text, NULLs compared too; a
    float's text is exact under PostgreSQL 12+'s default extra_float_digits): comparing the values
    needs an `=` that point, line, path, polygon, circle and xml lack, and calls -0 and 0, 1.10 and
    1.1, '1 mon' and '30 days' equal, so app would keep the old value where the source changed it to
    an equal-looking one. (Binary images, `*<>`, would refuse the model's text against app's varchar.) Deletes are not done here: a parent
    row can only go once its children are gone, so model sync_app_deletes applies them child-first at
    the end of the run. The batch's keys are analyzed first so that small batches are merged by index
    lookups.
    Used as `incremental_strategy='sync_merge'` with a `unique_key`.
#}
{% macro get_incremental_sync_merge_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_sync_merge_sql', 'migrate_kit')(arg_dict)) }}
{%- endmacro %}

{% macro postgres__get_incremental_sync_merge_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- if unique_key is none -%}
        {{ exceptions.raise_compiler_error("sync_merge needs a unique_key on " ~ target) }}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set values = columns | reject('in', keys) | list -%}
    {#- dbt's temp table has no statistics; without them a batch of a few rows is planned like a whole table. -#}
    analyze {{ source }} ({% for key in keys %}{{ adapter.quote(key) }}{% if not loop.last %}, {% endif %}{% endfor %});
    merge into {{ target }} as target
    using {{ source }} as source
        on {% for key in keys %}target.{{ adapter.quote(key) }} = source.{{ adapter.quote(key) }}{% if not loop.last %} and {% endif %}{% endfor %}
    {% if values %}
    when matched and row(
        {%- for column in values %}target.{{ adapter.quote(column) }}{% if not loop.last %}, {% endif %}{% endfor -%}
    )::text is distinct from row(
        {%- for column in values %}source.{{ adapter.quote(column) }}{% if not loop.last %}, {% endif %}{% endfor -%}
    )::text then update set
        {% for column in values %}{{ adapter.quote(column) }} = source.{{ adapter.quote(column) }}{% if not loop.last %}, {% endif %}{% endfor %}
    {% endif %}
    when not matched then insert (
        {%- for column in columns %}{{ adapter.quote(column) }}{% if not loop.last %}, {% endif %}{% endfor -%}
    ) values (
        {%- for column in columns %}source.{{ adapter.quote(column) }}{% if not loop.last %}, {% endif %}{% endfor -%}
    )
{% endmacro %}
