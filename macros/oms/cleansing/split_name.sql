{#
    Why: CUST_NM holds one free-text name in several shapes: `LAST, FIRST` (60%), `First Last`,
    `FIRST LAST` (upper case) and company names. The target splits it into given and family name
    only where the shape is unambiguous (one comma between two parts, or exactly two words);
    anything else (companies, three or more words) keeps only display_name. A name is never dropped.
    All-upper or all-lower names are recased with initcap (`DOE` -> `Doe`, `o'brien` -> `O'Brien`);
    mixed case is kept as written.
    part: 'given' | 'family' | 'display'.
#}
{% macro split_name(expression, part) -%}
    {%- if part not in ('given', 'family', 'display') -%}
        {{ exceptions.raise_compiler_error("split_name: part must be 'given', 'family' or 'display', got '" ~ part ~ "'") }}
    {%- endif -%}
    {%- set recased = "case when s in (upper(s), lower(s)) then initcap(s) else s end" -%}
    {%- set body -%}
        case
            when {{ is_company_name('s') }} then {{ 's' if part == 'display' else 'null' }}
            when s ~ '^[^,]*[^, ][^,]*, ?[^, ][^,]*$' then
                {%- if part == 'given' %} btrim(split_part(recased, ',', 2))
                {%- elif part == 'family' %} btrim(split_part(recased, ',', 1))
                {%- else %} btrim(split_part(recased, ',', 2)) || ' ' || btrim(split_part(recased, ',', 1))
                {%- endif %}
            when s ~ '^[^ ,]+ [^ ,]+$' then
                {%- if part == 'given' %} split_part(recased, ' ', 1)
                {%- elif part == 'family' %} split_part(recased, ' ', 2)
                {%- else %} recased
                {%- endif %}
            {%- if part == 'display' %}
            else recased
            {%- endif %}
        end
    {%- endset -%}
    {{ bind("regexp_replace(btrim(" ~ expression ~ "), '\\s+', ' ', 'g')", 's', bind(recased, 'recased', body)) }}
{%- endmacro %}
