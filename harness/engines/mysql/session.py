"""A MySQL session as harness.core.connections opens it (PyMySQL), able to carry the sessions that
joined its consistent point (copy.open_snapshot): they end with it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pymysql


class MysqlSession(pymysql.connections.Connection):
    def __init__(self, *args, **kwargs):
        self.joined: list[pymysql.connections.Connection] = []  # sessions holding this one's snapshot
        self.lent: list[Callable[[], None]] = []  # what gives back a session borrowed until this transaction ends
        self.hashing_session: MysqlSession | None = None  # the snapshot's session the checksums hash on
        super().__init__(*args, **kwargs)

    def lend(self, give_back: Callable[[], None]) -> None:
        """Run `give_back` when this session's transaction ends (rollback or close)."""
        self.lent.append(give_back)

    def release_joined(self) -> None:
        self.hashing_session = None
        while self.lent:
            self.lent.pop()()
        while self.joined:
            with contextlib.suppress(pymysql.err.Error, OSError):
                self.joined.pop().close()

    def rollback(self) -> None:
        self.release_joined()
        super().rollback()

    def close(self) -> None:
        self.release_joined()
        super().close()

    # The lifecycle runs statements through conn.execute(...) on psycopg; the engine's modules use
    # cursors, but `execute` keeps one-off statements short.
    def execute(self, query: str, args=None) -> list[tuple]:
        with self.cursor() as cur:
            cur.execute(query, args)
            return list(cur.fetchall()) if cur.description else []
