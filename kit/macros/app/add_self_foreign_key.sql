{#
    Why: a self-referencing foreign key (a tree's parent_id -> its own table) cannot be a dbt contract
    constraint: on a full refresh dbt builds the new table beside the old one, so the constraint
    would point at the old table and be dropped with it. Added (once) by a post-hook instead, after
    the new table has taken its name. A test checks that it exists. A sync build rebuilds no table,
    so on a table that exists it has nothing to add.
#}
{% macro add_self_foreign_key(column, referenced_column, constraint_name) -%}
    {{ return(adapter.dispatch('add_self_foreign_key', 'migrate_kit')(column, referenced_column, constraint_name)) }}
{%- endmacro %}

{% macro postgres__add_self_foreign_key(column, referenced_column, constraint_name) -%}
    {%- if migrate_kit.is_sync_build() and is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    do $$
    begin
        if not exists (
            select 1 from pg_constraint
            where conrelid = '{{ this }}'::regclass and conname = '{{ constraint_name }}'
        ) then
            alter table {{ this }}
                add constraint {{ constraint_name }}
                foreign key ({{ column }}) references {{ this }} ({{ referenced_column }});
        end if;
    end
    $$
{%- endmacro %}
