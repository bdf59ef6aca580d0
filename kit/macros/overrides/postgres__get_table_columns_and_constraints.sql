{#
    Replaces: default__get_table_columns_and_constraints
    Original: dbt-adapters 1.24.5, dbt/include/global_project/macros/relations/column/columns_spec_ddl.sql
    Original sha256: 6051867a1fab3ee1a4452127987e4c0a9686c62377f18c857e00c172d6bc45f3
    Why: the app tables are built with every constraint of their contract, but a foreign key
    declared in CREATE TABLE is checked row by row while the table is filled, each check locking
    the parent row (two tables filled at once share parent rows, which costs more still). So the
    table is created with its columns and all other constraints, and the foreign keys are added
    once it is filled (macro add_foreign_keys, post-hook of the app models): one validating query
    each, same constraints in the end.
#}
{% macro postgres__get_table_columns_and_constraints() -%}
    {%- set columns = {} -%}
    {%- for name, column in model['columns'].items() -%}
        {%- set without_foreign_keys = column.copy() -%}
        {%- do without_foreign_keys.update({
            'constraints': column['constraints'] | rejectattr('type', 'equalto', 'foreign_key') | list
        }) -%}
        {%- do columns.update({name: without_foreign_keys}) -%}
    {%- endfor -%}
    {%- set model_constraints = model['constraints'] | rejectattr('type', 'equalto', 'foreign_key') | list -%}
    {%- set rendered_columns = adapter.render_raw_columns_constraints(raw_columns=columns) -%}
    {%- set rendered_constraints = adapter.render_raw_model_constraints(raw_constraints=model_constraints) -%}
    (
    {% for rendered in rendered_columns + rendered_constraints -%}
        {{ rendered }}{{ "," if not loop.last }}
    {% endfor -%}
    )
{%- endmacro %}
