"""Checking a ledger of acknowledged writes against a database: the proof of zero data loss.

A ledger line says: this write was acknowledged, and this is the md5 of the row as committed
(row_digest: its JSON, each value as its type prints it). Against the database the migration ends
on, the last entry per key must hold: the row is there with exactly that content, or, for a
delete, it is gone. Landing's own columns (`_migrate_*`) are ignored and its tombstones count as
gone. An entry may instead name the column values the row must hold (`values`; a list means any of
them): a write carried into another schema by a fallback is checked that way, exactly where the
entry has the values' JSON text too (`texts`, row_texts). A write to a MySQL source is recorded by
its row's canonical hash (`hash`, harness/reconcile/checksums.py's rules, as reconcile
compares source and landing), which landing's copy of the row hashes to when it holds the same values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from harness.engines import postgres
from harness.engines.postgres.checksums import SESSION_SETTINGS
from harness.target import checksums as target_checksums
from harness.target.landing import DELETED, SYNCED_AT


@dataclass
class LedgerCheck:
    checked: int = 0
    missing: list[str] = field(default_factory=list)  # acknowledged, not there
    wrong: list[str] = field(default_factory=list)  # there, with other content
    resurrected: list[str] = field(default_factory=list)  # deleted, but still there

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong or self.resurrected)

    def describe(self) -> str:
        return (
            f"{self.checked:,} acknowledged writes checked: {len(self.missing)} missing, "
            f"{len(self.wrong)} with other content, {len(self.resurrected)} deleted but present"
        )


def row_digest(alias: str = "t") -> str:
    """The md5 of the row `alias` as a ledger line holds it: its JSON with the keys sorted, landing's own
    columns left out. json, not jsonb: jsonb makes numbers numeric, so -0 and 0 (in a column, an array or
    a composite) would be one value; json keeps each as its type prints it. `alias`.*, since a column
    named like the alias would stand for the row."""
    return (
        f"md5((select json_object_agg(j.key, j.value order by j.key) from json_each(to_json({alias}.*)) j "
        f"where j.key not in ('{SYNCED_AT}', '{DELETED}'))::text)"
    )


def row_texts(alias: str = "t") -> str:
    """Each column of the row `alias` with its value's JSON text (to_json: -0 stays -0, 1.10 stays 1.10,
    where to_jsonb's numbers make them 0 and 1.1): what an entry's `texts` are checked against."""
    return f"(select jsonb_object_agg(j.key, j.value::text) from json_each(to_json({alias}.*)) j)"


def entries(path: Path, app: str | None = "legacy") -> list[dict]:
    """The acknowledged entries in the order they were acknowledged, of one application (None: all)."""
    with path.open(encoding="utf-8") as f:
        found = [json.loads(line) for line in f]
    return [e for e in found if app is None or e.get("app", "legacy") == app]


def final_entries(found: list[dict]) -> dict[str, dict[str, dict]]:
    """The last entry per key, by table."""
    final: dict[str, dict[str, dict]] = {}
    for entry in found:
        final.setdefault(entry["table"], {})[json.dumps(entry["key"], sort_keys=True)] = entry
    return final


def verify(conn: psycopg.Connection, schema: str, ledger: Path, app: str = "legacy") -> LedgerCheck:
    """The application's acknowledged writes against `schema` of this database."""
    return check(conn, schema, final_entries(entries(ledger, app)))


