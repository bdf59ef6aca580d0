"""The `migrate` command line: parse options, call one core function, render, map to an exit code.

- app.py: the Typer application, the options every command shares, `show`;
- commands_setup.py (env, demo, status), commands_prepare.py (assess, backup, restore, provision),
  commands_load.py (load, build, sync), commands_validate.py (reconcile, docs, approve),
  commands_switch.py (cutover, rollback, rehearse, decommission): the commands, each building its
  Context (harness.core.context) and calling into the core;
- views.py, views_cutover.py: what each command shows of its result; ui.py: the terminal and the
  `--json` record;
- here: `main`, which runs a command and maps its outcome to an exit code and one line.
"""

from __future__ import annotations

import json
import shlex
import sys

import typer

from harness.cli import (
    commands_check,
    commands_init,
    commands_load,
    commands_prepare,
    commands_setup,
    commands_switch,
    commands_validate,
    ui,
)
from harness.cli.app import app, click
from harness.cli.ui import errors
from harness.core import connections, interrupts
from harness.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, DatabaseFailed, HarnessError

COMMANDS = (
    commands_init,
    commands_check,
    commands_setup,
    commands_prepare,
    commands_load,
    commands_validate,
    commands_switch,
)  # registered on app

EXIT_MEANINGS = {
    0: "done",
    1: "a check failed (a dbt test, a mismatch, a gate not met)",
    2: "usage or configuration error",
    130: "interrupted by Ctrl-C (SIGINT)",
    143: "interrupted by SIGTERM",
}


def _interrupted() -> int:
    """One line: what stopped, what is kept, how to resume; the exit code, 130 (Ctrl-C) or 143 (SIGTERM)."""
    command = shlex.join(["migrate", *sys.argv[1:]])
    errors.print(
        f"[bold yellow]interrupted[/] by {interrupts.signal_name()}: `{command}` stopped at a safe point; "
        "what it finished is recorded (`migrate status`) and nothing half-done is kept; run it again to resume"
    )
    return interrupts.exit_code()


def _run() -> tuple[int, str | None]:
    """Run the command; its exit code and, for a failure, the one line that says why (printed too)."""
    try:
        # Not standalone: typer then returns the exit code of an Exit instead of exiting, and turns
        # a KeyboardInterrupt into Exit(130).
        with connections.database_errors():
            code = app(standalone_mode=False, prog_name="migrate")
        if code == EXIT_INTERRUPTED:
            return _interrupted(), "interrupted"
        return (code if isinstance(code, int) else 0), None
    except DatabaseFailed as exc:
        errors.print(f"[bold red]database error:[/] {exc}")
        return exc.exit_code, f"database error: {exc}"
    except HarnessError as exc:
        errors.print(f"[bold red]error:[/] {exc}")
        return exc.exit_code, str(exc)
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted(), "interrupted"
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE, exc.format_message()
    except typer.Exit as exc:
        return exc.exit_code, None


def _refresh_dashboard(arguments: list[str], code: int) -> None:
    """After a command that changed the state (it succeeded, or a check failed): the dashboard again.
    A dashboard that cannot be written is a note after a success, never a second error line."""
    words = [a for a in arguments if not a.startswith("-")]
    if code not in (0, 1) or not words or "--help" in arguments or "--dry-run" in arguments:
        return
    from harness import dashboard

    try:
        with connections.database_errors():
            dashboard.refresh(words[0])
    except Exception as exc:  # a refresh is a side view: it never turns a command's result into a traceback
        if code == 0:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            errors.print(f"[yellow]note:[/] the dashboard was not refreshed: {reason}")


def main() -> None:
    """Run the CLI; expected errors become one line on stderr and an exit code. With --json, every
    human line goes to stderr and stdout holds one JSON document."""
    interrupts.install()
    arguments = sys.argv[1 : sys.argv.index("--")] if "--" in sys.argv else sys.argv[1:]
    as_json = "--json" in arguments
    stdout = sys.stdout
    if as_json:
        sys.stdout = sys.stderr
    code, error = _run()
    _refresh_dashboard(arguments, code)
    if as_json:
        words = [a for a in arguments if not a.startswith("-")]
        document = {
            "command": " ".join(words[:2] if words[:1] in (["env"], ["demo"]) else words[:1]) or "migrate",
            "exit_code": code,
            "meaning": EXIT_MEANINGS.get(code, "failed"),
            **({"error": error} if error else {}),
            "summary": ui.record.summary,
            "steps": ui.record.steps,
            "tables": ui.record.tables,
            **ui.record.result,
        }
        print(json.dumps(document, default=str, indent=2), file=stdout)
    sys.exit(code)


__all__ = ["COMMANDS", "EXIT_MEANINGS", "app", "main"]

if __name__ == "__main__":
    main()
