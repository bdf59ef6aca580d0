"""A small source schema the harness has never seen: mixed-case names, a composite key,
a text key, a masked card column. Shared by the load, sync and backup tests."""

from __future__ import annotations

import contextlib
import threading
import uuid

import psycopg
import pytest

from harness.core.config import load_config
from harness.core.connections import Database

SCHEMA = """
create schema "Shop";
create table "Shop"."Client" ("Id" integer primary key, "Name" text not null, "Card" varchar(25), "Updated" timestamp);
create table "Shop"."Basket" ("ClientId" integer, "Line" integer, "Sku" text, "Price" double precision,
                              primary key ("ClientId", "Line"));
create table "Shop"."Tag" ("Code" varchar(10) primary key, "Label" text);
insert into "Shop"."Client" select i, 'client ' || i,
                                   case when i % 3 = 0 then '4111-1111-1111-' || lpad(i::text, 4, '0') end,
                                   timestamp '2020-01-01' + i * interval '1 minute'
    from generate_series(1, 5000) i;
insert into "Shop"."Basket" select c, l, 'SKU-' || (c * l % 97), (c * l % 1000) / 7.0
    from generate_series(1, 2000) c, generate_series(1, 3) l;
insert into "Shop"."Tag" values ('a', 'Alpha'), ('b', 'Beta');
"""

CONFIG = """
source: {schema: Shop, database: unused}
target: {database: unused}
tables:
  Client: {masks: {Card: last4}}
  Basket: {}
  Tag: {}
roles: {app_role: shop_app_test}
"""


# Settings of the legacy application's sessions that change the text a value is written or read as.
ODD_SETTINGS = {
    "extra_float_digits": "0",
    "DateStyle": "SQL, DMY",
    "IntervalStyle": "sql_standard",
    "bytea_output": "escape",
    "TimeZone": "Pacific/Chatham",
    "standard_conforming_strings": "off",
}


def project(tmp_path, migration, monkeypatch, config_text: str, schema_sql: str):
    """A migration project in tmp_path over `schema_sql` created in the source: (config, source, target)."""
    (tmp_path / "migration.yml").write_text(config_text)
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(schema_sql)
    source = Database("source", migration.source_url, "MIGRATE_SOURCE_URL", False)
    target = Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    return load_config(tmp_path), source, target


@pytest.fixture
def shop(tmp_path, migration, monkeypatch):
    config, source, target = project(tmp_path, migration, monkeypatch, CONFIG, SCHEMA)
    return config, source, target, migration, tmp_path


@pytest.fixture
def legacy_role(shop):
    """A login role of the legacy application's kind: it may write the shop tables, nothing more."""
    _, _, _, migration, _ = shop
    role = f"shop_legacy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(f"create role {role} login")
        conn.execute(f'grant usage on schema "Shop" to {role}')
        conn.execute(f'grant select, insert, update, delete on all tables in schema "Shop" to {role}')
        conn.execute(f'grant truncate on "Shop"."Tag" to {role} with grant option')
    yield role
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(f"drop owned by {role}")
        conn.execute(f"drop role {role}")


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def source_state(url: str) -> dict[str, list[tuple]]:
    return {
        "Client": rows(
            url,
            'select "Id", "Name", right(regexp_replace("Card", \'[^0-9]\', \'\', \'g\'), 4), "Updated" '
            'from "Shop"."Client" order by 1',
        ),
        "Basket": rows(url, 'select "ClientId", "Line", "Sku", "Price" from "Shop"."Basket" order by 1, 2'),
        "Tag": rows(url, 'select "Code", "Label" from "Shop"."Tag" order by 1'),
    }


def landing_state(url: str) -> dict[str, list[tuple]]:
    live = 'where not "_migrate_deleted"'
    return {
        "Client": rows(url, f'select "Id", "Name", "Card", "Updated" from landing."Client" {live} order by 1'),
        "Basket": rows(url, f'select "ClientId", "Line", "Sku", "Price" from landing."Basket" {live} order by 1, 2'),
        "Tag": rows(url, f'select "Code", "Label" from landing."Tag" {live} order by 1'),
    }


