"""Checking a ledger of acknowledged writes against a database: the proof of zero data loss.

A ledger line says: this write was acknowledged, and this is the md5 of the row as committed
(`md5(to_jsonb(row)::text)`). Against the database the migration ends on, the last entry per
key must hold: the row is there with exactly that content, or, for a delete, it is gone.
Landing's own columns (`_migrate_*`) are ignored and its tombstones count as gone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from harness.engines import postgres
from harness.landing import DELETED, SYNCED_AT


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


def final_entries(path: Path) -> dict[str, dict[str, dict]]:
    """The last acknowledged entry per key, by table."""
    final: dict[str, dict[str, dict]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            final.setdefault(entry["table"], {})[json.dumps(entry["key"], sort_keys=True)] = entry
    return final


def verify(conn: psycopg.Connection, schema: str, ledger: Path) -> LedgerCheck:
    result = LedgerCheck()
    for table, entries in final_entries(ledger).items():
        target = postgres.qualified(schema, table)
        columns = {c.name for c in postgres.columns(conn, schema, table)}
        live = sql.SQL("not t.{}").format(sql.Identifier(DELETED)) if DELETED in columns else sql.SQL("true")
        keys = list(next(iter(entries.values()))["key"])
        conn.execute("create temp table if not exists _ledger (key jsonb, op char(1), md5 text)")
        conn.execute("truncate _ledger")
        with conn.cursor().copy("copy _ledger (key, op, md5) from stdin") as copy:
            for entry in entries.values():
                copy.write_row((json.dumps(entry["key"]), entry["op"], entry["md5"]))
        rows = conn.execute(
            sql.SQL(
                """
                select e.key::text, e.op, e.md5,
                       md5((to_jsonb(t) - {synced} - {deleted})::text) as actual,
                       t.ctid is not null and {live} as present
                from _ledger e
                cross join lateral jsonb_populate_record(null::{target}, e.key) as k
                left join {target} t on {match}
                """
            ).format(
                synced=sql.Literal(SYNCED_AT),
                deleted=sql.Literal(DELETED),
                live=live,
                target=target,
                match=sql.SQL(" and ").join(sql.SQL("t.{0} = k.{0}").format(sql.Identifier(c)) for c in keys),
            )
        ).fetchall()
        for key, op, expected, actual, present in rows:
            result.checked += 1
            label = f"{table} {key}"
            if op == "D":
                if present:
                    result.resurrected.append(label)
            elif not present:
                result.missing.append(label)
            elif actual != expected:
                result.wrong.append(label)
    conn.rollback()
    return result


def content_digest(conn: psycopg.Connection, schema: str, table: str, key: list[str], exclude: tuple[str, ...] = ()) -> tuple[int, str]:
    """Row count and md5 over every live row's content in key order: equal digests, equal tables.

    `exclude` leaves columns out (a masked column differs between source and landing by design).
    """
    target = postgres.qualified(schema, table)
    columns = {c.name for c in postgres.columns(conn, schema, table)}
    live = sql.SQL("where not t.{}").format(sql.Identifier(DELETED)) if DELETED in columns else sql.SQL("")
    count, digest = conn.execute(
        sql.SQL(
            "select count(*), md5(coalesce(string_agg(md5((to_jsonb(t) - {drop})::text), '' order by {k}), '')) from {t} t {live}"
        ).format(
            drop=sql.SQL("{}::text[]").format(sql.Literal([SYNCED_AT, DELETED, *exclude])),
            k=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in key),
            t=target,
            live=live,
        )
    ).fetchone()
    return count, digest
