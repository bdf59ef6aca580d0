{#
    Why: from cutover on the new application inserts rows itself, drawing ids from each table's
    identity sequence. The sequence must continue above the largest migrated id, and never move
    back (a rebuild must not hand out ids the application already used). Called as a post-hook of
    app models whose key is an identity column.
#}
{% macro advance_identity(column) -%}
    {{ return(adapter.dispatch('advance_identity', 'migrate_kit')(column)) }}
{%- endmacro %}

{% macro postgres__advance_identity(column) -%}
    select setval(
        pg_get_serial_sequence('{{ this }}', '{{ column }}'),
        greatest(
            (select coalesce(max({{ column }}), 0) from {{ this }}),
            (select coalesce(sequences.last_value, 0) from pg_sequences as sequences
                where format('%I.%I', sequences.schemaname, sequences.sequencename)
                    = pg_get_serial_sequence('{{ this }}', '{{ column }}')),
            1
        )
    )
{%- endmacro %}
