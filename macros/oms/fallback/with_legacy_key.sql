{#
    Why: a reverse model writes the legacy number of the rows it refers to (an order's customer, a
    line's or a payment's order): the migrated number, or the one legacy_keys allocated to a row
    born in the new system. The app rows of `entity` (an app model, as legacy_keys names it) with
    that number as `legacy_column`, after their key and `columns`.
#}
{% macro with_legacy_key(entity, key_column, legacy_column, columns=[]) -%}
    select
        {{ entity }}.{{ key_column }},
        {%- for column in columns %}
        {{ entity }}.{{ column }},
        {%- endfor %}
        coalesce({{ entity }}.{{ legacy_column }}, legacy_keys.legacy_key) as {{ legacy_column }}
    from {{ ref(entity) }} as {{ entity }}
    left join {{ ref('legacy_keys') }} as legacy_keys
        on legacy_keys.entity = '{{ entity }}' and {{ entity }}.{{ key_column }} = legacy_keys.app_id
{%- endmacro %}
