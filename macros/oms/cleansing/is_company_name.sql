{#
    Why: company names (`Acme Ltd`, `Globex Corporation`, `Wonka & Sons`) must not be split into
    given and family name. A name is a company when one of its words is a legal-form or business
    word, or it contains `&`. The list is deliberately short and explicit; extend it when the
    profile shows new forms. (An array overlap, not a regular expression: see
    normalize_address_line on PostgreSQL's cache of compiled regular expressions.)
#}
{% macro is_company_name(expression) -%}
    (
        string_to_array(lower(translate({{ expression }}, '.,', '  ')), ' ') && array[
            'ltd', 'llc', 'inc', 'corp', 'corporation', 'company', 'co', 'gmbh', 'ag', 'plc', 'lp', 'llp',
            'limited', 'group', 'holdings', 'partners', 'associates', 'industries', 'enterprises', 'sons'
        ]
        or strpos({{ expression }}, '&') > 0
    )
{%- endmacro %}
