{#
    Why: the data tests compare whole tables, which costs more than an incremental run itself. After
    an incremental run only the rows this batch recomputed can have changed (every changed legacy
    row, and every row a change affects, is recomputed and carries the batch's watermark, deleted
    rows included), so a sync build's tests compare those rows. Every other build (a plain `dbt
    build`, a first build or a full refresh) and `--vars 'reconcile_everything: true'` (for
    `migrate reconcile`) compare everything. Returns true when the tests may narrow down to the batch.
#}
{% macro reconcile_only_this_batch() -%}
    {%- if var('reconcile_everything', false) or not migrate_kit.is_sync_build() -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(migrate_kit.sync_low_watermark() | trim != "'-infinity'::timestamptz") }}
{%- endmacro %}
