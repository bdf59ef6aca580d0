"""The PostgreSQL engine: its catalog (re-exported here, as `postgres.columns(...)`), and in
modules of their own the consistent copy out, capture, freeze and backup that `engine.PostgresEngine`
offers the lifecycle through harness.engines.base.SourceEngine."""

from harness.engines.postgres.catalog import (  # noqa: F401
    CATALOG_SCHEMA,
    LOCALE_PROVIDERS,
    MAX_IDENTIFIER_BYTES,
    REFUSED_CHARACTERS,
    CollationDefinition,
    Column,
    ColumnFill,
    DatabaseOptions,
    TypedColumn,
    collation_definition,
    column_fills,
    column_list,
    columns,
    constraint_counts,
    create_collation,
    create_database_sql,
    database_options,
    dependent_views,
    estimated_rows,
    fitting_name,
    generated_name,
    identifier_problem,
    primary_key,
    qualified,
    table_exists,
    tables_with_trigger,
    triggers_named,
    typed_columns,
)
