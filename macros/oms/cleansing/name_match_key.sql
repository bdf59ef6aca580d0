{#
    Why: a duplicate customer has the same e-mail and a *similar* name: the legacy screens let
    the same person be typed `DOE, JOHN`, `John Doe` or `john  doe`. The match key is the name's
    words, lower case, letters only, sorted: all three give `doe john`. Two customers are the same
    person only when e-mail and match key both agree, so a shared family mailbox used by two
    different people is not merged.
#}
{% macro name_match_key(expression) -%}
    nullif(array_to_string(array(
        select words.word
        from unnest(string_to_array(lower(regexp_replace({{ expression }}, '[^[:alpha:]]+', ' ', 'g')), ' ')) as words (word)
        where words.word <> ''
        order by words.word
    ), ' '), '')
{%- endmacro %}
