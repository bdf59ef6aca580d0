{#
    Why: the legacy SKU key is case- and blank-sensitive, so `ab-100 ` and `AB-100` exist as two
    products that are one. The normalised SKU (trimmed, upper case) is the product's natural key.
#}
{% macro normalize_sku(expression) -%}
    nullif(upper(btrim({{ expression }})), '')
{%- endmacro %}
