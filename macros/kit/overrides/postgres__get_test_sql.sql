{#
    Why: data tests have no hooks, so this gives them the models' planner settings (macro
    planner_settings); with the defaults a sync build's test of a batch's few thousand rows would
    scan whole tables. Overrides dbt's macro of the same name for PostgreSQL.
#}
{% macro postgres__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) -%}
    {{ planner_settings() }};
    {{ dbt.default__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) }}
{%- endmacro %}
