{#
    Why: CAT_PATH separators vary (`Home > Kitchen > Knives`, `Home/Kitchen/Knives`, extra blanks).
    The normalised path joins trimmed, blank-collapsed segments with ` > `; it is the category's
    natural key (and app.category.path). Blank or NULL gives NULL.
#}
{% macro normalize_category_path(expression) -%}
    nullif(
        regexp_replace(
            regexp_replace(
                regexp_replace(btrim({{ expression }}), '\s*[>/|\\]+\s*', ' > ', 'g'),
                '^( > )+|( > )+$', '', 'g'
            ),
            '\s+', ' ', 'g'
        ),
        ''
    )
{%- endmacro %}
