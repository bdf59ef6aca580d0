"""The one way the harness writes a file others read: whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write through a temporary file beside `path` and rename it over `path`: a killed command
    never leaves half a file, and a reader (an application following the routing file, a person
    opening a report) sees the old content or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(content, bytes):
        temporary.write_bytes(content)
    else:
        temporary.write_text(content)
    os.replace(temporary, path)
    return path
