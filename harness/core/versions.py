"""`migrate --version`: the kit and the libraries it runs with, then the servers it reaches,
without starting one."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from harness.core import connections, embedded
from harness.core.config import load_config
from harness.core.errors import HarnessError

PACKAGES = ("migrate-kit", "dbt-core", "dbt-postgres", "datacompy", "psycopg")


def versions() -> list[tuple[str, str]]:
    """(name, version or state) for each package, then for the source and the target."""
    found = []
    for package in PACKAGES:
        try:
            found.append((package, version(package)))
        except PackageNotFoundError:
            found.append((package, "not installed"))
    try:
        config = load_config()
    except HarnessError as exc:
        return [*found, ("servers", f"not read ({exc})")]
    urls = {"source": config.source.url, "target": config.target.url}
    if not all(urls.values()):
        state = embedded.status(config.project_dir)
        if not state.running:
            return [*found, ("servers", "embedded PostgreSQL not running (`migrate env up` starts it)")]
        urls = {side: connections.with_database(state.url, getattr(config, side).database) for side in urls}
    return found + [(side, connections.probe(url)) for side, url in urls.items()]
