"""The `migrate` Typer application: its commands in lifecycle order, the options every command
shares, and `show`, which prints a command's view. The commands register on `app` from the
harness/cli/commands_*.py modules, one module per part of the lifecycle."""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Annotated

import typer
import typer.core

from harness.cli import ui
from harness.cli.views import View

# The click that typer runs on: typer 0.2x vendors its own copy, whose exceptions are not the
# installed click's, so catching `click.ClickException` from the click package would miss them.
click = getattr(typer.core, "_click", None) or importlib.import_module("click")

# The order `migrate --help` lists commands in: the order a migration uses them.
LIFECYCLE = [
    "init",
    "check",
    "env",
    "demo",
    "assess",
    "backup",
    "restore",
    "provision",
    "load",
    "build",
    "sync",
    "reconcile",
    "approve",
    "cutover",
    "rollback",
    "rehearse",
    "docs",
    "decommission",
    "status",
    "dashboard",
]


class LifecycleGroup(typer.core.TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: LIFECYCLE.index(name) if name in LIFECYCLE else len(LIFECYCLE))


app = typer.Typer(
    name="migrate",
    cls=LifecycleGroup,
    help="Move an operational database to a new schema without losing a row. Lifecycle, in order:",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=True,
    rich_markup_mode="rich",
)

# Every command takes --json; main reads it from the arguments before the command runs.
JSON_HELP = (
    "Print one JSON document on stdout (the summary, tables and result, the exit code and its meaning); "
    "the rest goes to stderr."
)
JsonFlag = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


class Side(StrEnum):
    source = "source"
    target = "target"


SideOption = Annotated[Side, typer.Option(help="Which database.")]


def show(view: View | list[ui.Part]) -> None:
    """Print a command's view; when its result means the command failed, end with that error."""
    if isinstance(view, View):
        ui.show(view.parts)
        if view.failure is not None:
            raise view.failure
    else:
        ui.show(view)


def _show_versions(asked: bool) -> None:
    if asked:
        from harness.core.versions import versions

        found = versions()
        for name, value in found:
            typer.echo(f"{name:<14}{value}")
        ui.result(versions=dict(found))
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            expose_value=False,
            callback=_show_versions,
            help="Show the versions of the kit, its libraries and servers, and exit.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    pass


env_app = typer.Typer(help="The database servers: the embedded PostgreSQL, or yours by URL.", no_args_is_help=True)
demo_app = typer.Typer(
    help="The worked example: a generated legacy OMS and the whole story on it.", no_args_is_help=True
)
app.add_typer(env_app, name="env", rich_help_panel="Set-up")
app.add_typer(demo_app, name="demo", rich_help_panel="Set-up")
