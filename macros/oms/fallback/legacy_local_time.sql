{#
    Why: the legacy schema keeps local wall-clock time without a zone (var legacy_time_zone); the
    inverse of local_to_timestamptz.
#}
{% macro legacy_local_time(column) -%}
    ({{ column }} at time zone '{{ var("legacy_time_zone") }}')
{%- endmacro %}
