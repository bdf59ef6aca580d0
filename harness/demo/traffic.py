"""The applications of the worked example: the legacy one writing "oms", the new one writing "app".

Every transaction the database acknowledged is appended to a ledger (one JSON line: table,
key, operation, md5 of the row as committed), only after the commit returned. A ledger is the
proof of zero data loss: each acknowledged write must be in the system the migration ends on,
with its final value. Some transactions are held open for seconds so that commits arrive out of
order, as they do in production.

With a routing file (written by cutover and fallback), each writer follows it: a write refused by
the freeze is retried until the routing names the other side, then the writer carries on there.
The new application's ledger lines also say what each write must look like in the legacy schema
after a fallback (`legacy`: table, key, expected column values), so one ledger proves both.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg

from harness.core import connections
from harness.core.connections import Database
from harness.demo import ledger

# md5 of the row exactly as committed, as the ledger checks it in landing.
ROW_HASH = ledger.row_digest("t")

STATUSES = ["NEW", "OPEN", "SHP", "SHIPPED", "CXL", "RTN"]
METHODS = ["VISA", "MC", "AMEX", "PAYPAL", "CHECK"]


# How long a refused writer waits before it tries again: soon enough to see writes come back
# within a few hundredths of a second, not so soon that the retries load the server under the cutover.
REFUSED_RETRY_SECONDS = 0.05


@dataclass
class TrafficReport:
    transactions: int = 0
    writes: int = 0
    failed: int = 0
    slow: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    refused: int = 0  # writes refused by a freeze, then retried
    retried: int = 0  # transactions rolled back by a deadlock, then retried
    by_side: dict[str, int] = field(default_factory=dict)  # acknowledged transactions per side
    # Each time writes stopped being accepted: (first refused, first accepted again), epoch seconds.
    outages: list[tuple[float, float]] = field(default_factory=list)

    @property
    def longest_outage(self) -> float | None:
        return max((end - start for start, end in self.outages), default=None)


class Ledger:
    """Acknowledged writes, appended after commit, flushed per transaction."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def record(self, entries: list[dict]) -> None:
        with self._lock:
            for entry in entries:
                self._file.write(json.dumps(entry) + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()


class LegacyApp:
    """One writer: picks a kind of business transaction and runs it.

    The SQL is its side's dialect's (harness/demo/dialects.py): PostgreSQL's for a PostgreSQL source,
    MySQL's through PyMySQL for a MySQL-family one; each write's ledger line holds what the dialect
    reads back of the row as committed (PostgreSQL: the md5 of its jsonb; MySQL: its canonical hash)."""

    def __init__(self, conn, schema: str, rng: random.Random, ids: Callable[[str], int], dialect, tables: dict):
        self.conn, self.schema, self.rng, self.ids = conn, schema, rng, ids
        self.dialect, self.tables = dialect, tables  # tables: generic_traffic.Shape of each legacy table
        dialect.prepare(conn)

    def t(self, name: str) -> str:
        return self.dialect.name(self.schema, name)

    def c(self, name: str) -> str:
        return self.dialect.name(name)

    def _one(self, query: str, params: tuple) -> tuple | None:
        rows = self.dialect.rows(self.conn, query, params)
        return rows[0] if rows else None

    def _newest(self, table: str, key: str, offset: int, where: str = "") -> object | None:
        """The key of one of the newest rows by `key` (an index scan), or None."""
        row = self._one(
            f"select {self.c(key)} from {self.t(table)} {where} order by {self.c(key)} desc limit 1 offset %s",
            (offset,),
        )
        return row[0] if row else None

    def _insert(self, table: str, values: dict) -> list[dict]:
        shape = self.tables[table]
        written = self.dialect.insert(self.conn, self.schema, shape, values)
        return [self._entry(table, {c: written.key[c] for c in shape.key}, "I", written.content)]

    def _update(self, table: str, assigned: dict, key: dict) -> list[dict]:
        shape = self.tables[table]
        written = self.dialect.update(self.conn, self.schema, shape, assigned, key)
        # The key in the table's key order (jsonb orders an object's keys by length).
        return [self._entry(table, {c: written.key[c] for c in shape.key}, "U", written.content)] if written else []

    @staticmethod
    def _now() -> str:
        return datetime.now().isoformat(sep=" ")

    def new_customer(self) -> list[dict]:
        n = self.rng.randrange(10**6)
        return self._insert(
            "CUSTOMER",
            {
                "CUST_ID": self.ids("CUSTOMER"),
                "CUST_NM": f"Newcustomer, Pat{n}",
                "EMAIL_ADDR": f"pat{n}@example.com",
                "PHONE": f"(555) {n % 1000:03d}-{n % 10000:04d}",
                "ADDR1": f"{n % 999} Main St",
                "CITY": "Springfield",
                "STATE_CD": "IL",
                "POSTAL_CD": "62701",
                "CTRY": "US",
                "CREATED": date.today().isoformat(),
                "STATUS": "A",
                "LAST_UPD": self._now(),
            },
        )

    def new_order(self) -> list[dict]:
        cust_id = self._newest("CUSTOMER", "CUST_ID", self.rng.randrange(50))
        order_no = self.ids("ORDER_HDR")
        lines = []
        for line_no in range(1, self.rng.randint(1, 4) + 1):
            (sku,) = self._one(
                f"select {self.c('SKU')} from {self.t('PRODUCT')} limit 1 offset %s", (self.rng.randrange(100),)
            )
            lines.append((line_no, sku, self.rng.randint(1, 5), round(self.rng.uniform(1, 200), 2)))
        total = sum(round(q * p, 2) for _, _, q, p in lines)
        now = self._now()
        entries = self._insert(
            "ORDER_HDR",
            {
                "ORDER_NO": order_no,
                "CUST_ID": cust_id,
                "ORDER_DT": now,
                "STATUS_CD": "NEW",
                "SHIP_NM": "Pat",
                "SHIP_ADDR1": "1 Main St",
                "SHIP_CITY": "Springfield",
                "SHIP_STATE": "IL",
                "SHIP_POSTAL": "62701",
                "SHIP_CTRY": "US",
                "ORDER_TOTAL": f"{total:.2f}",
                "CURR_CD": "USD",
                "NOTES": "live traffic",
                "LAST_UPD": now,
            },
        )
        for line_no, sku, qty, price in lines:
            entries += self._insert(
                "ORDER_LINE",
                {
                    "ORDER_NO": order_no,
                    "LINE_NO": line_no,
                    "SKU": sku,
                    "QTY": qty,
                    "UNIT_PRICE": price,
                    "DISC_PCT": None,
                    "LAST_UPD": now,
                },
            )
        entries += self._insert(
            "PAYMENT",
            {
                "PAY_ID": self.ids("PAYMENT"),
                "ORDER_NO": order_no,
                "METHOD": self.rng.choice(METHODS),
                "AMOUNT": total,
                "PAID_AT": now,
                "CARD_NO": f"{self.rng.randrange(10000):04d}",
                "LAST_UPD": now,
            },
        )
        return entries

    def change_status(self) -> list[dict]:
        status, offset = self.rng.choice(STATUSES), self.rng.randrange(200)
        order_no = self._newest("ORDER_HDR", "ORDER_NO", offset)
        if order_no is None:
            return []
        return self._update("ORDER_HDR", {"STATUS_CD": status, "LAST_UPD": self._now()}, {"ORDER_NO": order_no})

    def edit_customer(self) -> list[dict]:
        n = self.rng.randrange(10**6)
        assigned = {"EMAIL_ADDR": f"edited{n}@example.com", "ADDR1": f"{n % 999} Oak Ave", "LAST_UPD": self._now()}
        cust_id = self._newest("CUSTOMER", "CUST_ID", self.rng.randrange(500))
        return [] if cust_id is None else self._update("CUSTOMER", assigned, {"CUST_ID": cust_id})

    def delete_line(self) -> list[dict]:
        row = self._one(
            f"select {self.c('ORDER_NO')}, {self.c('LINE_NO')} from {self.t('ORDER_LINE')} "
            f"where {self.c('LINE_NO')} > 1 order by {self.c('ORDER_NO')} desc limit 1 offset %s",
            (self.rng.randrange(200),),
        )
        if not row:
            return []
        key = {"ORDER_NO": int(row[0]), "LINE_NO": int(row[1])}
        if not self.dialect.delete(self.conn, self.schema, self.tables["ORDER_LINE"], key):
            return []
        return [self._entry("ORDER_LINE", key, "D", {"md5": None})]

    @staticmethod
    def _entry(table: str, key: dict, op: str, content: dict) -> dict:
        return {"table": table, "key": key, "op": op, **content, "at": time.time()}

    KINDS = {"new_order": 0.35, "new_customer": 0.15, "change_status": 0.25, "edit_customer": 0.15, "delete_line": 0.10}


# The legacy codes each new status reads back as (the forward mapping's seed, upper and lower case).
LEGACY_STATUS_CODES = {
    "placed": ["NEW", "OPEN"],
    "shipped": ["SHP", "SHIPPED"],
    "cancelled": ["CXL", "CANCEL", "CANCELLED"],
    "returned": ["RTN", "RETURNED"],
}


def _codes(codes: list[str]) -> list[str]:
    return codes + [c.lower() for c in codes]


def _money_text(cents: int, currency: str) -> str:
    text = f"{cents / 100:.2f}"
    return text.replace(".", ",") if currency == "EUR" else text


class NewApp:
    """The new application: the same kinds of business transactions, written to `app`.

    Each ledger line carries, beside the app row's md5, the legacy row it must become after a
    fallback: a key that is either a legacy number or, for a record born here, {"born": entity,
    "id": app id} (resolved through the fallback's legacy key map), and the values it must hold.
    """

    KINDS = LegacyApp.KINDS

    def __init__(self, conn: psycopg.Connection, rng: random.Random):
        self.conn, self.rng = conn, rng

    def _one(self, query: str, params: tuple = ()) -> tuple:
        return self.conn.execute(query, params).fetchone()

    @staticmethod
    def _key(legacy: int | None, entity: str, app_id: int) -> int | dict:
        return legacy if legacy is not None else {"born": entity, "id": app_id}

    @staticmethod
    def _entry(
        table: str, key: dict, op: str, digest: str | None, legacy_table: str, legacy_key: dict, values: dict
    ) -> dict:
        return {
            "app": "new",
            "table": table,
            "key": key,
            "op": op,
            "md5": digest,
            "at": time.time(),
            "legacy": {"table": legacy_table, "key": legacy_key, "values": values},
        }

    def new_customer(self) -> list[dict]:
        n = self.rng.randrange(10**9)
        given, family = self.rng.choice(["Ada", "Ben", "Cleo", "Dev"]), f"Newman{n % 997}"
        line1 = f"{n % 9999} Elm St"
        (address_id,) = self._one(
            """insert into app.address (line1, city, region, postal_code, country_code)
               values (%s, 'Springfield', 'IL', '62701', 'US')
               on conflict (line1, line2, city, region, postal_code, country_code)
               do update set line1 = excluded.line1 returning address_id""",
            (line1,),
        )
        email, phone = f"new{n}@example.com", f"+1555{n % 10**7:07d}"
        customer_id, digest = self._one(
            f"""insert into app.customer as t (given_name, family_name, display_name, email, phone_e164, status,
                                               billing_address_id, created_at, updated_at)
                values (%s, %s, %s, %s, %s, 'active', %s, now(), now()) returning customer_id, {ROW_HASH}""",
            (given, family, f"{given} {family}", email, phone, address_id),
        )
        values = {
            "CUST_NM": f"{given} {family}",
            "EMAIL_ADDR": email,
            "PHONE": phone,
            "ADDR1": line1,
            "CITY": "Springfield",
            "STATE_CD": "IL",
            "POSTAL_CD": "62701",
            "CTRY": "US",
            "STATUS": "A",
        }
        return [
            self._entry(
                "customer",
                {"customer_id": customer_id},
                "I",
                digest,
                "CUSTOMER",
                {"CUST_ID": self._key(None, "customer", customer_id)},
                values,
            )
        ]

    def new_order(self) -> list[dict]:
        customer_id, legacy_cust_id, address_id = self._one(
            "select customer_id, legacy_cust_id, billing_address_id from app.customer "
            "order by customer_id desc limit 1 offset %s",
            (self.rng.randrange(50),),
        )
        lines = []
        for line_no in range(1, self.rng.randint(1, 4) + 1):
            product_id, sku = self._one(
                "select product_id, sku from app.product offset %s limit 1", (self.rng.randrange(100),)
            )
            lines.append((line_no, product_id, sku, self.rng.randint(1, 5), self.rng.randrange(100, 20000)))
        total = sum(qty * price for _, _, _, qty, price in lines)
        order_id, digest = self._one(
            f"""insert into app.sales_order as t
                    (customer_id, ordered_at, status, shipping_address_id, currency, total_cents, notes)
                values (%s, now(), 'placed', %s, 'USD', %s, 'new application') returning order_id, {ROW_HASH}""",
            (customer_id, address_id, total),
        )
        order_key = self._key(None, "sales_order", order_id)
        entries = [
            self._entry(
                "sales_order",
                {"order_id": order_id},
                "I",
                digest,
                "ORDER_HDR",
                {"ORDER_NO": order_key},
                {
                    "CUST_ID": self._key(legacy_cust_id, "customer", customer_id),
                    "STATUS_CD": _codes(LEGACY_STATUS_CODES["placed"]),
                    "ORDER_TOTAL": _money_text(total, "USD"),
                    "CURR_CD": "USD",
                    "NOTES": "new application",
                },
            )
        ]
        for line_no, product_id, sku, qty, price in lines:
            (digest,) = self._one(
                f"""insert into app.order_line as t
                        (order_id, line_no, product_id, quantity, unit_price_cents, discount_bps, line_total_cents)
                    values (%s, %s, %s, %s, %s, 0, %s) returning {ROW_HASH}""",
                (order_id, line_no, product_id, qty, price, qty * price),
            )
            entries.append(
                self._entry(
                    "order_line",
                    {"order_id": order_id, "line_no": line_no},
                    "I",
                    digest,
                    "ORDER_LINE",
                    {"ORDER_NO": order_key, "LINE_NO": line_no},
                    {"SKU": sku, "QTY": qty, "UNIT_PRICE": price / 100, "DISC_PCT": 0},
                )
            )
        last4 = f"{self.rng.randrange(10000):04d}"
        payment_id, digest = self._one(
            f"""insert into app.payment as t (order_id, method, amount_cents, currency, paid_at, card_last4)
                values (%s, 'card_visa', %s, 'USD', now(), %s) returning payment_id, {ROW_HASH}""",
            (order_id, total, last4),
        )
        entries.append(
            self._entry(
                "payment",
                {"payment_id": payment_id},
                "I",
                digest,
                "PAYMENT",
                {"PAY_ID": self._key(None, "payment", payment_id)},
                {"ORDER_NO": order_key, "METHOD": "VISA", "AMOUNT": total / 100, "CARD_NO": last4},
            )
        )
        return entries

    def change_status(self) -> list[dict]:
        status = self.rng.choice(list(LEGACY_STATUS_CODES))
        row = self._one(
            f"""update app.sales_order as t set status = %s
                where order_id = (select order_id from app.sales_order order by order_id desc limit 1 offset %s)
                returning order_id, legacy_order_no, {ROW_HASH}""",
            (status, self.rng.randrange(200)),
        )
        if not row:
            return []
        order_id, legacy, digest = row
        return [
            self._entry(
                "sales_order",
                {"order_id": order_id},
                "U",
                digest,
                "ORDER_HDR",
                {"ORDER_NO": self._key(legacy, "sales_order", order_id)},
                {"STATUS_CD": _codes(LEGACY_STATUS_CODES[status])},
            )
        ]

    def edit_customer(self) -> list[dict]:
        n = self.rng.randrange(10**9)
        email, phone = f"edited{n}@example.com", f"+1666{n % 10**7:07d}"
        row = self._one(
            f"""update app.customer as t set email = %s, phone_e164 = %s, updated_at = now()
                where customer_id = (select customer_id from app.customer order by customer_id desc limit 1 offset %s)
                returning customer_id, legacy_cust_id, {ROW_HASH}""",
            (email, phone, self.rng.randrange(500)),
        )
        if not row:
            return []
        customer_id, legacy, digest = row
        return [
            self._entry(
                "customer",
                {"customer_id": customer_id},
                "U",
                digest,
                "CUSTOMER",
                {"CUST_ID": self._key(legacy, "customer", customer_id)},
                {"EMAIL_ADDR": email, "PHONE": phone},
            )
        ]

    def delete_line(self) -> list[dict]:
        row = self._one(
            """delete from app.order_line t
               where (order_id, line_no) = (select order_id, line_no from app.order_line where line_no > 1
                                            order by order_id desc limit 1 offset %s)
               returning order_id, line_no, line_total_cents""",
            (self.rng.randrange(200),),
        )
        if not row:
            return []
        order_id, line_no, line_total = row
        # The order's total stays the sum of its lines (business rule 4).
        legacy, total, currency, digest = self._one(
            f"""update app.sales_order as t set total_cents = total_cents - %s where order_id = %s
                returning legacy_order_no, total_cents, currency, {ROW_HASH}""",
            (line_total, order_id),
        )
        order_key = self._key(legacy, "sales_order", order_id)
        return [
            self._entry(
                "order_line",
                {"order_id": order_id, "line_no": line_no},
                "D",
                None,
                "ORDER_LINE",
                {"ORDER_NO": order_key, "LINE_NO": line_no},
                {},
            ),
            self._entry(
                "sales_order",
                {"order_id": order_id},
                "U",
                digest,
                "ORDER_HDR",
                {"ORDER_NO": order_key},
                {"ORDER_TOTAL": _money_text(total, currency)},
            ),
        ]


class Routing:
    """Which side the applications write to, read from the routing file cutover and fallback write."""

    def __init__(self, path: Path | None):
        self.path, self._mtime, self._side = path, None, "legacy"

    def side(self) -> str:
        if self.path is None:
            return "legacy"
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return "legacy"
        if mtime != self._mtime:
            self._mtime, self._side = mtime, json.loads(self.path.read_text()).get("writes", "legacy")
        return self._side


def run_traffic(
    db: Database,
    schema: str,
    ledger_path: Path,
    *,
    rate: float,
    duration: float,
    workers: int = 4,
    slow_share: float = 0.02,
    slow_seconds: float = 2.0,
    seed: int = 7,
    stop: threading.Event | None = None,
    new_db: Database | None = None,
    routing_file: Path | None = None,
    start_side: str | None = None,
    masks: dict[str, dict[str, str]] | None = None,
) -> TrafficReport:
    """Run business transactions at `rate` per second for `duration` seconds (or until `stop`).

    Writes go to the legacy application's `db`, or to the new application's `new_db` (schema
    `app`) where the routing file (or `start_side`) says "new". `db` is PostgreSQL or MySQL-family
    (by its URL); `masks` (each table's, as migration.yml names them) are those of a MySQL source's
    ledger hashes, which hash the row as load copies it.
    """
    from harness.demo.dialects import MysqlDialect, PostgresDialect
    from harness.demo.generic_traffic import shapes

    dialect = MysqlDialect(masks) if db.engine == "mysql" else PostgresDialect(TRANSIENT)
    lock = threading.Lock()
    next_ids: dict[str, int] = {}
    tables: dict = {}  # the legacy tables' shapes, read once

    def refresh_ids(side: str) -> None:
        """Continue above the legacy keys in use (a fallback may have allocated some). The reads run
        outside `lock`: a writer mid-transaction may need it while they wait for a lock of the freeze."""
        if side != "legacy":
            return
        above = 0 if next_ids else 1_000_000  # at first well above the generated ids, so gaps are plausible
        with connections.connection(db, command="demo traffic", autocommit=True) as conn:
            tops = {
                table: dialect.counter_top(conn, schema, table, key)
                for table, key in (("CUSTOMER", "CUST_ID"), ("ORDER_HDR", "ORDER_NO"), ("PAYMENT", "PAY_ID"))
            }
            described = None if tables else shapes(dialect.describe(conn, schema), dialect=dialect)
        with lock:
            if described is not None and not tables:
                tables.update(described)
            for table, top in tops.items():
                next_ids[table] = max(next_ids.get(table, 0), top + above)

    def allocate(table: str) -> int:
        with lock:
            next_ids[table] += 1
            return next_ids[table]

    def make_app(side: str, conn: psycopg.Connection, rng: random.Random):
        return LegacyApp(conn, schema, rng, allocate, dialect, tables) if side == "legacy" else NewApp(conn, rng)

    return drive(
        {"legacy": db, "new": new_db},
        ledger_path,
        make_app,
        LegacyApp.KINDS,
        refresh_ids,
        rate=rate,
        duration=duration,
        workers=workers,
        slow_share=slow_share,
        slow_seconds=slow_seconds,
        seed=seed,
        stop=stop,
        routing_file=routing_file,
        start_side=start_side,
        errors={"legacy": dialect.errors} if db.engine == "mysql" else None,
    )


# Errors after which a transaction is rolled back and tried again, never acknowledged, as any application does.
TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


@dataclass(frozen=True)
class Errors:
    """How the writers' loop tells one side's database errors apart (its driver's classes)."""

    transient: Callable[[BaseException], bool]  # rolled back and retried, never acknowledged
    refused: Callable[[BaseException], bool]  # a write freeze: wait, retry, follow the routing
    failed: tuple[type[BaseException], ...]  # any error of the driver
    dropped: tuple[type[BaseException], ...]  # connecting failed: the database went away
    closed: Callable[[Any], bool]  # the session was ended


def postgres_errors(transient: tuple[type[Exception], ...] = TRANSIENT) -> Errors:
    return Errors(
        transient=lambda exc: isinstance(exc, transient),
        refused=lambda exc: isinstance(exc, psycopg.errors.ReadOnlySqlTransaction),
        failed=(psycopg.Error,),
        dropped=(psycopg.OperationalError,),
        closed=lambda conn: conn.closed,
    )


def drive(
    databases: dict[str, Database | None],
    ledger_path: Path,
    make_app: Callable[[str, psycopg.Connection, random.Random], object],
    kinds: dict[str, float],
    refresh: Callable[[str], None],
    *,
    rate: float,
    duration: float,
    workers: int,
    slow_share: float,
    slow_seconds: float,
    seed: int,
    stop: threading.Event | None,
    routing_file: Path | None,
    start_side: str | None,
    transient: tuple[type[Exception], ...] = TRANSIENT,
    errors: dict[str, Errors] | None = None,
) -> TrafficReport:
    """Writers at `rate` transactions per second: each picks a kind of transaction (a method of the
    application `make_app` gives for the side the routing names), commits it, then records its
    ledger entries. `refresh(side)` is called before writing a side, and again after a switch to it.
    `errors`: each side's driver's errors, where it is not PostgreSQL (whose are `transient` and psycopg's)."""
    report = TrafficReport()
    ledger = Ledger(ledger_path)
    lock = threading.Lock()
    # Held from each commit to its ledger line: when one write waited for another's row lock, it
    # commits second and is recorded second, so a row's last ledger entry is its final content.
    commit_order = threading.Lock()
    stop = stop or threading.Event()
    routing = Routing(routing_file)

    def side_now() -> str:
        return start_side if start_side and routing_file is None else routing.side()

    refresh(side_now())
    started = time.monotonic()
    per_worker_interval = workers / rate
    outage: list[float | None] = [None]  # when writes started being refused

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        names, weights = zip(*kinds.items())
        conns: dict[str, psycopg.Connection] = {}
        previous = side_now()
        try:
            due = time.monotonic()
            while not stop.is_set() and time.monotonic() - started < duration:
                side = side_now()
                if side != previous:
                    refresh(side)
                previous = side
                failures = (errors or {}).get(side) or postgres_errors(transient)
                if side not in conns:
                    try:
                        conns[side] = connections.connect(databases[side], command="demo traffic")
                    except failures.dropped:
                        return  # the database went away: this worker is done
                conn = conns[side]
                app = make_app(side, conn, rng)
                kind = rng.choices(names, weights)[0]
                slow = rng.random() < slow_share
                began = time.time()
                try:
                    entries = getattr(app, kind)()
                    if slow:
                        time.sleep(slow_seconds)  # held open: commits after transactions that started later
                    with commit_order:
                        conn.commit()
                        ledger.record(entries)  # only once acknowledged, in commit order
                except failures.failed as exc:
                    if failures.transient(exc):
                        conn.rollback()  # transient, as in any application: retried, never acknowledged
                        with lock:
                            report.retried += 1
                        continue
                    if failures.refused(exc):
                        conn.rollback()  # frozen for a cutover or a fallback: wait, retry, follow the routing
                        with lock:
                            report.refused += 1
                            outage[0] = outage[0] or time.time()
                        time.sleep(REFUSED_RETRY_SECONDS)
                        continue
                    if failures.closed(conn):
                        # The session was ended (a freeze's drain timeout ends those left open):
                        # never acknowledged, so retried on a new connection, like a refused write.
                        del conns[side]
                        with lock:
                            report.refused += 1
                            outage[0] = outage[0] or time.time()
                        continue
                    conn.rollback()
                    with lock:
                        report.failed += 1
                        if len(report.errors) < 5:
                            report.errors.append(str(exc).splitlines()[0])
                    continue
                with lock:
                    # Writes are available again when a transaction begun after the first refusal
                    # commits (a commit of one in flight during the freeze does not count).
                    if outage[0] is not None and began > outage[0]:
                        report.outages.append((outage[0], time.time()))
                        outage[0] = None
                    report.transactions += 1
                    report.writes += len(entries)
                    report.slow += slow
                    report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
                    report.by_side[side] = report.by_side.get(side, 0) + 1
                due += per_worker_interval
                time.sleep(max(0.0, due - time.monotonic()))
        finally:
            for conn in conns.values():
                conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger.close()
    report.seconds = time.monotonic() - started
    return report


def verify_after_fallback(
    source_conn, schema: str, target_conn: psycopg.Connection, ledger_path: Path, dialect=None
) -> ledger.LedgerCheck:
    """Both applications' acknowledged writes against the legacy schema after a fallback.

    The new application's writes are checked in their legacy form: records born in the new system
    under the legacy keys the fallback allocated (fallback.legacy_keys on the target), and the
    values of successive writes to one row merged, the later winning. `dialect`: the legacy
    database's, where it is not PostgreSQL (a MySQL-family source).
    """
    allocated = {
        (entity, app_id): key
        for entity, app_id, key in target_conn.execute("select entity, app_id, legacy_key from fallback.legacy_keys")
    }

    def resolve(value):
        return allocated.get((value["born"], value["id"])) if isinstance(value, dict) else value

    in_legacy_form: list[dict] = []
    last: dict[tuple, dict] = {}
    for entry in ledger.entries(ledger_path, app=None):
        if entry.get("app") == "new":
            legacy = entry["legacy"]
            key = {k: resolve(v) for k, v in legacy["key"].items()}
            values = {k: resolve(v) for k, v in legacy["values"].items()}
            identity = (legacy["table"], json.dumps(key, sort_keys=True))
            before = last.get(identity)
            if entry["op"] == "U" and before and "values" in before and before["op"] != "D":
                values = {**before["values"], **values}
            entry = {"table": legacy["table"], "key": key, "op": entry["op"], "values": values}
        last[(entry["table"], json.dumps(entry["key"], sort_keys=True))] = entry
        in_legacy_form.append(entry)
    final = ledger.final_entries(in_legacy_form)
    # A MySQL-family legacy schema is checked by its dialect (harness/demo/dialects.py MysqlDialect.check).
    return dialect.check(source_conn, schema, final) if dialect else ledger.check(source_conn, schema, final)
