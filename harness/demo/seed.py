"""The deterministic generator of the legacy OMS source of the worked migration.

The legacy data is computed inside PostgreSQL by one `insert ... select ... from
generate_series` per table (harness/demo/seed_*.sql), never row by row from Python, in one
transaction; primary keys are built after the load. The same (scale, seed) always gives the
same rows.

Every column is a pure function of row numbers, with two kinds of pseudo-randomness:

* `pg_temp.rnd(k, stream)`: a hash of k (hashint8extended). It picks values: names, cities,
  prices, digits.
* `pg_temp.strat(k, stream)`: the Weyl sequence frac(k * a + phase), a = frac(sqrt(prime)).
  It decides classes: formats and defects, as named in RATES. Its values are spread evenly
  over [0, 1), so a 0.05% defect is in 0.05% of the rows, give or take a row or two, at every
  scale; a hash would miss by a third on 30,000 rows and could miss a rare defect entirely.
  Two such sequences of the same rows are not independent enough for a class drawn only among
  the rows of another class (phone formats among the customers of a country): those draws
  number the rows within their group first (see seed_customer.sql).

The seed shifts every phase and salts every hash. No random(), no session state: nothing
depends on the plan, the locale, the time zone setting or the number of workers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from importlib import resources
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from harness.core.errors import HarnessError

# Every share the generator uses: defects at the rates of docs/worked-migration.md, plus the
# shape of normal data. A float is the share of the table's rows unless its comment says of
# which rows; a dict splits the rows into classes (its shares add up to 1; None means NULL).
RATES: dict[str, float | dict[str | None, float]] = {
    # CUSTOMER
    "customer.name_format": {"last_first_upper": 0.60, "first_last": 0.28, "first_last_upper": 0.10, "company": 0.02},
    "customer.email": {"null": 0.03, "invalid": 0.015, "valid": 0.955},
    "customer.email_blanks": 0.05,
    "customer.email_case": {"lower": 0.60, "capitalised": 0.30, "upper": 0.10},
    "customer.duplicate": 0.02,
    "customer.country": {
        None: 0.05,
        "US": 0.30,
        "USA": 0.20,
        "U.S.A.": 0.05,
        "United States": 0.15,
        "us": 0.05,
        "CA": 0.05,
        "Canada": 0.03,
        "GB": 0.03,
        "UK": 0.03,
        "United Kingdom": 0.01,
        "DE": 0.03,
        "Germany": 0.02,
    },
    "customer.postal_lost_zero": 0.03,  # of US customers (CTRY a US spelling or NULL)
    "customer.postal_zip4": 0.10,  # of US customers
    "customer.phone_nanp": {  # of US and Canadian customers
        "parentheses": 0.35,
        "dots": 0.15,
        "plus_one": 0.15,
        "dashes": 0.10,
        "digits": 0.08,
        "extension": 0.04,
        "local_only": 0.03,
        "empty": 0.05,
        "null": 0.05,
    },
    "customer.phone_intl": {
        "international": 0.50,
        "national": 0.30,
        "international_zero": 0.10,
        "empty": 0.05,
        "null": 0.05,
    },  # of GB and DE customers
    "customer.created_format": {
        "iso": 0.50,
        "us": 0.30,
        "compact": 0.10,
        "dd_mon_yy": 0.08,
        "empty": 0.01,
        "null": 0.01,
    },
    "customer.created_impossible": 0.002,
    "customer.status": {"A": 0.80, "I": 0.12, "X": 0.08},
    "customer.status_defect": {"lower": 0.01, "null": 0.01, "none": 0.98},
    "customer.edited": 0.30,  # written again after the day it was created
    "customer.last_upd_null": 0.10,  # of rows last written before 2012
    # PRODUCT
    "product.sku_twin": 0.005,
    "product.cat_path": {" > ": 0.60, "/": 0.10, " / ": 0.10, ">": 0.10, "  >  ": 0.08, None: 0.02},
    "product.price_float": {"exact": 0.50, "below": 0.25, "above": 0.25},
    "product.active": {"Y": 0.50, "N": 0.10, "y": 0.10, "n": 0.05, "1": 0.10, "0": 0.05, "YES": 0.10},
    "product.last_upd_null": 0.10,  # of rows last written before 2012
    # ORDER_HDR
    "order.customer": {"missing": 0.005, "null": 0.002, "known": 0.993},
    "order.placed_special": {"spring_gap": 0.0005, "autumn_repeat": 0.001, "natural": 0.9985},
    "order.status": {
        "NEW": 0.07,
        "OPEN": 0.08,
        "SHP": 0.40,
        "SHIPPED": 0.30,
        "CXL": 0.06,
        "CANCEL": 0.04,
        "RTN": 0.049,
        "unknown": 0.001,
    },
    "order.status_lower": 0.03,
    "order.ship_address": {"customer": 0.70, "other": 0.30},
    "order.ship_variation": {
        "exact": 0.40,
        "upper": 0.20,
        "blanks": 0.15,
        "street_suffix": 0.15,
        "country": 0.10,
    },  # of ship-to-customer
    "order.currency": {None: 0.10, "USD": 0.60, "EUR": 0.15, "GBP": 0.10, "CAD": 0.05},
    "order.total": {"empty": 0.005, "disagree": 0.01, "line_sum": 0.985},
    "order.total_format": {"symbol": 0.45, "plain": 0.30, "code": 0.25},
    "order.notes": {None: 0.55, "": 0.05, "text": 0.40},
    "order.notes_huge": 0.0001,
    "order.line_count": {"1": 0.20, "2": 0.20, "3": 0.20, "4": 0.20, "5": 0.20},
    "order.last_upd_null": 0.10,  # of rows last written before 2012
    # ORDER_LINE
    "line.sku": {
        "unknown": 0.003,
        "exact": 0.80,
        "lower": 0.09,
        "trailing_blank": 0.06,
        "leading_blank": 0.02,
        "mixed_case": 0.027,
    },
    "line.qty": {"negative": 0.01, "zero": 0.005, "positive": 0.985},
    "line.unit_price_float": {"exact": 0.50, "below": 0.25, "above": 0.25},
    "line.disc_pct": {None: 0.50, "0": 0.20, "5": 0.10, "10": 0.10, "15": 0.05, "12.5": 0.03, "33.33": 0.02},
    "line.last_upd_null": 0.10,  # of rows last written before 2012
    # PAYMENT
    "payment.count": {"0": 0.08, "1": 0.84, "2": 0.08},  # payments per order
    "payment.unknown_order": 0.002,  # their order header is gone; its lines remain too
    "payment.method": {
        "VISA": 0.30,
        "MC": 0.15,
        "MASTERCARD": 0.10,
        "AMEX": 0.10,
        "PAYPAL": 0.20,
        "CHECK": 0.10,
        "CHK": 0.05,
    },
    "payment.card_last4": 0.40,
    "payment.card_full": 0.10,  # all paid before 2012: the 2009-2011 leak
    "payment.last_upd_null": 0.10,  # of rows last written before 2012
}

CARD_METHODS = ("VISA", "MC", "MASTERCARD", "AMEX")

LEGACY_TIME_ZONE = "America/New_York"
HISTORY_START = date(2009, 1, 1)  # the OMS went live
HISTORY_END = date(2025, 7, 1)  # the data cut: nothing is written on or after this day
OLD_WRITES_BEFORE = date(2012, 1, 1)  # LAST_UPD may be NULL for rows last written before it

ORDERS_PER_CUSTOMER = 3
CUSTOMERS_PER_PRODUCT = 50
MIN_PRODUCTS = 200


@dataclass(frozen=True)
class Step:
    """One SQL script of harness/demo, run in the order of STEPS."""

    script: str
    table: str | None = None  # the legacy table it fills, if any
    analyze: str | None = None  # statistics the next steps' joins need


STEPS = (
    Step("seed_product.sql", "PRODUCT"),
    Step("seed_customer.sql", "CUSTOMER", analyze='"oms"."CUSTOMER" ("CUST_ID")'),
    Step("seed_order_facts.sql", analyze="pg_temp.order_facts, pg_temp.product_facts"),
    Step("seed_order_line.sql", "ORDER_LINE"),
    Step("seed_order_sums.sql"),  # order totals and payment amounts come from the lines as written
    Step("seed_order_hdr.sql", "ORDER_HDR"),
    Step("seed_payment.sql", "PAYMENT"),
)

# Session settings for the load only (set local: gone at the end of the transaction). The hash
# joins and aggregates over all orders must stay in memory, and JIT compilation costs more than
# it saves on queries that run once.
LOAD_SETTINGS = {"work_mem": "256MB", "maintenance_work_mem": "256MB", "jit": "off"}

_MASK32 = 2**32


def seed_legacy(
    conn: psycopg.Connection,
    scale: int,
    seed: int,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Drop and recreate schema "oms" in the connected database and fill it. Returns rows per table, e.g.
    {"CUSTOMER": 10000, ...}."""
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a whole number of customers, at least 1 (got {scale!r})")

    counts: dict[str, int] = {}
    # One transaction (a savepoint if the caller has one open): a failed seed leaves the old
    # schema as it was.
    with conn.transaction():
        encoding = conn.execute("show server_encoding").fetchone()[0]
        if encoding.upper() not in ("UTF8", "UTF-8"):
            raise HarnessError(
                f"the legacy demo needs a UTF8 database (its notes hold emoji), not {encoding}: create the "
                "database with encoding 'UTF8'"
            )
        own_functions = _temp_function_ids(conn)
        previous = {name: conn.execute("select current_setting(%s)", (name,)).fetchone()[0] for name in LOAD_SETTINGS}
        for name, value in LOAD_SETTINGS.items():
            conn.execute("select set_config(%s, %s, true)", (name, value))
        conn.execute('drop schema if exists "oms" cascade')
        conn.execute(_read_sql("legacy_schema.sql"))
        keys = _drop_primary_keys(conn)
        for statement in _settings_functions(conn, scale, seed):
            conn.execute(statement)
        conn.execute(_read_sql("seed_functions.sql"))
        for step in STEPS:
            rows = conn.execute(_read_sql(step.script)).rowcount
            if step.analyze:
                conn.execute(f"analyze {step.analyze}")  # without statistics the planner sorts instead of hashing
            if step.table:
                counts[step.table] = rows
                if progress is not None:
                    progress(step.table, rows)
        conn.execute("drop table pg_temp.order_facts, pg_temp.product_facts, pg_temp.order_totals")
        _restore_primary_keys(conn, keys)
        _drop_new_temp_functions(conn, own_functions)
        for name, value in previous.items():
            conn.execute("select set_config(%s, %s, true)", (name, value))
    return counts


