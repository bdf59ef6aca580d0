"""Usage errors, --version and shell completion, through the real `migrate` command (no server needed)."""

import pytest

from tests.conftest import run_migrate


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("lod",), "Did you mean 'load'"),
        (("load", "--jobs", "abc"), "Invalid value for '--jobs'"),
        (("load", "--no-such-option"), "No such option"),
        (("approve", "--role", "dba"), "Missing option"),
    ],
)
def test_a_usage_error_is_clicks_message_and_exit_2_without_a_traceback(args, fragment):
    result = run_migrate(*args, expect=2)
    assert "Traceback" not in result.stdout + result.stderr
    assert fragment in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 4  # usage, hint, message


def test_version_names_the_kit_and_the_libraries_it_runs_with():
    out = run_migrate("--version", env={"MIGRATE_SOURCE_URL": "", "MIGRATE_TARGET_URL": ""}).stdout
    for name in ("migrate-kit", "dbt-core", "dbt-postgres", "datacompy", "psycopg"):
        assert name in out


def test_shell_completion_completes_commands():
    # What the script that `migrate --install-completion` installs asks for when TAB is pressed.
    env = {"_MIGRATE_COMPLETE": "complete_bash", "COMP_WORDS": "migrate rec", "COMP_CWORD": "1"}
    assert run_migrate(env=env).stdout.split() == ["reconcile"]
