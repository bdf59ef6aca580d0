{#
    Why: every reverse model tells the fallback what to do with each legacy row the same way: D when
    the app row is gone, I when it was born in the new system, else U (_fallback_op, see
    harness/dbt_contract.py). Expects the alias `changes` (from app_changes).
    current_key: a key column of the app row now (NULL when the row is gone).
#}
{% macro fallback_op(current_key) -%}
    case
        when {{ current_key }} is null then 'D'
        when changes.is_born then 'I'
        else 'U'
    end
{%- endmacro %}
