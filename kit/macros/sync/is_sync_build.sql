{#
    Why: a sync build (`dbt build --selector sync`, see selectors.yml) checks only what its batch
    recomputed, while every other build checks every row. The selector, not a var, tells them apart:
    a var that differs between builds would make dbt parse the whole project again each time.
#}
{% macro is_sync_build() -%}
    {{ return(invocation_args_dict.get('selector') == 'sync') }}
{%- endmacro %}
