"""The legacy application of the worked example, writing to "oms" at a steady rate.

Every transaction the database acknowledged is appended to a ledger (one JSON line: table,
key, operation, md5 of the row as committed), only after the commit returned. A ledger is the
proof of zero data loss: each acknowledged write must be in the system the migration ends on,
with its final value. Some transactions are held open for seconds so that commits arrive out of
order, as they do in production.
"""
from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg

from harness import connections
from harness.connections import Database

# md5 of the row exactly as committed, in the form landing holds it (jsonb text is canonical).
ROW_HASH = "md5(to_jsonb(t)::text)"

STATUSES = ["NEW", "OPEN", "SHP", "SHIPPED", "CXL", "RTN"]
METHODS = ["VISA", "MC", "AMEX", "PAYPAL", "CHECK"]


@dataclass
class TrafficReport:
    transactions: int = 0
    writes: int = 0
    failed: int = 0
    slow: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


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
    """One writer: picks a kind of business transaction and runs it."""

    def __init__(self, conn: psycopg.Connection, schema: str, rng: random.Random, ids: Callable[[str], int]):
        self.conn, self.schema, self.rng, self.ids = conn, schema, rng, ids

    def t(self, name: str) -> str:
        return f'"{self.schema}"."{name}"'

    def _one(self, query: str, params: tuple) -> tuple:
        return self.conn.execute(query, params).fetchone()

    def new_customer(self) -> list[dict]:
        cust_id = self.ids("CUSTOMER")
        n = self.rng.randrange(10**6)
        key, digest = self._one(
            f"""insert into {self.t("CUSTOMER")} as t ("CUST_ID", "CUST_NM", "EMAIL_ADDR", "PHONE", "ADDR1", "CITY", "STATE_CD", "POSTAL_CD", "CTRY", "CREATED", "STATUS", "LAST_UPD")
                values (%s, %s, %s, %s, %s, 'Springfield', 'IL', '62701', 'US', to_char(localtimestamp, 'YYYY-MM-DD'), 'A', localtimestamp)
                returning "CUST_ID", {ROW_HASH}""",
            (cust_id, f"Newcustomer, Pat{n}", f"pat{n}@example.com", f"(555) {n % 1000:03d}-{n % 10000:04d}", f"{n % 999} Main St"),
        )
        return [self._entry("CUSTOMER", {"CUST_ID": key}, "I", digest)]

    def new_order(self) -> list[dict]:
        (cust_id,) = self._one(f'select "CUST_ID" from {self.t("CUSTOMER")} order by "CUST_ID" desc limit 1 offset %s', (self.rng.randrange(50),))
        order_no = self.ids("ORDER_HDR")
        entries = []
        lines = []
        for line_no in range(1, self.rng.randint(1, 4) + 1):
            (sku,) = self._one(f'select "SKU" from {self.t("PRODUCT")} offset %s limit 1', (self.rng.randrange(100),))
            lines.append((line_no, sku, self.rng.randint(1, 5), round(self.rng.uniform(1, 200), 2)))
        total = sum(round(q * p, 2) for _, _, q, p in lines)
        _, digest = self._one(
            f"""insert into {self.t("ORDER_HDR")} as t ("ORDER_NO", "CUST_ID", "ORDER_DT", "STATUS_CD", "SHIP_NM", "SHIP_ADDR1", "SHIP_CITY", "SHIP_STATE", "SHIP_POSTAL", "SHIP_CTRY", "ORDER_TOTAL", "CURR_CD", "NOTES", "LAST_UPD")
                values (%s, %s, localtimestamp, 'NEW', 'Pat', '1 Main St', 'Springfield', 'IL', '62701', 'US', %s, 'USD', 'live traffic', localtimestamp)
                returning "ORDER_NO", {ROW_HASH}""",
            (order_no, cust_id, f"{total:.2f}"),
        )
        entries.append(self._entry("ORDER_HDR", {"ORDER_NO": order_no}, "I", digest))
        for line_no, sku, qty, price in lines:
            (digest,) = self._one(
                f"""insert into {self.t("ORDER_LINE")} as t ("ORDER_NO", "LINE_NO", "SKU", "QTY", "UNIT_PRICE", "DISC_PCT", "LAST_UPD")
                    values (%s, %s, %s, %s, %s, null, localtimestamp) returning {ROW_HASH}""",
                (order_no, line_no, sku, qty, price),
            )
            entries.append(self._entry("ORDER_LINE", {"ORDER_NO": order_no, "LINE_NO": line_no}, "I", digest))
        pay_id = self.ids("PAYMENT")
        (digest,) = self._one(
            f"""insert into {self.t("PAYMENT")} as t ("PAY_ID", "ORDER_NO", "METHOD", "AMOUNT", "PAID_AT", "CARD_NO", "LAST_UPD")
                values (%s, %s, %s, %s, localtimestamp, %s, localtimestamp) returning {ROW_HASH}""",
            (pay_id, order_no, self.rng.choice(METHODS), total, f"{self.rng.randrange(10000):04d}"),
        )
        entries.append(self._entry("PAYMENT", {"PAY_ID": pay_id}, "I", digest))
        return entries

    def change_status(self) -> list[dict]:
        row = self._one(
            f"""update {self.t("ORDER_HDR")} as t set "STATUS_CD" = %s, "LAST_UPD" = localtimestamp
                where "ORDER_NO" = (select "ORDER_NO" from {self.t("ORDER_HDR")} order by "ORDER_NO" desc limit 1 offset %s)
                returning "ORDER_NO", {ROW_HASH}""",
            (self.rng.choice(STATUSES), self.rng.randrange(200)),
        )
        return [self._entry("ORDER_HDR", {"ORDER_NO": row[0]}, "U", row[1])] if row else []

    def edit_customer(self) -> list[dict]:
        n = self.rng.randrange(10**6)
        row = self._one(
            f"""update {self.t("CUSTOMER")} as t set "EMAIL_ADDR" = %s, "ADDR1" = %s, "LAST_UPD" = localtimestamp
                where "CUST_ID" = (select "CUST_ID" from {self.t("CUSTOMER")} order by "CUST_ID" desc limit 1 offset %s)
                returning "CUST_ID", {ROW_HASH}""",
            (f"edited{n}@example.com", f"{n % 999} Oak Ave", self.rng.randrange(500)),
        )
        return [self._entry("CUSTOMER", {"CUST_ID": row[0]}, "U", row[1])] if row else []

    def delete_line(self) -> list[dict]:
        row = self._one(
            f"""delete from {self.t("ORDER_LINE")} t
                where ("ORDER_NO", "LINE_NO") = (select "ORDER_NO", "LINE_NO" from {self.t("ORDER_LINE")} where "LINE_NO" > 1
                                                   order by "ORDER_NO" desc limit 1 offset %s)
                returning "ORDER_NO", "LINE_NO\"""",
            (self.rng.randrange(200),),
        )
        return [self._entry("ORDER_LINE", {"ORDER_NO": row[0], "LINE_NO": row[1]}, "D", None)] if row else []

    @staticmethod
    def _entry(table: str, key: dict, op: str, digest: str | None) -> dict:
        return {"table": table, "key": key, "op": op, "md5": digest, "at": time.time()}

    KINDS = {"new_order": 0.35, "new_customer": 0.15, "change_status": 0.25, "edit_customer": 0.15, "delete_line": 0.10}


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
) -> TrafficReport:
    """Run business transactions at `rate` per second for `duration` seconds (or until `stop`)."""
    report = TrafficReport()
    ledger = Ledger(ledger_path)
    lock = threading.Lock()
    stop = stop or threading.Event()
    next_ids: dict[str, int] = {}
    with connections.connection(db, command="demo traffic") as conn:
        for table, key in (("CUSTOMER", "CUST_ID"), ("ORDER_HDR", "ORDER_NO"), ("PAYMENT", "PAY_ID")):
            (top,) = conn.execute(f'select coalesce(max("{key}"), 0) from "{schema}"."{table}"').fetchone()
            next_ids[table] = top + 1_000_000  # well above the generated ids, so gaps are plausible

    def allocate(table: str) -> int:
        with lock:
            next_ids[table] += 1
            return next_ids[table]

    started = time.monotonic()
    per_worker_interval = workers / rate

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        kinds, weights = zip(*LegacyApp.KINDS.items())
        with connections.connection(db, command="demo traffic") as conn:
            app = LegacyApp(conn, schema, rng, allocate)
            due = time.monotonic()
            while not stop.is_set() and time.monotonic() - started < duration:
                kind = rng.choices(kinds, weights)[0]
                slow = rng.random() < slow_share
                try:
                    entries = getattr(app, kind)()
                    if slow:
                        time.sleep(slow_seconds)  # held open: commits after transactions that started later
                    conn.commit()
                except psycopg.Error as exc:
                    conn.rollback()
                    with lock:
                        report.failed += 1
                        if len(report.errors) < 5:
                            report.errors.append(str(exc).splitlines()[0])
                    if isinstance(exc, psycopg.OperationalError) and conn.closed:
                        return
                    continue
                ledger.record(entries)  # only after the commit was acknowledged
                with lock:
                    report.transactions += 1
                    report.writes += len(entries)
                    report.slow += slow
                    report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
                due += per_worker_interval
                time.sleep(max(0.0, due - time.monotonic()))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger.close()
    report.seconds = time.monotonic() - started
    return report
