{#
    Why: an address is one shared row per distinct normalised address, found again by value from
    customers and orders alike. The six normalised parts hashed together (the row's text form keeps
    NULL and '' apart) make a short, indexable natural key for the address key map.
#}
{% macro address_hash(line1, line2, city, region, postal_code, country_code) -%}
    md5(row({{ line1 }}, {{ line2 }}, {{ city }}, {{ region }}, {{ postal_code }}, {{ country_code }})::text)::uuid
{%- endmacro %}
