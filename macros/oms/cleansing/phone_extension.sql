{#
    Why: E.164 has no room for an extension, so phone_to_e164 drops it; the extension is kept as a
    finding so nobody loses it silently. Returns the extension digits, or NULL when there is none.
#}
{% macro phone_extension(phone) -%}
    substring({{ phone }} from '(?i)(?:ext\.?|extension|x|#)\s*(\d+)\s*$')
{%- endmacro %}
