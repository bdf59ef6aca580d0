"""Provisioning the target: its database, schemas and the new application's role.

Idempotent: running it twice changes nothing, and the result says what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.dbt import contract as dbt_contract

APP_SCHEMA = dbt_contract.APP_SCHEMA
QUARANTINE_SCHEMA = dbt_contract.QUARANTINE_SCHEMA


@dataclass
class Provisioned:
    created: list[str] = field(default_factory=list)


def provision(config: Config, source: Database, target: Database) -> Provisioned:
    """The target database (with the source's encoding and locale, see connections.create_target_database),
    its schemas and the application's role."""
    result = Provisioned()
    if not target.embedded:
        admin = connections.Database(
            target.side, connections.with_database(target.url, "postgres"), target.setting, False
        )
        with connections.connection(admin, command="provision", autocommit=True):
            pass  # reachable: the server is right, so a missing database is ours to create
        if connections.create_target_database(config, source, admin.url, target.name):
            result.created.append(f"database {target.name}")
    with connections.connection(target, command="provision", autocommit=True) as conn:
        for schema in (config.landing_schema, APP_SCHEMA, QUARANTINE_SCHEMA, config.control_schema):
            if not _schema_exists(conn, schema):
                conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
                result.created.append(f"schema {schema}")
        control.ensure(conn, config.control_schema)
        role = config.roles.get("app_role")
        if role:
            if _create_role(conn, role):
                result.created.append(f"role {role}")
            _grant_app_role(conn, role)
    return result


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is not None


def _create_role(conn: psycopg.Connection, role: str) -> bool:
    if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
        return False
    try:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
    except psycopg.errors.DuplicateObject:
        return False  # another session created it in the meantime: roles are server-wide
    return True


def _grant_app_role(conn: psycopg.Connection, role: str) -> None:
    """The new application reads and writes `app` and nothing else."""
    ident, schema = sql.Identifier(role), sql.Identifier(APP_SCHEMA)
    conn.execute(sql.SQL("grant connect on database {} to {}").format(sql.Identifier(conn.info.dbname), ident))
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(schema, ident))
    conn.execute(sql.SQL("grant select, insert, update, delete on all tables in schema {} to {}").format(schema, ident))
    conn.execute(sql.SQL("grant usage, select on all sequences in schema {} to {}").format(schema, ident))
    conn.execute(
        sql.SQL("alter default privileges in schema {} grant select, insert, update, delete on tables to {}").format(
            schema, ident
        )
    )
    conn.execute(
        sql.SQL("alter default privileges in schema {} grant usage, select on sequences to {}").format(schema, ident)
    )
