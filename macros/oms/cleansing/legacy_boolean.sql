{#
    Why: legacy flags are text in many spellings (`Y`, `n`, `1`, `0`, `YES`, `true`). Known
    spellings become booleans; anything else is NULL so the caller can decide and record it.
#}
{% macro legacy_boolean(expression) -%}
    case
        when upper(btrim({{ expression }})) in ('Y', 'YES', '1', 'T', 'TRUE') then true
        when upper(btrim({{ expression }})) in ('N', 'NO', '0', 'F', 'FALSE') then false
    end
{%- endmacro %}
