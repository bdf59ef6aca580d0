{#
    Why: a CARD_NO with 12 or more digits is a full card number (PCI scope). It is never copied,
    but its presence is a finding so the leak is on record. With the loader's masking this is
    normally false in landing; the check stays so an unmasked copy is noticed.
#}
{% macro is_full_card_number(expression) -%}
    (length(regexp_replace(coalesce({{ expression }}, ''), '\D', '', 'g')) >= 12)
{%- endmacro %}
