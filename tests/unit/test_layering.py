"""The layers hold: lifecycle modules reach a database only through the source engine
(harness/engines/) and the target's modules, so a second source engine is a new package under
harness/engines/ and no lifecycle module changes.

A lifecycle module may not import psycopg, and its code (docstrings and comments aside) may not
name PostgreSQL's catalog objects or tools: pg_* relations and functions, plpgsql, regclass.
What does not hold that yet is listed below with the reason; an entry that no longer applies fails
too, so the lists only shrink."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import harness

ROOT = Path(harness.__file__).parent

# Not lifecycle modules: the layers below and beside them.
ENGINES = ("harness.engines",)  # the source engines and their interface
TARGET = (
    "harness.core.control",
    "harness.target.landing",
    "harness.target.provision",
    "harness.target",
)  # the target (PostgreSQL, dbt-postgres): control schema, landing, provisioning, the rest
CORE = (
    "harness.core.connections",
    "harness.core.embedded",
    "harness.core.processes",
)  # opening connections, the embedded server, the client tools
CLI = ("harness.cli.__main__",)  # `python -m harness.cli`
DEMO = ("harness.demo",)  # the worked example's generator and traffic, a PostgreSQL legacy by design
NOT_LIFECYCLE = ENGINES + TARGET + CORE + CLI + DEMO

# Modules that still import psycopg, and why (none: the target's SQL is in harness/target/).
IMPORTS_PSYCOPG: dict[str, str] = {}

# Modules whose code still names PostgreSQL catalog objects or tools, and why.
NAMES_POSTGRES = {
    "harness.docs.words": "the decommission step's description names pg_dump (words, not SQL)",
    "harness.assess.report": "the assessment report's words name pg_class estimates (words, not SQL)",
}

POSTGRES_NAMES = re.compile(r"\bpg_[a-z_]+|\bplpgsql\b|\bregclass\b|\bregrole\b|\bregprocedure\b", re.IGNORECASE)


def _lifecycle_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages([str(ROOT)], "harness.")]
    return sorted(n for n in names if not any(n == p or n.startswith(p + ".") for p in NOT_LIFECYCLE))


def _tree(name: str) -> ast.Module:
    module = importlib.import_module(name)  # every lifecycle module imports
    return ast.parse(Path(module.__file__).read_text())


def _imports_psycopg(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "psycopg" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "psycopg":
            return True
    return False


def _docstrings(tree: ast.Module) -> set[int]:
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return {
        id(n.body[0].value)
        for n in nodes
        if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
    }


def _postgres_names(tree: ast.Module) -> set[str]:
    """PostgreSQL's catalog names in the code: string constants (SQL) but docstrings, and identifiers."""
    skip = _docstrings(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            found |= set(POSTGRES_NAMES.findall(node.value))
        elif isinstance(node, ast.Attribute):
            found |= set(POSTGRES_NAMES.findall(node.attr))
        elif isinstance(node, ast.Name):
            found |= set(POSTGRES_NAMES.findall(node.id))
    return found


def test_lifecycle_modules_do_not_import_psycopg():
    offenders = {name for name in _lifecycle_modules() if _imports_psycopg(_tree(name))}
    assert offenders - set(IMPORTS_PSYCOPG) == set(), "import psycopg outside engines/ and the target modules"
    assert set(IMPORTS_PSYCOPG) - offenders == set(), "no longer import psycopg: drop them from IMPORTS_PSYCOPG"


def test_lifecycle_modules_do_not_name_postgres_catalog_objects():
    offenders = {name: names for name in _lifecycle_modules() if (names := _postgres_names(_tree(name)))}
    assert {n: v for n, v in offenders.items() if n not in NAMES_POSTGRES} == {}, (
        "PostgreSQL names outside engines/ and the target modules"
    )
    assert set(NAMES_POSTGRES) - set(offenders) == set(), (
        "no longer name PostgreSQL objects: drop them from NAMES_POSTGRES"
    )


def test_the_engine_of_the_configuration_implements_the_interface():
    from harness.engines import engine_named
    from harness.engines.base import SourceEngine

    engine = engine_named("postgres")
    assert isinstance(engine, SourceEngine)  # abstract methods all implemented, or it would not instantiate
    assert {engine.capture("trigger").method, engine.capture("timestamp", "LAST_UPD").method} == {
        "trigger",
        "timestamp",
    }
