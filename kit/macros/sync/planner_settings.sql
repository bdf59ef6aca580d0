{#
    Why: the models' planner settings (their sql_header in dbt_project.yml, which cannot call a
    macro: keep the two alike) for SQL that runs outside a model's main statement: data tests and
    the pre-hooks that query before it. `set local`: the transaction only.
#}
{% macro planner_settings() -%}
    {{ return(adapter.dispatch('planner_settings', 'migrate_kit')()) }}
{%- endmacro %}

{% macro postgres__planner_settings() -%}
    set local jit = off; set local random_page_cost = 1.1
{%- endmacro %}
