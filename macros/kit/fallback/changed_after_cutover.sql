{#
    Why: a fallback writes a legacy column only when the new application changed what feeds it, so
    every column it did not touch keeps its legacy text exactly (and a masked column, such as the
    full card number that never left the source, is never overwritten by its mask).
    Expects the aliases `changes` (from app_changes) and `current_row` (the app row now).
#}
{% macro changed_after_cutover(column) -%}
    (changes.is_born or changes.before_image -> '{{ column }}' is distinct from to_jsonb(current_row.{{ column }}))
{%- endmacro %}
