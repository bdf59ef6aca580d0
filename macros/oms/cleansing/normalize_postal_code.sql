{#
    Why: 3% of US ZIP codes lost their leading zero when the legacy system stored them as numbers
    (`2134` for `02134`), and some are ZIP+4 written with or without the hyphen. US codes become
    `NNNNN` or `NNNNN-NNNN` (left-padded with zeros); other countries' codes are upper case with
    single blanks (`sw1a 1aa` -> `SW1A 1AA`). A US value that is not 3-5 or 8-9 digits is kept as
    written (upper case) rather than guessed.
#}
{% macro normalize_postal_code(expression, country_code) -%}
    {%- set digits = "regexp_replace(" ~ expression ~ ", '\\D', '', 'g')" -%}
    case
        when {{ country_code }} = 'US' and btrim({{ expression }}) ~ '^\d{3,5}$'
            then lpad({{ digits }}, 5, '0')
        when {{ country_code }} = 'US' and btrim({{ expression }}) ~ '^\d{3,5}[- ]?\d{4}$' and length({{ digits }}) between 8 and 9
            then left(lpad({{ digits }}, 9, '0'), 5) || '-' || right({{ digits }}, 4)
        else upper({{ squish(expression) }})
    end
{%- endmacro %}
