"""The cutover's verification of landing against the frozen source: whole counts, the rows
changed since a reconciliation (by row hash), or for a big bang the whole copy."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from harness import engines, reconcile
from harness.core import connections
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import CheckFailed
from harness.engines.base import Connection
from harness.reconcile import checksums
from harness.target import checksums as target_checksums
from harness.target import history
from harness.target import verification as target_verification


def counts(config: Config, source: Database, target: Database, tables: Collection[str]) -> dict[str, Any]:
    """Each table's live rows on both sides: source and landing (tombstones left out)."""
    found: dict[str, Any] = {}
    with (
        connections.connection(source, command="cutover verify") as src,
        connections.connection(target, command="cutover verify") as dst,
    ):
        engine = engines.source_engine(config)
        for table in (t for t in config.tables if t.name in tables):
            found[table.name] = {
                "source": engine.row_count(src, config.source_schema, table.name),
                "landing": target_verification.live_rows(dst, config.landing_schema, table.name),
            }
    return found


def differing(counted: dict[str, Any]) -> list[str]:
    return [table for table, c in counted.items() if c["source"] != c["landing"]]


def finished_at(conn: Connection, schema: str, reconcile_id: int) -> datetime:
    """When a reconcile recorded its verdict: every row a later sync batch brings is stamped after it."""
    return history.reconciliation_finished_at(conn, schema, reconcile_id)


def changed_rows(
    config: Config, source: Database, target: Database, since: datetime | None, tables: Collection[str]
) -> dict[str, int]:
    """Compare every landing row written since `since` (a checksum-level reconciliation) with the
    source, key by key, by the row hash of the checksums level (each database hashes its own rows,
    values normalised, only keys and hashes travel)."""
    compared = {}
    pair = checksums.open_pair(config, source, target, None, "cutover verify")
    try:
        for table in (t for t in config.tables if t.name in tables):
            prepared = checksums.prepare_table(config, pair, table, segments=False)
            if prepared.result.problem:
                raise CheckFailed(f"final verification failed: {prepared.result.problem}; nothing was switched")
            compared[table.name] = _compare_rows_since(prepared, since)
    finally:
        checksums.close_pair(pair)
    return compared


def _compare_rows_since(prepared: Any, since: datetime | None) -> int:
    """The landing rows stamped since `since` (a tombstone: the key must be gone from the source)
    against the source rows of the same keys, by row hash; how many were compared."""
    table = prepared.result
    landed = target_checksums.stamped_since(prepared.target, since)
    if not landed:
        return 0
    theirs = {key: digest for _, key, digest in landed}
    ours = prepared.source.of_keys([raw for raw, _, _ in landed])
    wrong = [k for k, digest in theirs.items() if ours.get(k) != digest]
    if wrong:
        raise CheckFailed(
            f"final verification failed: {len(wrong)} changed rows of {table.table} differ from the source, "
            f"e.g. {wrong[:3]}; nothing was switched"
        )
    return len(theirs)


def whole_copy(config: Config, source: Database, target: Database) -> int:
    """Big bang: the whole copy against the frozen source, by counts and segment checksums
    (hashed inside each database: only a sum per segment travels), recorded as a reconciliation."""
    outcome = reconcile.reconcile(
        config, source, target, ["counts", "checksums"], build=False, report_name="cutover-verification"
    )
    if not outcome.passed:
        bad = ", ".join(level.level for level in outcome.levels if level.verdict == "failed")
        raise CheckFailed(
            f"final verification failed: reconciliation {outcome.reconcile_id} failed at {bad}; "
            f"nothing was switched; see {outcome.files.get('markdown')}"
        )
    return outcome.reconcile_id
