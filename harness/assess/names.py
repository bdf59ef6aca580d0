"""What a column's name suggests: money, a natural key, a reference to another table's key, the
date a row arrived. Heuristics the profile and the relationships weigh beside the values."""

from __future__ import annotations

import re


def name_tokens(name: str) -> list[str]:
    """CUST_ID, custId, "Cust Id" → ["cust", "id"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def normalised_name(name: str) -> str:
    return "".join(name_tokens(name))


MONEY_WORDS = {
    "price",
    "amount",
    "amt",
    "total",
    "cost",
    "fee",
    "charge",
    "balance",
    "salary",
    "wage",
    "tax",
    "money",
    "subtotal",
    "revenue",
    "payment",
    "refund",
    "cents",
    "usd",
    "eur",
}
NATURAL_KEY_WORDS = {
    "sku",
    "code",
    "ean",
    "upc",
    "isbn",
    "email",
    "mail",
    "login",
    "username",
    "ssn",
    "vin",
    "serial",
    "iban",
    "barcode",
}
GENERIC_KEY_NAMES = {"id", "key", "no", "nr", "num", "code", "pk", "oid", "uuid"}
CREATED_WORDS = {
    "created",
    "create",
    "creation",
    "inserted",
    "registered",
    "signup",
    "placed",
    "ordered",
    "opened",
    "booked",
}
EVENT_WORDS = {"date", "dt", "at", "on", "ts", "time", "timestamp", "paid", "order", "since"}
NOT_EVENT_WORDS = {"birth", "dob", "expiry", "expires", "exp", "due", "valid", "until", "end", "start"}
UPDATED_WORDS = {"upd", "updated", "update", "modified", "modif", "mod", "changed", "last", "deleted", "sync"}


def is_money_name(name: str) -> bool:
    return bool(MONEY_WORDS & set(name_tokens(name)))


def is_natural_key_name(name: str) -> bool:
    return bool(NATURAL_KEY_WORDS & set(name_tokens(name)))


def is_update_stamp_name(name: str) -> bool:
    return bool(UPDATED_WORDS & set(name_tokens(name)))


def singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def names_suggest_reference(column: str, parent_table: str, parent_key: str) -> bool:
    """Whether a column's name says it points at a parent's single-column key.

    ORDER_HDR.CUST_ID → CUSTOMER.CUST_ID (same name), orders.customerId → customers.id
    (parent's name + a generic key), line.product_sku → product.sku (ends with the key's name).
    A bare generic name ("id" → "id") proves nothing and is not proposed.
    """
    col, key, table = normalised_name(column), normalised_name(parent_key), normalised_name(parent_table)
    if not col or not key:
        return False
    if key not in GENERIC_KEY_NAMES:
        return col == key or (len(key) >= 3 and col.endswith(key))
    prefixes = {table, singular(table)} | {t for t in name_tokens(parent_table) if len(t) >= 3}
    prefixes |= {singular(t) for t in set(prefixes)}
    return any(col == prefix + key or col == prefix + "id" for prefix in prefixes if prefix)


def creation_date_rank(name: str, typed: bool) -> int | None:
    """How well a date-like column tells when a row arrived: lower is better, None for not at all."""
    tokens = set(name_tokens(name))
    if tokens & (UPDATED_WORDS | NOT_EVENT_WORDS):
        return None
    if tokens & CREATED_WORDS:
        rank = 0
    elif tokens & EVENT_WORDS:
        rank = 1
    else:
        rank = 2
    return rank + (0 if typed else 3)
