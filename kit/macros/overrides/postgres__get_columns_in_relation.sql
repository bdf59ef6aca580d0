{#
    Replaces: postgres__get_columns_in_relation
    Original: dbt-postgres 1.11.0, dbt/include/postgres/macros/adapters.sql
    Original sha256: b2cad3c8cc40d21f4293bdee0e69e342ddd059504fad3385f69ca1805826a883
    Why: every incremental model asks for the columns of its table and of its batch four times a run
    (schema change check, column list), and PostgreSQL's information_schema.columns takes ~10 ms to
    plan each time (the sync build's floor). This reads pg_catalog directly and returns the same
    rows: data_type and the lengths as information_schema computes them, with its own functions. A
    relation without a schema (dbt's temporary tables) is the one this session sees.
#}
{% macro postgres__get_columns_in_relation(relation) -%}
    {% call statement('get_columns_in_relation', fetch_result=True) %}
        select
            attributes.attname as column_name,
            case
                when types.typtype = 'd' then
                    case
                        when base_types.typelem <> 0 and base_types.typlen = -1 then 'ARRAY'
                        when base_type_schemas.nspname = 'pg_catalog' then format_type(types.typbasetype, null)
                        else 'USER-DEFINED'
                    end
                when types.typelem <> 0 and types.typlen = -1 then 'ARRAY'
                when type_schemas.nspname = 'pg_catalog' then format_type(attributes.atttypid, null)
                else 'USER-DEFINED'
            end as data_type,
            information_schema._pg_char_max_length(
                information_schema._pg_truetypid(attributes.*, types.*),
                information_schema._pg_truetypmod(attributes.*, types.*)
            ) as character_maximum_length,
            information_schema._pg_numeric_precision(
                information_schema._pg_truetypid(attributes.*, types.*),
                information_schema._pg_truetypmod(attributes.*, types.*)
            ) as numeric_precision,
            information_schema._pg_numeric_scale(
                information_schema._pg_truetypid(attributes.*, types.*),
                information_schema._pg_truetypmod(attributes.*, types.*)
            ) as numeric_scale
        from pg_catalog.pg_attribute as attributes
        inner join pg_catalog.pg_class as relations on attributes.attrelid = relations.oid
        inner join pg_catalog.pg_namespace as schemas on relations.relnamespace = schemas.oid
        inner join pg_catalog.pg_type as types on attributes.atttypid = types.oid
        inner join pg_catalog.pg_namespace as type_schemas on types.typnamespace = type_schemas.oid
        left join pg_catalog.pg_type as base_types on types.typbasetype = base_types.oid
        left join pg_catalog.pg_namespace as base_type_schemas on base_types.typnamespace = base_type_schemas.oid
        where
            relations.relname = '{{ relation.identifier }}'
            {% if relation.schema %}
                and schemas.nspname = '{{ relation.schema }}'
            {% else %}
                and pg_catalog.pg_table_is_visible(relations.oid)
            {% endif %}
            and attributes.attnum > 0
            and not attributes.attisdropped
        order by attributes.attnum
    {% endcall %}
    {{ return(sql_convert_columns_in_relation(load_result('get_columns_in_relation').table)) }}
{%- endmacro %}
