"""`migrate init --update`: the project brought up to the source's catalog, never over the user's edits.

`migrate init` records what it wrote in MANIFEST (each file's sha256, and each table's columns and
types). An update renders the project again from the source as it is now and, file by file:

- a file the project lacks is written (a new table's models);
- a file as init wrote it (its hash unchanged) is rewritten when the new rendering differs;
- a file the user edited is left alone; the new rendering goes beside the project, under
  UPDATES/<path>, and the report says so. migration.yml and dbt_project.yml, the two files users
  edit most, get the new tables' entries inserted instead (under `tables:` and `source_tables:`).

It reports what changed in the source since the last init: tables and columns added or gone,
types changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.scaffold.model import Project

MANIFEST = "migrate-init.json"
UPDATES = ".migrate/init-update"


@dataclass
class UpdateResult:
    added: list[str] = field(default_factory=list)  # files written that were not there
    rewritten: list[str] = field(default_factory=list)  # files as init wrote them, rendered anew
    merged: list[str] = field(default_factory=list)  # edited files the new tables were inserted into
    kept: list[str] = field(default_factory=list)  # edited files left alone: the new version under UPDATES
    source_changes: list[str] = field(default_factory=list)  # what differs in the source since the last init


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def catalog_of(project: Project) -> dict[str, dict[str, str]]:
    return {t.source: {c.source: c.source_type for c in t.columns} for t in project.tables}


def write_manifest(directory: Path, files: dict[str, str], project: Project) -> None:
    manifest = {
        "schema": project.source_schema,
        "files": {path: digest(text) for path, text in sorted(files.items())},
        "catalog": catalog_of(project),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.exists():
        return {"files": {}, "catalog": {}}  # a project from before the manifest: every file counts as edited
    return json.loads(path.read_text())


def source_changes(before: dict[str, dict[str, str]], now: dict[str, dict[str, str]]) -> list[str]:
    changes = []
    for table in now.keys() - before.keys():
        changes.append(f"table {table} added")
    for table in before.keys() - now.keys():
        changes.append(f"table {table} is gone from the source (its models are kept: remove them yourself)")
    for table in now.keys() & before.keys():
        for column in now[table].keys() - before[table].keys():
            changes.append(f"column {table}.{column} added ({now[table][column]})")
        for column in before[table].keys() - now[table].keys():
            changes.append(f"column {table}.{column} is gone from the source")
        for column in now[table].keys() & before[table].keys():
            if now[table][column] != before[table][column]:
                changes.append(f"column {table}.{column} changed type: {before[table][column]} -> {now[table][column]}")
    return sorted(changes)


def update_project(directory: Path, files: dict[str, str], project: Project) -> UpdateResult:
    manifest = read_manifest(directory)
    written = manifest.get("files", {})
    result = UpdateResult(source_changes=source_changes(manifest.get("catalog", {}), catalog_of(project)))
    new_tables = [t for t in project.tables if t.source not in manifest.get("catalog", {})]
    recorded: dict[str, str] = dict(written)
    for path, text in sorted(files.items()):
        target = directory / path
        if not target.exists():
            _write(target, text)
            result.added.append(path)
            recorded[path] = digest(text)
            continue
        current = target.read_text()
        if current == text:
            recorded[path] = digest(text)
            continue
        if written.get(path) == digest(current):  # as init wrote it: the user did not touch it
            _write(target, text)
            result.rewritten.append(path)
            recorded[path] = digest(text)
            continue
        merged = _insert_new_tables(path, current, text, new_tables)
        if merged is not None and merged != current:
            _write(target, merged)
            result.merged.append(path)
        _write(directory / UPDATES / path, text)
        result.kept.append(path)
    manifest.update(files=recorded, catalog=catalog_of(project), schema=project.source_schema)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return result


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# The two edited files new tables are inserted into: the block each table has in the new rendering,
# found under this heading line, inserted under the same heading of the user's file.
SECTIONS = {"migration.yml": "tables:", "dbt_project.yml": "  source_tables:"}


def _insert_new_tables(path: str, current: str, rendered: str, new_tables) -> str | None:
    heading = SECTIONS.get(path)
    if heading is None or not new_tables:
        return None
    if not re.search(rf"^{re.escape(heading)}\s*$", current, re.M):
        return None
    blocks = []
    for table in new_tables:
        block = _block(rendered, heading, json.dumps(table.source, ensure_ascii=False))
        if block and block.splitlines()[0] not in current:
            blocks.append(block)
    if not blocks:
        return None
    return re.sub(rf"^{re.escape(heading)}\s*\n", lambda m: m.group(0) + "".join(blocks), current, count=1, flags=re.M)


def _block(rendered: str, heading: str, quoted_table: str) -> str | None:
    """The lines of one table's entry under `heading` in the rendering: its line and the deeper ones after it."""
    lines = rendered.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == heading)
    except StopIteration:
        return None
    entry_indent = len(heading) - len(heading.lstrip()) + 2
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) < entry_indent:
            return None
        if line[entry_indent:].startswith(quoted_table + ":"):
            end = i + 1
            while end < len(lines) and len(lines[end]) - len(lines[end].lstrip()) > entry_indent:
                end += 1
            return "".join(lines[i:end])
    return None
