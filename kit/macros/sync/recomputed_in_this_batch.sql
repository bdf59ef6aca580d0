{#
    Why: models downstream of the intermediate layer read, in an incremental run, only the rows
    recomputed in this batch (`batch_watermark > low watermark`), and every row when they are built
    in full. One predicate for both (`true` in a full build), so the model reads as one query.
#}
{% macro recomputed_in_this_batch(batch_watermark='batch_watermark') -%}
    {%- if is_incremental() -%}
        {{ batch_watermark }} > {{ migrate_kit.sync_low_watermark() }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
