{#
    Why: quarantine and findings key a legacy row by (source_table, source_key), source_key being
    its key columns as text joined with '|' in key order (key (A, B): `A|B`). One
    spelling of that key for every model and hook that writes or matches it.
#}
{% macro source_key(key_columns, relation_alias) -%}
    {%- for column in key_columns -%}
        {{ relation_alias }}.{{ column }}::text{{ " || '|' || " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
