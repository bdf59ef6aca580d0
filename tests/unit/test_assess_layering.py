"""The assessment asks the engine (engines/postgres/assess.py) and holds no database driver code itself."""

import ast
import pathlib
import pkgutil

import harness.assess


def test_no_module_of_the_assess_package_imports_the_database_driver():
    importing = []
    for module in pkgutil.iter_modules(harness.assess.__path__):
        path = f"{harness.assess.__path__[0]}/{module.name}.py"
        tree = ast.parse(pathlib.Path(path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] == "psycopg" for name in names):
                importing.append(module.name)
    assert importing == []
