"""What dbt-postgres only reads from the target's catalog to render a node: the relations of each
schema, the columns of a relation, the dependencies between views, a contract's column check.

A compiled plan (harness/dbt/compiled_plan.py) leaves these out: it already holds the SQL they
helped render, and nothing it writes depends on their answer. Each pattern is one of dbt-postgres's
introspection queries (dbt's query comment removed), matched whole so that no statement that
writes is ever taken for one.
"""

from __future__ import annotations

import re

CATALOG_READS = (
    # postgres__list_schemas
    re.compile(r"^\s*select\s+distinct\s+nspname\s+from\s+pg_namespace\s*$", re.IGNORECASE),
    # postgres__list_relations_without_caching
    re.compile(r"^\s*select\s+'[^']*'\s+as\s+database,\s+tablename\s+as\s+name,.*from\s+pg_tables", re.I | re.S),
    # postgres_get_relations (the dependencies between relations, for the relation cache)
    re.compile(r"^\s*select\s+distinct\s+dependent_namespace\.nspname\s+as\s+dependent_schema,", re.IGNORECASE),
    # the kit's postgres__get_columns_in_relation (macros/kit/overrides)
    re.compile(r"^\s*select\s+attributes\.attname\s+as\s+column_name,.*from\s+pg_attribute", re.I | re.S),
    # get_empty_subquery_sql: a model's columns for its contract
    re.compile(r"^\s*select\s+\*\s+from\s+\(.*\)\s+as\s+__dbt_sbq\s+where\s+false\s+limit\s+0\s*$", re.I | re.S),
)


def is_catalog_read(statement: str) -> bool:
    return any(pattern.search(statement) for pattern in CATALOG_READS)
