"""What one command works with, built once: the configuration, the source and target databases,
and the listed tables as the source describes them.

A command builds its `Context` first (`Context.open`) and hands it down, so that the steps of one
command (the cutover's gates and a big bang's load, the CLI and the load it calls) describe the
listed tables once instead of each asking the source catalog again. The tables are described
lazily, on first use, and kept for the rest of the command.

A sync batch does not use the kept description: it describes the tables again inside its own
snapshot of the source, since that is how it notices a column added at the source while
`sync --follow` runs (see harness.sync).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core import connections
from harness.core.config import Config, load_config
from harness.core.connections import Database
from harness.engines.base import Connection
from harness.target import landing


@dataclass(frozen=True)
class Context:
    config: Config
    source: Database
    target: Database
    command: str = ""  # the application_name of the connections the context opens itself
    _described: dict[str, landing.SourceTable] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def open(cls, command: str, config: Config | None = None, *, create_missing: bool = True) -> Context:
        """The context of one command: migration.yml read (unless given) and both databases resolved
        (the embedded server started when neither is configured)."""
        config = config or load_config()
        source, target = connections.resolve(config, create_missing=create_missing)
        return cls(config, source, target, command)

    def tables(self, names: list[str] | None = None, *, conn: Connection | None = None) -> list[landing.SourceTable]:
        """The listed tables (or the named ones, in that order) as the source describes them; each is
        described once, on first use, on `conn` when given, else on a connection of its own.

        A listed table that is missing, or has no key, raises ConfigError (and is not kept)."""
        wanted = [self.config.table(name) for name in names] if names is not None else list(self.config.tables)
        missing = [t for t in wanted if t.name not in self._described]
        if missing:
            if conn is not None:
                self._describe(conn, missing)
            else:
                with connections.connection(self.source, command=self.command, autocommit=True) as own:
                    self._describe(own, missing)
        return [self._described[t.name] for t in wanted]

    def _describe(self, conn: Connection, tables) -> None:
        self._described.update(landing.describe_all(conn, self.config, tables))
