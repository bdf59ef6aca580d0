{#
    Why: the business-rule tests compare only the rows this batch recomputed after an incremental
    run (see reconcile_only_this_batch) and every row otherwise. This is that filter as one
    predicate, `column in (select recomputed_key from recomputed)` or `true`, so that both cases
    render the same query shape (the test defines the CTE `recomputed` when it narrows down).
#}
{% macro recomputed_only(column, recomputed_key) -%}
    {%- if reconcile_only_this_batch() -%}
        {{ column }} in (select {{ recomputed_key }} from recomputed)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
