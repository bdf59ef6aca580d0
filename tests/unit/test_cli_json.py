"""--json on every command: one JSON document on stdout, with the exit code and its meaning, errors included."""

import json

import pytest
import typer

from harness.cli import app
from tests.conftest import run_migrate


def commands(group=None, prefix=()) -> list[tuple[str, ...]]:
    group = group or typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_every_command_takes_json_and_an_error_is_json_too(command, tmp_path):
    # An empty folder: every command fails on the missing migration.yml, and says so in JSON.
    result = run_migrate(*command, "--json", env={"MIGRATE_PROJECT_DIR": str(tmp_path)}, expect=2)
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2 and document["meaning"] == "usage or configuration error"
    assert (
        document["error"] and "Traceback" not in result.stderr
    )  # the missing migration.yml, or a missing required option


def test_a_usage_error_in_json_mode_is_a_json_document():
    result = run_migrate("lod", "--json", expect=2)
    assert json.loads(result.stdout)["error"] == "No such command 'lod'. Did you mean 'load'?"
