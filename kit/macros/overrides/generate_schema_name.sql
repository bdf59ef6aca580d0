{#
    Replaces: default__generate_schema_name
    Original: dbt-adapters 1.24.5, dbt/include/global_project/macros/get_custom_name/get_custom_schema.sql
    Original sha256: 5b2ca8f0c645e456d266ee7251ef8e3748eba2555015d6f5334bbd3ec2cf4a79
    Why: the target schema must be exactly `app` (the new application owns it by name), and the
    other layers get plain, predictable schemas (`staging`, `intermediate`, `quarantine`, ...).
    dbt's default would prefix them with the target schema (`app_staging`), so a custom schema
    is used as given; models without one land in the target's schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
