"""The queries an operator writes in migration.yml, run on the target: reconcile's rules, smoke
checks and performance queries, the rollback criteria's metrics and latency. A failure is a
QueryFailed with the server's first line; a query is stopped at a time limit rather than waited for."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from harness.core.config import PerformanceQuery
from harness.core.errors import QueryFailed
from harness.engines.postgres.engine import fetch_all, first_line

__all__ = ["QueryTiming", "fetch_all", "first_value", "time_limit_ms", "time_query"]

SHORTEST_LIMIT_MS = 30_000


@dataclass(frozen=True)
class QueryTiming:
    ms: list[float]  # each timed run's milliseconds
    plan: Any = None  # EXPLAIN (FORMAT JSON), where asked for


def time_limit_ms(p95_ms: float) -> int:
    """A query far slower than its limit is stopped rather than waited for N times."""
    return int(max(SHORTEST_LIMIT_MS, p95_ms * 20))


def time_query(
    conn: psycopg.Connection,
    query: PerformanceQuery,
    *,
    explain: bool = False,
    advance: Callable[[int], None] | None = None,
) -> QueryTiming:
    """Run the query once unclocked (warm-up), then `query.runs` times, clocked; `explain` takes
    its plan first. `conn` autocommits."""
    plan = None
    try:
        with _time_limit(conn, time_limit_ms(query.p95_ms)):
            if explain:
                (plan,) = conn.execute(sql.SQL("explain (format json) {}").format(sql.SQL(query.sql))).fetchone()
            conn.execute(query.sql).fetchall()  # warm-up, not counted
            timings = []
            for _ in range(query.runs):
                started = time.perf_counter()
                conn.execute(query.sql).fetchall()
                timings.append((time.perf_counter() - started) * 1000)
                if advance:
                    advance(1)
    except psycopg.Error as exc:
        raise QueryFailed(first_line(exc)) from exc
    return QueryTiming(timings, plan)


def first_value(conn: psycopg.Connection, text: str, limit_ms: int = SHORTEST_LIMIT_MS) -> Any:
    """The first column of the query's first row (None without rows), within the time limit. `conn` autocommits."""
    try:
        with _time_limit(conn, limit_ms):
            row = conn.execute(text).fetchone()
    except psycopg.Error as exc:
        raise QueryFailed(first_line(exc)) from exc
    return row[0] if row else None


@contextmanager
def _time_limit(conn: psycopg.Connection, limit_ms: int) -> Iterator[None]:
    conn.execute(sql.SQL("set statement_timeout = {}").format(sql.Literal(limit_ms)))
    try:
        yield
    finally:
        conn.execute("reset statement_timeout")
