{#
    Replaces: default__get_test_sql
    Original: dbt-adapters 1.24.5, dbt/include/global_project/macros/materializations/tests/helpers.sql
    Original sha256: 3fc783e5e0fa4a3e1c7c0f53fcd583c562b75426ebd7c1d927ada4081934aa9e
    Why: data tests have no hooks, so this gives them the models' planner settings (macro
    planner_settings); with the defaults a sync build's test of a batch's few thousand rows would
    scan whole tables.
#}
{% macro postgres__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) -%}
    {{ migrate_kit.planner_settings() }};
    {{ dbt.default__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) }}
{%- endmacro %}