@contextlib.contextmanager
def traffic_in_background(source, schema: str, ledger_path, **options):
    """The demo's traffic (both applications, following the routing file) in a thread until the
    block ends; yields the dict that then holds its report under "report"."""
    from harness.demo.traffic import run_traffic

    stop, outcome = threading.Event(), {}
    thread = threading.Thread(
        target=lambda: outcome.update(report=run_traffic(source, schema, ledger_path, stop=stop, **options))
    )
    thread.start()
    try:
        yield outcome
    finally:
        stop.set()
        thread.join()


def allow_lag(folder, seconds: int = 120) -> None:
    """An init'ed project's lag gate widened: the scaffold's is 5 s, and between a test's one-shot syncs
    the CLI calls take longer on a loaded machine (17.9 s and 33.3 s seen); test_cutover.py tests the gate."""
    yml = folder / "migration.yml"
    yml.write_text(yml.read_text().replace("cutover:\n", f"cutover:\n  max_lag_seconds: {seconds}\n", 1))


@contextlib.contextmanager
def generic_traffic(folder, ledger_path, rate: float = 30):
    """The generic writers (`migrate demo traffic --generic`'s) of an init'ed project in a thread,
    following its routing file, until the block ends; yields the dict that then holds the report."""
    from harness.demo.generic_traffic import run_generic_traffic

    config = load_config(folder)
    stop, outcome = threading.Event(), {}
    thread = threading.Thread(
        target=lambda: outcome.update(
            report=run_generic_traffic(
                config,
                ledger_path,
                rate=rate,
                duration=3600,
                workers=3,
                slow_share=0.05,
                slow_seconds=0.5,
                stop=stop,
                routing_file=folder / config.cutover.routing_file,
            )
        )
    )
    thread.start()
    try:
        yield outcome
    finally:
        stop.set()
        thread.join()


def binary_rows(url: str, query: str, settings: dict[str, str] | None = None) -> list[tuple[bytes | None, ...]]:
    """The rows of `query` with each value in its type's binary send form (COPY BINARY): two values
    are the same value exactly when these bytes are equal, stricter than `=` (which calls -0 and 0,
    or 1.10 and 1.1, equal) and defined for types that have no `=` (xml, point). `settings` for a
    query that casts a value to text."""
    with psycopg.connect(url) as conn:
        for name, value in (settings or {}).items():
            conn.execute("select set_config(%s, %s, false)", (name, value))
        with conn.cursor().copy(f"copy ({query}) to stdout (format binary)") as copy:
            data = b"".join(bytes(block) for block in copy)
    position = 19 + int.from_bytes(data[15:19], "big")  # signature (11), flags (4), header extension
    result = []
    while (count := int.from_bytes(data[position : position + 2], "big", signed=True)) != -1:
        position += 2
        values = []
        for _ in range(count):
            length = int.from_bytes(data[position : position + 4], "big", signed=True)
            position += 4
            values.append(None if length == -1 else data[position : position + length])
            position += max(length, 0)
        result.append(tuple(values))
    return result


# A money amount is read and written in the session's lc_monetary; only the server's libc locales qualify.
MONETARY_LOCALES = ("de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ja_JP.UTF-8", "en_IN.UTF-8", "en_US.UTF-8")


def odd_monetary_locale(url: str) -> str | None:
    """A locale other than C that the server takes for lc_monetary, if it has one."""
    with psycopg.connect(url, autocommit=True) as conn:
        for locale in MONETARY_LOCALES:
            try:
                conn.execute("select set_config('lc_monetary', %s, false)", (locale,))
                return locale
            except psycopg.errors.InvalidParameterValue:
                continue
    return None
