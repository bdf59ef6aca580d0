{#
    Every legacy row the model decided is where its decision puts it: a `migrated` row in its app
    table, a `merged` one in its merge table, a `quarantined` one in quarantine.quarantined_rows, a
    `deleted` one in none of them, and in no other. Returns each row found anywhere else. The
    row-level counterpart of dispositions_balance, so it can check part of a model: with
    `config: {where: __recomputed_in_this_batch__}` a sync build checks the rows its batch recomputed
    (no other row can have moved; see postgres__get_where_subquery), every other build all rows.
    Within each place a key is unique (primary and unique keys in the database).
    Arguments: source_table, and source_key as quarantined_rows has it (SQL over alias `decided`);
    migrated_to and merged_to (none without merges), each a relation, with migrated_on and
    merged_on, the join condition (aliases `decided` and `migrated` or `merged`).
#}
{% test lands_as_decided(model, source_table, source_key, migrated_to, migrated_on, merged_to=none, merged_on=none) %}

-- depends_on: {{ ref('sync_batches') }}
-- depends_on: {{ ref('sync_app_deletes') }}

{%- set places = [('migrated', migrated_to, migrated_on)] + ([('merged', merged_to, merged_on)] if merged_to else []) + [(
    'quarantined', ref('quarantined_rows'),
    "quarantined.source_table = '" ~ source_table ~ "' and quarantined.source_key = " ~ source_key
)] %}

with

decided as (
    select * from {{ model }}
),

placed as (
    select
        {{ source_key }} as source_key,
        decided.disposition,
        coalesce(migrated.is_there, false) as is_migrated,
        {% if merged_to %}coalesce(merged.is_there, false){% else %}false{% endif %} as is_merged,
        coalesce(quarantined.is_there, false) as is_quarantined
    from decided
    {% for name, relation, condition in places %}
        {#- A batch's rows are looked up one by one, by index; all rows are joined whole. -#}
        {% if migrate_kit.reconcile_only_this_batch() %}
            left join lateral (
                select true as is_there from {{ relation }} as {{ name }} where {{ condition }} limit 1
            ) as {{ name }} on true
        {% else %}
            left join (select *, true as is_there from {{ relation }}) as {{ name }} on {{ condition }}
        {% endif %}
    {% endfor %}
)

select *
from placed
where
    (is_migrated, is_merged, is_quarantined)
    is distinct from (disposition = 'migrated', disposition = 'merged', disposition = 'quarantined')

{% endtest %}
