{#
    Why: in a sync build the business-rule tests compare only the rows its batch recomputed (see
    reconcile_only_this_batch), in every other build every row. This is that filter as one
    predicate, `column in (select recomputed_key from recomputed)` or `true`, so that both cases
    render the same query shape (the test defines the CTE `recomputed` when it narrows down).
#}
{% macro recomputed_only(column, recomputed_key) -%}
    {%- if migrate_kit.reconcile_only_this_batch() -%}
        {{ column }} in (select {{ recomputed_key }} from recomputed)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
