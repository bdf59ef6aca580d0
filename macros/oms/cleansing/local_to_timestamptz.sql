{#
    Why: legacy timestamps are wall-clock times in `time_zone` (America/New_York) without an offset.
    Two wall-clock hours a year are special. In the spring-forward gap (02:00-02:59 on the second
    Sunday of March) no such local time exists: the value is shifted forward by one hour, as the
    legacy clock would have shown it (02:30 -> 03:30 EDT); is_nonexistent_local_time flags it for a
    finding. In the repeated autumn hour (01:00-01:59 on the first Sunday of November) the time
    exists twice: the first (daylight) occurrence is taken. PostgreSQL alone would take the second.
#}
{% macro local_to_timestamptz(expression, time_zone=var('legacy_time_zone')) -%}
    {%- set tz = "'" ~ time_zone ~ "'" -%}
    {%- set body -%}
        case
            when {{ is_nonexistent_local_time('local_time', time_zone) }}
                then (local_time + interval '1 hour') at time zone {{ tz }}
            when ((local_time at time zone {{ tz }}) - interval '1 hour') at time zone {{ tz }} = local_time
                then (local_time at time zone {{ tz }}) - interval '1 hour'
            else local_time at time zone {{ tz }}
        end
    {%- endset -%}
    {{ bind(expression, 'local_time', body) }}
{%- endmacro %}
