"""The routing file the applications follow: which side each table is written on."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

from harness.core.config import Config
from harness.core.errors import HarnessError
from harness.render import write_atomic


def write_routing(config: Config, sides: str | Mapping[str, str]) -> Path:
    """Write the routing file the applications follow: `sides` is one side for every table, or
    a side per table (tables left out stay "legacy"). "writes" names the side that holds every
    table: "new" only once all are switched, so an application that reads only it stays right."""
    names = [t.name for t in config.tables]
    per_table = {name: sides if isinstance(sides, str) else sides.get(name, "legacy") for name in names}
    writes = "new" if all(side == "new" for side in per_table.values()) else "legacy"
    # Atomic: an application never reads half a file.
    return write_atomic(
        config.project_dir / config.cutover.routing_file,
        json.dumps({"writes": writes, "tables": per_table, "at": time.time()}),
    )


def read_routing(config: Config) -> dict[str, str]:
    """Each table's side as the routing file says: where the applications write (legacy without a file)."""
    path = config.project_dir / config.cutover.routing_file
    try:
        tables = json.loads(path.read_text())["tables"]
    except FileNotFoundError:
        return {t.name: "legacy" for t in config.tables}
    except (ValueError, KeyError, TypeError) as exc:
        raise HarnessError(
            f"the routing file {path} cannot be read ({exc}): it should be as the cutover writes it; fix or remove it"
        ) from exc
    return {t.name: tables.get(t.name, "legacy") for t in config.tables}
