"""`migrate check`: the project against what the harness relies on (harness/check.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from harness.cli.app import JsonFlag, app
from harness.cli.ui import errors, result, summary
from harness.core.errors import CheckFailed


@app.command("check", rich_help_panel="Set-up")
def check_cmd(
    offline: Annotated[
        bool, typer.Option("--offline", help="Skip the connections to the source and the target.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check the project: migration.yml, the dbt project, its conventions (docs/dbt-contract.md), the connections."""
    from harness.check import check

    done = check(Path(os.environ.get("MIGRATE_PROJECT_DIR", ".")).resolve(), connect=not offline)
    for note in done.notes:
        errors.print(f"note: {note}", markup=False)
    for problem in done.problems:
        errors.print(problem.line(), markup=False)
    result(problems=[problem.line() for problem in done.problems], notes=done.notes, checked=done.checked)
    if done.problems:
        raise CheckFailed(f"{len(done.problems)} problem(s) found; each line above says what to change")
    summary(f"the project meets what the harness relies on ({', '.join(done.checked)})")
