{#
    Why: rows leave the app tables child tables first, because every foreign key is enforced and a
    parent can only go once nothing points at it any more; by the end of the run the children
    have been re-pointed or are leaving themselves. Post-hook of the model that lists this batch's
    deletes (`this`: batch_id, app_table, app_key, the key's columns as text joined with '|'); the
    same transaction then completes the batch in sync_batches, so the watermark only advances when
    everything of the batch is applied. Each app model's key is its unique_key, typed as its
    contract declares the columns.
    app_tables: the app models rows are deleted from, children first.
#}
{% macro apply_sync_deletes(app_tables) -%}
    {%- for app_table in app_tables %}
        {%- set key_columns = migrate_kit.app_key_columns(app_table) %}
        delete from {{ ref(app_table) }}
        where ({{ key_columns | map(attribute='name') | join(', ') }}) in (
            select
                {%- for column in key_columns %}
                    {%- set part = 'app_key' if key_columns | length == 1 else "split_part(app_key, '|', " ~ loop.index ~ ")" %}
                    {{ part }}::{{ column.data_type }}{{ "," if not loop.last }}
                {%- endfor %}
            from {{ this }}
            where batch_id = '{{ invocation_id }}' and app_table = '{{ app_table }}'
        );
    {%- endfor %}
    update {{ ref('sync_batches') }}
    set completed_at = now()
    where batch_id = '{{ invocation_id }}'
{%- endmacro %}