def check(conn: psycopg.Connection, schema: str, final: dict[str, dict[str, dict]]) -> LedgerCheck:
    result = LedgerCheck()
    for table, entries in final.items():
        target = postgres.qualified(schema, table)
        columns = {c.name for c in postgres.columns(conn, schema, table)}
        live = sql.SQL("not t.{}").format(sql.Identifier(DELETED)) if DELETED in columns else sql.SQL("true")
        keys = list(next(iter(entries.values()))["key"])
        hashed = any("hash" in entry for entry in entries.values())
        conn.execute(
            "create temp table if not exists _ledger "
            "(key jsonb, op char(1), md5 text, expected jsonb, hash bigint, texts jsonb)"
        )
        conn.execute("truncate _ledger")
        with conn.cursor().copy("copy _ledger (key, op, md5, expected, hash, texts) from stdin") as copy:
            for entry in entries.values():
                copy.write_row(
                    (
                        json.dumps(entry["key"]),
                        entry["op"],
                        entry.get("md5"),
                        json.dumps(entry.get("values")),
                        entry.get("hash"),
                        json.dumps(entry.get("texts")),
                    )
                )
        rows = conn.execute(  # t.*, the row: a column named t would stand for it in to_jsonb(t)
            sql.SQL(
                """
                select e.key::text, e.op, coalesce(e.md5, e.hash::text), e.expected,
                       case when e.hash is null then {digest}
                            when t.ctid is not null then ({row_hash})::text end as actual,
                       to_jsonb(t.*) as actual_row, e.texts,
                       case when t.ctid is not null then {texts} end as actual_texts,
                       t.ctid is not null and {live} as present
                from _ledger e
                cross join lateral jsonb_populate_record(null::{target}, e.key) as k
                left join {target} t on {match}
                """
            ).format(
                digest=sql.SQL(row_digest("t")),
                texts=sql.SQL(row_texts("t")),
                row_hash=_row_hash(conn, schema, table, keys) if hashed else sql.SQL("null"),
                live=live,
                target=target,
                match=sql.SQL(" and ").join(sql.SQL("t.{0} = k.{0}").format(sql.Identifier(c)) for c in keys),
            )
        ).fetchall()
        for key, op, expected, values, actual, actual_row, texts, actual_texts, present in rows:
            result.checked += 1
            label = f"{table} {key}"
            if op == "D":
                if present:
                    result.resurrected.append(label)
            elif not present:
                result.missing.append(label)
            elif texts is not None:
                if any(actual_texts.get(column) != text for column, text in texts.items()):
                    result.wrong.append(label)
            elif values is not None and not _holds(actual_row, values) or values is None and actual != expected:
                result.wrong.append(label)
    conn.rollback()
    return result


def _row_hash(conn: psycopg.Connection, schema: str, table: str, key: list[str]) -> sql.Composable:
    """The canonical row hash of the row `t` (its own columns, not landing's), under the session
    settings it is defined by (for this transaction only)."""
    for name in ("extra_float_digits", "DateStyle", "IntervalStyle", "bytea_output", "TimeZone"):
        conn.execute("select set_config(%s, %s, true)", (name, SESSION_SETTINGS[name]))
    columns = [c for c in target_checksums.hashed_columns(conn, schema, table) if c.name not in (SYNCED_AT, DELETED)]
    return target_checksums.landing_hashes(conn, schema, table, columns, key, portable=True).side.row_hash()


def _holds(row: dict, values: dict) -> bool:
    return all(row.get(column) in (want if isinstance(want, list) else [want]) for column, want in values.items())


def content_digest(
    conn: psycopg.Connection, schema: str, table: str, key: list[str], exclude: tuple[str, ...] = ()
) -> tuple[int, str]:
    """Row count and md5 over every live row's content in key order: equal digests, equal tables.

    The order is that of the key's text under "C" (its bytes), the same on both sides whatever
    collations the two databases and columns have. `exclude` leaves columns out (a masked column
    differs between source and landing by design).
    """
    target = postgres.qualified(schema, table)
    columns = {c.name for c in postgres.columns(conn, schema, table)}
    live = sql.SQL("where not t.{}").format(sql.Identifier(DELETED)) if DELETED in columns else sql.SQL("")
    count, digest = conn.execute(
        sql.SQL(
            "select count(*), md5(coalesce(string_agg(md5((to_jsonb(t.*) - {drop})::text), '' "
            "order by {k}), '')) from {t} t {live}"
        ).format(
            drop=sql.SQL("{}::text[]").format(sql.Literal([SYNCED_AT, DELETED, *exclude])),
            k=sql.SQL(", ").join(sql.SQL('t.{}::text collate "C"').format(sql.Identifier(c)) for c in key),
            t=target,
            live=live,
        )
    ).fetchone()
    return count, digest
