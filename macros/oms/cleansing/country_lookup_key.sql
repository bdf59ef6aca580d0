{#
    Why: countries are spelled many ways (`US`, `U.S.A.`, `United States`, `us`, `UK`, `Germany`).
    The spelling is reduced to its letters, upper case, and looked up in seed `country_codes`
    (join on spelling_key), so adding a spelling is a one-line change to the seed. A missing or
    blank value means `missing_means` (the legacy application assumed the US); a value with no
    letters gives '' which no seed row matches, so the row is treated as unmapped.
#}
{% macro country_lookup_key(expression, missing_means='US') -%}
    case
        when nullif(btrim({{ expression }}), '') is null then '{{ missing_means }}'
        else upper(regexp_replace({{ expression }}, '[^A-Za-z]', '', 'g'))
    end
{%- endmacro %}
