{#
    Why: a wall-clock time inside a spring-forward gap never happened (a legacy bug wrote some).
    It does not survive the round trip local -> instant -> local. Used for the finding that goes
    with local_to_timestamptz's shift. NULL input gives NULL.
#}
{% macro is_nonexistent_local_time(expression, time_zone=var('legacy_time_zone')) -%}
    ((({{ expression }}) at time zone '{{ time_zone }}') at time zone '{{ time_zone }}' <> {{ expression }})
{%- endmacro %}
