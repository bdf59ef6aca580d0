{#
    Why: apply_sync_deletes matches an app row by its key given as text, so it needs the key's
    columns and their types: the model's unique_key, typed by its contract (data_type of each
    column in the model's YAML). Read from the project's graph when the hook runs; while dbt only
    parses, no row is deleted and the columns are not needed.
#}
{% macro app_key_columns(app_model) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set nodes = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', app_model) | list -%}
    {%- set unique_key = nodes[0].config.unique_key if nodes else none -%}
    {%- if not unique_key -%}
        {{ exceptions.raise_compiler_error("sync deletes: model " ~ app_model ~ " has no unique_key") }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for name in ([unique_key] if unique_key is string else unique_key) -%}
        {%- set data_type = nodes[0].columns.get(name, {}).get('data_type') -%}
        {%- if not data_type -%}
            {{ exceptions.raise_compiler_error("sync deletes: column " ~ name ~ " of " ~ app_model ~ " has no data_type in its YAML") }}
        {%- endif -%}
        {%- do columns.append({'name': name, 'data_type': data_type}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}
