{#
    Why: a freshly built table has no planner statistics until autovacuum gets to it, and the
    incremental queries that follow choose between index lookups and full scans by them. After a
    full (re)build the model's table is analyzed at once; incremental runs change about 1% and
    leave statistics to autovacuum. Post-hook of the intermediate and app models.
#}
{% macro analyze_after_full_build() -%}
    {%- if not is_incremental() -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
