"""The names the harness relies on in a migration's dbt project, in one place.

The harness builds the project, reads some of its relations and selects some of its nodes by these
names; a migration's project must provide them. docs/dbt-contract.md explains each, and
tests/integration/test_dbt_contract.py checks that the worked example meets them.
"""

from __future__ import annotations

# Landing: the harness copies each source table into this schema of the target (migration.yml
# target.landing_schema), and the project's sources read it from there. dbt learns the schema from
# this environment variable, which the harness sets for every dbt run (and `migrate env shell`
# prints); the sources say `schema: "{{ env_var('MIGRATE_LANDING_SCHEMA', 'landing') }}"`.
LANDING_SCHEMA_ENV = "MIGRATE_LANDING_SCHEMA"
DEFAULT_LANDING_SCHEMA = "landing"

# The new application's schema (models/app), and the schema of what did not simply migrate.
APP_SCHEMA = "app"
QUARANTINE_SCHEMA = "quarantine"
# One row per source table: source_table, source_rows, migrated, merged, quarantined.
DISPOSITIONS = (QUARANTINE_SCHEMA, "dispositions")

# The selector (selectors.yml) a sync batch builds: `dbt build --selector sync`. Macro
# is_sync_build tells a sync build from others by this name.
SYNC_SELECTOR = "sync"

# The reverse mapping of a fallback: the models tagged `fallback`, one relation per source table T
# named fallback.legacy_<t>, with T's columns, the operation (I, U or D) and the columns to write.
FALLBACK_TAG = "fallback"
FALLBACK_SCHEMA = "fallback"
FALLBACK_OP = "_fallback_op"
FALLBACK_COLUMNS = "_fallback_columns"


def fallback_relation_name(table: str) -> str:
    """The reverse model's relation for source table `table` (in FALLBACK_SCHEMA)."""
    return f"legacy_{table.lower()}"


def shared_fallback_relations(tables: list[str]) -> dict[str, list[str]]:
    """The source tables whose reverse relation is another's too, each with those others: the name is
    lower-cased, where MySQL on Linux and PostgreSQL tell Orders from orders. A fallback would carry
    the one's rows into the other, so none of them can be carried back."""
    by_relation: dict[str, list[str]] = {}
    for table in tables:
        by_relation.setdefault(fallback_relation_name(table), []).append(table)
    return {t: [o for o in alike if o != t] for alike in by_relation.values() if len(alike) > 1 for t in alike}
