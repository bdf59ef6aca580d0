{#
    Why: a condition that applies only in an incremental run (restricting a model to the keys in
    this batch's scope), written as one predicate that is `true` in a full build, so that both
    builds render the same query shape.
#}
{% macro incremental_predicate(predicate) -%}
    {%- if is_incremental() -%}
        {{ predicate }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
