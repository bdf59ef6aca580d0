"""A MySQL session as harness.core.connections opens it (PyMySQL), able to carry the sessions that
joined its consistent point (copy.open_snapshot): they end with it."""

from __future__ import annotations

import contextlib

import pymysql


class MysqlSession(pymysql.connections.Connection):
    def __init__(self, *args, **kwargs):
        self.joined: list[pymysql.connections.Connection] = []  # sessions holding this one's snapshot
        super().__init__(*args, **kwargs)

    def release_joined(self) -> None:
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
