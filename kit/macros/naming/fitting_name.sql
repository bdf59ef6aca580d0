{#
    Why: PostgreSQL cuts names longer than 63 bytes, so two objects named after long, alike tables
    or columns would share one name: the second landing index is never made, and a foreign key
    looked up by its full name is added again on every build. A name that fits is kept as it is
    (objects made before keep their names); a longer one is cut and ends in a short hash of the
    whole name, as the harness names its own objects (harness/engines/postgres.py, fitting_name).
#}
{% macro fitting_name(readable) -%}
    {%- set encoded = readable.encode('utf-8') -%}
    {%- if encoded | length <= 63 -%}
        {{ return(readable) }}
    {%- endif -%}
    {{ return(encoded[:50].decode('utf-8', 'ignore') ~ '_' ~ local_md5(readable)[:12]) }}
{%- endmacro %}
