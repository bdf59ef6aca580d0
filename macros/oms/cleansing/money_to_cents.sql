{#
    Why: legacy money arrives as float (`19.989999999`), numeric, or text written by hand or by
    other systems (`$1,234.50`, `1234.5`, `1234.50 USD`, `€99,00`, `-$12.50`). The target stores
    integer cents. Rounding is half away from zero, which PostgreSQL's numeric round() does (float
    round() would round half to even), so every input goes through numeric. For text, a comma
    followed by one or two final digits is a decimal comma; a comma followed by groups of three
    digits is a thousands separator; with both present, the last one is the decimal mark. Text
    that is not an amount (blank, `n/a`) gives NULL.
    kind: 'text' | 'float' | 'numeric'.
#}
{% macro money_to_cents(expression, kind='text') -%}
    {%- if kind in ('float', 'numeric') -%}
        round(({{ expression }})::numeric * 100)::bigint
    {%- elif kind == 'text' -%}
        {%- set body -%}
            round(
                (case
                    when t ~ '^-?\d+(\.\d+)?$' then t
                    when t ~ '^-?\d+,\d{1,2}$' then replace(t, ',', '.')
                    when t ~ '^-?\d{1,3}(,\d{3})+(\.\d+)?$' then replace(t, ',', '')
                    when t ~ '^-?\d{1,3}(\.\d{3})+,\d+$' then replace(replace(t, '.', ''), ',', '.')
                end)::numeric * 100
            )::bigint
        {%- endset -%}
        {{ bind("regexp_replace(" ~ expression ~ ", '[^0-9,.-]', '', 'g')", 't', body) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("money_to_cents: kind must be 'text', 'float' or 'numeric', got '" ~ kind ~ "'") }}
    {%- endif -%}
{%- endmacro %}
