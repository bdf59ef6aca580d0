"""A MySQL session as harness.core.connections opens it (PyMySQL), able to carry the sessions that
joined its consistent point (copy.open_snapshot): they end with it."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable

import pymysql

_preferred_tls: list[ssl.SSLContext] = []
_preferred_tls_lock = threading.Lock()


class Session(pymysql.connections.Connection):
    """A PyMySQL connection whose TLS context, where none is configured (PyMySQL's PREFERRED mode), is
    one for the process: PyMySQL builds a default context per connection, loading the system's CA
    certificates each time (0.13 s, two thirds of an idle binlog batch with its three connections)."""

    def _create_ssl_ctx(self, sslp):
        if sslp:
            return super()._create_ssl_ctx(sslp)
        with _preferred_tls_lock:
            if not _preferred_tls:
                _preferred_tls.append(super()._create_ssl_ctx(sslp))
            return _preferred_tls[0]


class MysqlSession(Session):
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
