{#
    Why: a fallback writes a legacy column only when the new application changed the app column
    that feeds it (changed_after_cutover), so every other legacy column keeps its legacy text.
    This is the list of those columns (_fallback_columns, see harness/dbt_contract.py).
    fed_by: each legacy column and the app column it is written from, in the legacy table's order;
    always: legacy columns written whenever the row is (e.g. its last-update time).
#}
{% macro fallback_columns(fed_by, always=[]) -%}
    array_remove(array[
        {%- for legacy_column, app_column in fed_by.items() %}
        case when {{ migrate_kit.changed_after_cutover(app_column) }} then '{{ legacy_column | replace("'", "''") }}' end{{ "," if not loop.last or always }}
        {%- endfor %}
        {%- for legacy_column in always %}
        '{{ legacy_column | replace("'", "''") }}'{{ "," if not loop.last }}
        {%- endfor %}
    ], null)
{%- endmacro %}