def table_sizes(scale: int) -> dict[str, int]:
    """How many customers, products (twins included) and order numbers a scale gives."""
    products = max(MIN_PRODUCTS, scale // CUSTOMERS_PER_PRODUCT)
    twins = max(1, round(products * RATES["product.sku_twin"]))
    return {
        "customers": scale,
        "products": products,
        "product_twins": twins,
        "orders": scale * ORDERS_PER_CUSTOMER,  # order numbers, the few without a header included
    }


def thresholds() -> dict[str, float]:
    """The probability each flag draws with, so that the resulting share is the rate of RATES.

    A flag drawn only among some rows (blanks among non-NULL e-mails, impossible dates among
    dates that have a shape) is drawn with the rate divided by the share of those rows.
    """
    share = {key: value for key, value in RATES.items() if isinstance(value, float)}
    email = RATES["customer.email"]
    created = RATES["customer.created_format"]
    status = RATES["order.status"]
    methods = RATES["payment.method"]
    share["customer.email_blanks"] = RATES["customer.email_blanks"] / (1 - email["null"])
    share["customer.created_impossible"] = RATES["customer.created_impossible"] / (
        1 - created["empty"] - created["null"]
    )
    share["order.status_lower"] = RATES["order.status_lower"] / (1 - status["unknown"])
    # A duplicate needs a valid e-mail, and so does the earlier customer it copies, who must not
    # be a duplicate candidate himself: rate = p * valid * valid * (1 - p); solve for p.
    valid = email["valid"]
    product = RATES["customer.duplicate"] / valid**2
    share["customer.duplicate"] = (1 - math.sqrt(1 - 4 * product)) / 2
    # Full card numbers exist only for card payments made before 2012.
    card_share = sum(methods[method] for method in CARD_METHODS)
    old_share = (OLD_WRITES_BEFORE - HISTORY_START).days / (HISTORY_END - HISTORY_START).days
    share["payment.card_full"] = RATES["payment.card_full"] / (card_share * old_share)
    share["payment.card_last4"] = RATES["payment.card_last4"] / (card_share - RATES["payment.card_full"])
    return share


def _settings_functions(conn: psycopg.Connection, scale: int, seed: int) -> list[str]:
    """pg_temp functions that hold this run's numbers, written as constants the planner folds."""
    params: dict[str, float] = {f"count.{name}": float(value) for name, value in table_sizes(scale).items()}
    params.update(thresholds())
    history_days = (HISTORY_END - HISTORY_START).days
    params["count.history_days"] = float(history_days)
    # A duplicate copies a customer created at least one day earlier.
    params["customer.duplicate_min_distance"] = float(math.ceil(scale / history_days) + 1)
    for name, day in (
        ("history_start", HISTORY_START),
        ("history_end", HISTORY_END),
        ("old_writes_before", OLD_WRITES_BEFORE),
    ):
        params[f"epoch.{name}"] = datetime.combine(day, time(), ZoneInfo(LEGACY_TIME_ZONE)).timestamp()
    # Years whose DST changeover days hold the planted ORDER_DT defects: both changeovers of
    # every year from the first (the history starts on 1 January) to the last complete one.
    params["year.first"] = float(HISTORY_START.year)
    params["year.last"] = float(HISTORY_END.year - 1)

    def literal(value: object) -> str:
        return sql.Literal(value).as_string(conn)

    param_cases = " ".join(f"when {literal(name)} then {value!r}::float8" for name, value in params.items())
    steps = " ".join(f"when {literal(name)} then {step}" for name, step in _stream_steps().items())
    distributions = {name: _class_arrays(shares, literal) for name, shares in RATES.items() if isinstance(shares, dict)}
    labels = " ".join(f"when {literal(name)} then {array}" for name, (array, _bounds) in distributions.items())
    bounds = " ".join(f"when {literal(name)} then {array}" for name, (_labels, array) in distributions.items())
    return [
        # Raised at planning time, since the argument is a constant: a typo in a stream name
        # fails the seed instead of silently drawing nothing.
        """create function pg_temp.unknown_name(kind text, name text) returns text
           language plpgsql immutable as $$ begin raise exception 'seed: unknown % %', kind, name; end $$""",
        # text[] directly: a cast from text would go through array_in, which is only stable and
        # would stop the planner from inlining pick_class.
        """create function pg_temp.unknown_distribution(name text) returns text[]
           language plpgsql immutable as $$ begin raise exception 'seed: unknown distribution %', name; end $$""",
        f"""create function pg_temp.param(name text) returns float8 language sql immutable parallel safe
            as $$ select case name {param_cases} else pg_temp.unknown_name('parameter', name)::float8 end $$""",
        f"""create function pg_temp.stream_step(stream text) returns bigint language sql immutable parallel safe
            as $$ select case stream {steps} else pg_temp.unknown_name('stream', stream)::bigint end $$""",
        # The class whose share of [0, 1) holds u: a binary search in the cumulative shares.
        f"""create function pg_temp.pick_class(name text, u float8) returns text language sql immutable parallel safe
            as $$ select (case name {labels} else pg_temp.unknown_distribution(name) end)
                         [1 + width_bucket(u, case name {bounds} end)] $$""",
        f"""create function pg_temp.rnd(k bigint, stream text) returns float8 language sql immutable parallel safe
            as $$ select (hashint8extended(k, hashtextextended(stream, {int(seed)})) & 4503599627370495)::float8
                         / 4503599627370496.0 $$""",
        f"""create function pg_temp.strat(k bigint, stream text) returns float8 language sql immutable parallel safe
            as $$ select ((k * pg_temp.stream_step(stream) + (hashtextextended(stream, {int(seed)}) & 4294967295))
                          & 4294967295)::float8 / 4294967296.0 $$""",
    ]


def _stream_steps() -> dict[str, int]:
    """One Weyl step per RATES key: 2^32 * frac(sqrt(p)) for the key's own prime p.

    The continued fraction of a square root is periodic, with bounded terms, which keeps the
    sequence evenly spread at every length; square roots of distinct primes are independent
    over the rationals, so the classes of one row look unrelated to each other.
    """
    primes = _primes(len(RATES))
    return {name: int(math.sqrt(p) % 1 * _MASK32) | 1 for name, p in zip(RATES, primes)}


def _primes(count: int) -> list[int]:
    found: list[int] = []
    candidate = 2
    while len(found) < count:
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
        candidate += 1
    return found


def _class_arrays(shares: dict[str | None, float], literal: Callable[[object], str]) -> tuple[str, str]:
    """The labels and the upper bounds of a distribution's classes, as SQL array literals."""
    total = sum(shares.values())
    if abs(total - 1) > 1e-9:
        raise ValueError(f"the shares of a distribution must add up to 1, got {total}: {shares}")
    bounds = list(itertools.accumulate(shares.values()))[:-1]
    labels = ", ".join(f"{literal(label)}::text" for label in shares)
    return f"array[{labels}]", f"array[{', '.join(repr(bound) for bound in bounds)}]::float8[]"


def _read_sql(name: str) -> str:
    return resources.files("harness.demo").joinpath(name).read_text(encoding="utf-8")


def _drop_primary_keys(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """Indexes are built faster once than maintained row by row: take the keys off for the load."""
    keys = conn.execute(
        """select c.conrelid::regclass::text, quote_ident(c.conname), pg_get_constraintdef(c.oid)
           from pg_constraint c
           where c.connamespace = 'oms'::regnamespace and c.contype = 'p'
           order by 1"""
    ).fetchall()
    for table, name, _definition in keys:
        conn.execute(f"alter table {table} drop constraint {name}")
    return keys


def _restore_primary_keys(conn: psycopg.Connection, keys: list[tuple[str, str, str]]) -> None:
    for table, name, definition in keys:
        conn.execute(f"alter table {table} add constraint {name} {definition}")


def _temp_function_ids(conn: psycopg.Connection) -> set[int]:
    rows = conn.execute("select oid::int from pg_proc where pronamespace = pg_my_temp_schema()").fetchall()
    return {oid for (oid,) in rows}


def _drop_new_temp_functions(conn: psycopg.Connection, before: set[int]) -> None:
    """The helpers live in pg_temp: drop them so the caller's session is left as it was."""
    rows = conn.execute(
        "select oid::int, oid::regprocedure::text from pg_proc where pronamespace = pg_my_temp_schema() order by 1 desc"
    ).fetchall()
    for oid, signature in rows:
        if oid not in before:
            conn.execute(f"drop function {signature}")
