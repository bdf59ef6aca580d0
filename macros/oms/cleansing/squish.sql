{#
    Why: free-text legacy fields carry leading, trailing and doubled blanks, and '' where NULL was
    meant. Trims, collapses inner whitespace to one blank, and turns '' into NULL.
#}
{% macro squish(expression) -%}
    nullif(regexp_replace(btrim({{ expression }}), '\s+', ' ', 'g'), '')
{%- endmacro %}
