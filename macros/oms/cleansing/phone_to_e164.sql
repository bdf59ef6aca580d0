{#
    Why: legacy phone numbers are free form (`(555) 123-4567`, `555.123.4567`, `+1 555 123 4567`,
    `5551234567 ext. 12`, `+44 (0)20 7946 0958`, national numbers abroad). The target wants E.164
    (`+15551234567`) or NULL. An extension cannot be expressed in E.164 and is dropped (macro
    phone_extension keeps it for a finding), and so is the optional trunk digit written `(0)`.
    A number written with `+` or `00` keeps its own country code; otherwise the customer's country
    gives the calling code, and its national trunk prefix (`0` in GB and DE) is removed. The
    result must look like a real E.164 number (NANP: ten digits, area code not starting with 0
    or 1), or it is NULL.
#}
{% macro phone_to_e164(phone, calling_code, trunk_prefix) -%}
    {%- set bare = "regexp_replace(regexp_replace(" ~ phone ~ ", '\\s*(ext\\.?|extension|x|#)\\s*\\d+\\s*$', '', 'i'), '\\(0\\)', '', 'g')" -%}
    {%- set candidate -%}
        case
            when bare ~ '^\s*\+' then '+' || digits
            when digits ~ '^00' then '+' || substr(digits, 3)
            when {{ calling_code }} = '1' and digits ~ '^1\d{10}$'
                then '+' || digits
            when {{ calling_code }} = '1' then '+1' || digits
            when {{ trunk_prefix }} is not null and digits ~ ('^' || {{ trunk_prefix }})
                then '+' || {{ calling_code }} || substr(digits, length({{ trunk_prefix }}) + 1)
            else '+' || {{ calling_code }} || digits
        end
    {%- endset -%}
    {%- set checked -%}
        case
            when e164 ~ '^\+1[2-9]\d{9}$' then e164
            when e164 !~ '^\+1' and e164 ~ '^\+[2-9]\d{6,13}$' then e164
        end
    {%- endset -%}
    {{ bind(bind(bare, 'bare', bind("regexp_replace(bare, '\\D', '', 'g')", 'digits', candidate)), 'e164', checked) }}
{%- endmacro %}
