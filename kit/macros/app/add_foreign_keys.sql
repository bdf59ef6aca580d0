{#
    Why: the foreign keys of a model's contract, added after the table is filled (see
    postgres__get_table_columns_and_constraints), each once: a constraint that already exists (the
    table was built before) is left alone. Named <table>_<column>_fkey (see fitting_name). Post-hook of the app models.
    A sync build rebuilds no table, so on a table that exists it has nothing to check.
#}
{% macro add_foreign_keys() -%}
    {{ return(adapter.dispatch('add_foreign_keys', 'migrate_kit')()) }}
{%- endmacro %}

{% macro postgres__add_foreign_keys() -%}
    {%- if migrate_kit.is_sync_build() and is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set statements = [] -%}
    {%- set foreign_keys = [] -%}
    {%- for column in model['columns'].values() -%}
        {%- for constraint in column['constraints'] if constraint['type'] == 'foreign_key' -%}
            {%- do foreign_keys.append({'columns': [column['name']], 'to': constraint['to'], 'to_columns': constraint['to_columns']}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for constraint in model['constraints'] if constraint['type'] == 'foreign_key' -%}
        {%- do foreign_keys.append({'columns': constraint['columns'], 'to': constraint['to'], 'to_columns': constraint['to_columns']}) -%}
    {%- endfor -%}
    {%- for key in foreign_keys -%}
        {%- set name = migrate_kit.fitting_name(this.identifier ~ '_' ~ key['columns'] | join('_') ~ '_fkey') -%}
        {%- do statements.append(
            "do $$ begin if not exists (select 1 from pg_constraint where conrelid = '" ~ this ~ "'::regclass and conname = '"
            ~ name ~ "') then alter table " ~ this ~ " add constraint " ~ adapter.quote(name) ~ " foreign key ("
            ~ key['columns'] | join(', ') ~ ") references " ~ key['to'] ~ " (" ~ key['to_columns'] | join(', ')
            ~ "); end if; end $$"
        ) -%}
    {%- endfor -%}
    {{ statements | join(';\n') }}
{%- endmacro %}
