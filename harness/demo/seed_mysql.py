"""The legacy OMS of the worked migration in a MySQL-family source (MySQL 8, MariaDB 10.6+).

The rows are the PostgreSQL seed's (harness/demo/seed.py), computed in a scratch database on a
PostgreSQL server (the embedded one) and copied into the MySQL database in key order, batched; the
scratch is dropped. The MySQL tables (legacy_schema_mysql.sql) land as the PostgreSQL legacy's do,
so the dbt models run unchanged. Two defects of MySQL's own are planted on the way, at the rates
of MYSQL_RATES, evenly over the rows in scope in key order (the i-th row in scope has it when
floor(i * rate) moves), so the count is floor(rows in scope * rate) at every scale:

* a zero date in LAST_UPD ('0000-00-00 00:00:00', which a permissive sql_mode accepts) where the
  PostgreSQL seed has none: it lands as NULL with the text in `_mysql_raw_LAST_UPD`, so the models
  see the NULL they see on PostgreSQL;
* CITY is a latin1 column, and some cities with a letter beyond ASCII hold their UTF-8 bytes
  ('MÃ¼nchen'): the text MySQL reads is what lands, and what the models carry into `app`.

The other MySQL risks are the shared defects read the MySQL way: the trailing blanks of ORDER_LINE.SKU
match their product under MySQL's PAD SPACE collations and not in PostgreSQL, and upper/lower-case
SKUs and e-mails that MySQL's case-insensitive collation compares equal are distinct in landing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from importlib import resources

import psycopg
from psycopg import sql

from harness.core import connections
from harness.core.connections import Database
from harness.demo.seed import seed_legacy

# The MySQL defects' shares: of the rows the comment names, in every table listed.
MYSQL_RATES: dict[str, float] = {
    "mysql.last_upd_zero": 0.5,  # of the rows whose LAST_UPD is NULL (every table): the zero date instead
    "mysql.city_utf8_in_latin1": 0.5,  # of the customers whose CITY has a letter beyond ASCII: its UTF-8 bytes
}

ZERO_DATETIME = "0000-00-00 00:00:00"
TABLES = {  # each legacy table and its key, in the seed's order
    "PRODUCT": ("SKU",),
    "CUSTOMER": ("CUST_ID",),
    "ORDER_HDR": ("ORDER_NO",),
    "ORDER_LINE": ("ORDER_NO", "LINE_NO"),
    "PAYMENT": ("PAY_ID",),
}
BATCH_ROWS = 2000
# A legacy server's permissive mode: zero dates accepted, as MySQL 5 and MariaDB let them in.
LEGACY_SQL_MODE = "NO_ENGINE_SUBSTITUTION"


class Even:
    """Picks `rate` of the rows it is shown, evenly: the i-th (from 1) when floor(i * rate) moves."""

    def __init__(self, rate: float):
        self.rate, self.seen, self.picked = rate, 0, 0

    def __call__(self) -> bool:
        self.seen += 1
        hit = math.floor(self.seen * self.rate) > math.floor((self.seen - 1) * self.rate)
        self.picked += hit
        return hit


def seed_mysql_legacy(
    source: Database,
    scratch_admin_url: str,
    scale: int,
    seed: int,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Drop and recreate the MySQL database of `source` and fill it with the legacy OMS. Returns the
    rows per table and the MySQL defects planted, e.g. ({"CUSTOMER": 10000, ...}, {"mysql.last_upd_zero": 812, ...})."""
    scratch = f"migrate_demo_seed_{os.getpid()}"
    connections.drop_database(scratch_admin_url, scratch)
    connections.create_database(scratch_admin_url, scratch)
    try:
        with psycopg.connect(connections.with_database(scratch_admin_url, scratch)) as pg:
            counts = seed_legacy(pg, scale, seed, progress)
            pg.commit()
            planted = _copy(pg, source)
    finally:
        connections.drop_database(scratch_admin_url, scratch)
    return counts, planted


def _copy(pg: psycopg.Connection, source: Database) -> dict[str, int]:
    admin = Database("source", connections.admin_url(source.url), source.setting, source.embedded)
    connections.drop_database(admin.url, source.name)
    connections.create_database(admin.url, source.name)
    zero = {table: Even(MYSQL_RATES["mysql.last_upd_zero"]) for table in TABLES}
    latin1 = Even(MYSQL_RATES["mysql.city_utf8_in_latin1"])
    with connections.connection(source, command="demo seed") as my:
        my.execute("set session sql_mode = %s", (LEGACY_SQL_MODE,))
        for statement in _read_sql("legacy_schema_mysql.sql").split(";\n"):
            if statement.strip():
                my.execute(statement)
        for table, key in TABLES.items():
            with pg.cursor(name=f"copy_{table.lower()}") as rows:  # a server-side cursor: streamed
                rows.itersize = BATCH_ROWS
                rows.execute(
                    sql.SQL("select * from {} order by {}").format(
                        sql.Identifier("oms", table), sql.SQL(", ").join(map(sql.Identifier, key))
                    )
                )
                batch: list[tuple] = []
                columns: list[str] = []
                for row in rows:
                    if not columns:
                        columns = [d.name for d in rows.description]
                        insert = (
                            f"insert into `{table}` ({', '.join(f'`{c}`' for c in columns)}) "
                            f"values ({', '.join(['%s'] * len(columns))})"
                        )
                    batch.append(_with_defects(table, columns, row, zero[table], latin1))
                    if len(batch) == BATCH_ROWS:
                        my.cursor().executemany(insert, batch)
                        batch = []
                if batch:
                    my.cursor().executemany(insert, batch)
        my.commit()
    return {
        "mysql.last_upd_zero": sum(even.picked for even in zero.values()),
        "mysql.city_utf8_in_latin1": latin1.picked,
    }


def _with_defects(table: str, columns: list[str], row: tuple, zero: Even, latin1: Even) -> tuple:
    values = dict(zip(columns, row))
    if values["LAST_UPD"] is None and zero():
        values["LAST_UPD"] = ZERO_DATETIME
    city = values.get("CITY")
    if table == "CUSTOMER" and city is not None and not city.isascii() and latin1():
        values["CITY"] = city.encode("utf-8")  # a binary string is stored as its bytes: UTF-8 in a latin1 column
    return tuple(values.values())


def _read_sql(name: str) -> str:
    return resources.files("harness.demo").joinpath(name).read_text(encoding="utf-8")
