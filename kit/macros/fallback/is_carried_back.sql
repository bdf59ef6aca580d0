{#
    Why: a row born in the new system and deleted there again never existed for the legacy system:
    a fallback has nothing to carry back for it. Every other changed row is carried back.
    Expects the alias `changes` (from app_changes); current_key as for fallback_op.
#}
{% macro is_carried_back(current_key) -%}
    not (changes.is_born and {{ current_key }} is null)
{%- endmacro %}
