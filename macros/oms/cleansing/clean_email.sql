{#
    Why: EMAIL_ADDR is mixed case, padded with blanks, and sometimes not an address at all
    (`n/a`, `none`, `john.doe@`, `jane@@yahoo.com`). The target keeps trimmed lower-case valid
    addresses and NULL otherwise (the caller records a finding for a non-blank invalid value).
    "Valid" is a pragmatic shape check: a local part, one @, a domain of dot-separated labels
    ending in a top-level domain of two or more letters.
#}
{% macro clean_email(expression) -%}
    {%- set body -%}
        case
            when address ~ '^[a-z0-9!#$%&''*+/=?^_`{|}~.-]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$'
                then address
        end
    {%- endset -%}
    {{ bind("lower(btrim(" ~ expression ~ "))", 'address', body) }}
{%- endmacro %}
