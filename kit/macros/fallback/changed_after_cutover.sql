{#
    Why: a fallback writes a legacy column only when the new application changed what feeds it, so
    every column it did not touch keeps its legacy text exactly (and a masked column, such as the
    full card number that never left the source, is never overwritten by its mask).
    Expects the aliases `changes` (from app_changes) and `current_row` (the app row now).
    A before image holds each column's text under the capture's fixed settings
    (harness.capture.IMAGE_SETTINGS): compared with the current value's text, exactly, in a session
    under the same settings, as the harness reads these models. An image of an earlier capture
    version (JSON, image_format null) is compared as it always was.
#}
{% macro changed_after_cutover(column) -%}
    (changes.is_born or case
        when changes.before_image_format = 'text'
            then changes.before_image ->> '{{ column }}' is distinct from current_row.{{ column }}::text
        else changes.before_image -> '{{ column }}' is distinct from to_jsonb(current_row.{{ column }})
    end)
{%- endmacro %}
