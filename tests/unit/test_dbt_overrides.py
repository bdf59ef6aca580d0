"""The project's versions of dbt's own macros (kit/macros/overrides/) still match the dbt they were
written against.

Each override's header names the macro of dbt it replaces, the package, version and file it was
taken from, and the sha256 of that macro's text there:

    Replaces: default__get_test_sql
    Original: dbt-adapters 1.24.5, dbt/include/global_project/macros/materializations/tests/helpers.sql
    Original sha256: 3fc7...

When an upgrade of dbt changes an original, its override may no longer do what dbt now does: the
test names it, so that someone compares the two, carries over what changed, and records the new
version and hash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tests.conftest import PROJECT_DIR

OVERRIDES = PROJECT_DIR / "kit" / "macros" / "overrides"
HEADER = re.compile(
    r"Replaces: (?P<macro>\w+)\n"
    r"\s*Original: (?P<dist>[\w-]+) (?P<version>\S+), (?P<path>\S+)\n"
    r"\s*Original sha256: (?P<sha256>[0-9a-f]{64})"
)
MACRO_NAME = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(")


@dataclass(frozen=True)
class Override:
    file: Path
    replaces: str
    dist: str
    version: str
    path: str
    sha256: str


def overrides() -> list[Override]:
    found = []
    for file in sorted(OVERRIDES.glob("*.sql")):
        header = HEADER.search(file.read_text())
        assert header, f"{file.name}: no 'Replaces: / Original: / Original sha256:' header"
        found.append(
            Override(file, header["macro"], header["dist"], header["version"], header["path"], header["sha256"])
        )
    return found


def installed(dist: str, path: str) -> Path:
    return Path(str(metadata.distribution(dist).locate_file(path)))


def macro_text(source: str, name: str) -> str | None:
    """The text of macro `name` in `source`, from its `{% macro` to its `{% endmacro %}`."""
    found = re.search(r"\{%-?\s*macro\s+" + re.escape(name) + r"\s*\(.*?\{%-?\s*endmacro\s*-?%\}", source, re.S)
    return found.group(0) if found else None


def changed_originals(found: list[Override], locate: Callable[[str, str], Path] = installed) -> list[str]:
    """One line per override whose original is gone or differs from the one it was written against."""
    problems = []
    for override in found:
        path = locate(override.dist, override.path)
        text = macro_text(path.read_text(), override.replaces) if path.exists() else None
        if text is None:
            problems.append(
                f"{override.file.name}: {override.replaces} is no longer in {override.dist} ({override.path})"
            )
        elif hashlib.sha256(text.encode()).hexdigest() != override.sha256:
            problems.append(
                f"{override.file.name}: {override.replaces} changed since {override.dist} {override.version} "
                f"(installed: {metadata.version(override.dist)}); compare it with the override, "
                "carry over what changed, and record the new version and sha256 in the header"
            )
    return problems


def dbt_macro_names() -> set[str]:
    names = set()
    for dist, folder in (("dbt-adapters", "dbt/include/global_project"), ("dbt-postgres", "dbt/include/postgres")):
        for file in installed(dist, folder).rglob("*.sql"):
            names.update(MACRO_NAME.findall(file.read_text()))
    return names


def test_every_override_matches_the_dbt_macro_it_was_written_against():
    found = overrides()
    assert found, f"no override in {OVERRIDES}"
    assert changed_originals(found) == []


def test_a_changed_original_is_reported(tmp_path):
    override = overrides()[0]
    original = installed(override.dist, override.path).read_text()
    text = macro_text(original, override.replaces)
    changed = tmp_path / "changed.sql"
    changed.write_text(original.replace(text, text.replace("macro", "macro ", 1)))  # one blank more
    problems = changed_originals(
        [override], locate=lambda dist, path: changed if path == override.path else installed(dist, path)
    )
    assert len(problems) == 1 and override.file.name in problems[0] and "changed since" in problems[0]


def test_a_postgres_override_of_a_default_macro_hides_no_postgres_version_of_dbt():
    """An override named postgres__X of dbt's default__X would silently win over a postgres__X
    that a later dbt-postgres adds: that dbt-postgres must be looked at first."""
    postgres_macros = set()
    for file in installed("dbt-postgres", "dbt/include/postgres").rglob("*.sql"):
        postgres_macros.update(MACRO_NAME.findall(file.read_text()))
    for override in overrides():
        defined = MACRO_NAME.findall(override.file.read_text())
        if override.replaces.startswith("default__"):
            assert not (set(defined) & postgres_macros), (
                f"{override.file.name}: dbt-postgres now has its own {set(defined) & postgres_macros}"
            )


def test_every_macro_that_replaces_one_of_dbt_lives_in_the_overrides_folder():
    dbt_names = dbt_macro_names()
    misplaced = []
    for file in [*(PROJECT_DIR / "macros").rglob("*.sql"), *(PROJECT_DIR / "kit" / "macros").rglob("*.sql")]:
        for name in MACRO_NAME.findall(file.read_text()):
            replaces_dbt = name in dbt_names or (
                name.startswith("postgres__") and "default__" + name.removeprefix("postgres__") in dbt_names
            )
            if replaces_dbt and file.parent != OVERRIDES:
                misplaced.append(f"{file.relative_to(PROJECT_DIR)}: {name}")
    assert misplaced == []
