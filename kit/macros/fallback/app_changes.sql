{#
    Why: a fallback carries back only what the new application changed after cutover. The reverse
    capture log (installed on `app` by cutover) holds every change with the row before it; this
    folds it to one row per key: the row as cutover left it (null for a row born in the new
    system), whether it was born there, its last operation and when it last changed.
#}
{% macro app_changes(app_table, key_columns) -%}
    select
        {%- for key in key_columns %}
            (coalesce(changes.new_row, changes.old_row) ->> '{{ key }}')::bigint as {{ key }},
        {%- endfor %}
        (array_agg(changes.op order by changes.change_id))[1] = 'I' as is_born,
        (array_agg(changes.old_row order by changes.change_id))[1] as before_image,
        (array_agg(changes.image_format order by changes.change_id))[1] as before_image_format,
        (array_agg(changes.op order by changes.change_id desc))[1] as last_op,
        max(changes.captured_at) as last_changed_at
    from {{ ref('app_changes_log') }} as changes
    where changes.table_name = '{{ app_table }}'
    group by {% for key in key_columns %}{{ loop.index }}{{ ", " if not loop.last }}{% endfor %}
{%- endmacro %}
