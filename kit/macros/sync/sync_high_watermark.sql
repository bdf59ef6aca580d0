{#
    Why: rows an intermediate model recomputes are stamped with the batch's high watermark
    (column batch_watermark), so downstream models of the same run (and of a rerun after a failure)
    find them with `batch_watermark > migrate_kit.sync_low_watermark()`. See sync_low_watermark.
#}
{% macro sync_high_watermark() -%}
    {{ migrate_kit.sync_batch_value('high_watermark') }}
{%- endmacro %}
