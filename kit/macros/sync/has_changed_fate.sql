{#
    Why: a recomputed legacy row forces its dependants to be recomputed only when what they read
    of it changed, its "fate" (child rows care whether their parent is migrated, not about its
    status code). Comparing the new fate with the previous row (alias `previous`, the model's own
    table, left-joined on the key) keeps a parent's status change from recomputing every child
    of it. A fate change stays flagged while its batch is not completed, so that a rerun after a
    failure still recomputes the dependants. True for every row in a full build.
    Expects the new row as `latest` and the old one as `previous`.
#}
{% macro has_changed_fate(fate_columns) -%}
    {%- if is_incremental() -%}
        (
            ({% for column in fate_columns %}latest.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %})
            is distinct from
            ({% for column in fate_columns %}previous.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %})
            or coalesce(previous.batch_watermark > {{ migrate_kit.sync_low_watermark() }} and previous.has_changed_fate, false)
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
