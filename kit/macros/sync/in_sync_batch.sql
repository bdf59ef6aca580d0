{#
    Why: the landing rows an incremental run must process are those written after the last
    completed batch and up to this batch's high watermark. The upper bound keeps a run consistent
    when sync writes landing while dbt runs: a row written meanwhile is left whole to the next
    batch, instead of being seen by some models of this run and not by others.
#}
{% macro in_sync_batch(synced_at) -%}
    ({{ synced_at }} > {{ migrate_kit.sync_low_watermark() }} and {{ synced_at }} <= {{ migrate_kit.sync_high_watermark() }})
{%- endmacro %}
