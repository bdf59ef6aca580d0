{#
    Why: an incremental run processes only what changed since the last completed batch. Each run
    records its batch in model sync_batches (low = the high watermark of the last completed batch
    minus var sync_overlap, or -infinity for a first or --full-refresh run; high = the newest
    _migrate_synced_at in landing). Models compare against the newest batch's low watermark:
    landing rows with `synced_at > low` are the changes, and intermediate rows recomputed in this
    run carry `batch_watermark > low`. A failed batch is never completed, so the next run starts
    from the same low watermark (everything is idempotent).
    The value is read when the model runs and written into its SQL as a literal, so that the
    planner sees how few rows pass the filter (a subquery would hide it and invite full scans).
    Models that call this only inside `is_incremental()` need
    `-- depends_on: {{ ref('sync_batches') }}`.
#}
{% macro sync_low_watermark() -%}
    {{ migrate_kit.sync_batch_value('low_watermark') }}
{%- endmacro %}
