{#
    Why: a full card number must never reach app, quarantine or findings (a 2009-2011 leak put
    full numbers into CARD_NO). Only the last four digits survive, whatever separators the value
    had. Fewer than four digits is not a usable card reference: NULL.
    Applied in staging even though the loader already masks landing, so an unmasked landing table
    could still not leak.
#}
{% macro card_last4(expression) -%}
    {{ bind("regexp_replace(" ~ expression ~ ", '\\D', '', 'g')", 'digits', "case when length(digits) >= 4 then right(digits, 4) end") }}
{%- endmacro %}
