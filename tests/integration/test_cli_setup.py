"""The set-up commands, through the real CLI against real servers."""

import socket

import pytest

from tests.conftest import assert_one_clear_line, run_migrate

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_lists_the_lifecycle_in_order():
    out = run_migrate("--help").stdout
    assert out.index("env") < out.index("demo") < out.index("build")


def test_env_up_checks_configured_servers(migration):
    result = run_migrate("env", "up", env=migration.env)
    assert "source:" in result.stdout and "target:" in result.stdout
    assert "both databases answer" in result.stdout


def test_unreachable_server_is_one_line_and_exit_2(migration):
    env = {**migration.env, "MIGRATE_SOURCE_URL": f"postgresql://postgres@127.0.0.1:{closed_port()}/legacy"}
    result = run_migrate("env", "up", env=env, expect=2)
    assert_one_clear_line(result, "source database", "unreachable", "check MIGRATE_SOURCE_URL")


def test_missing_database_is_one_line_and_exit_2(migration):
    env = {**migration.env, "MIGRATE_TARGET_URL": migration.target_url.replace("dbname=", "dbname=no_such_")}
    result = run_migrate("env", "status", env=env, expect=2)
    assert_one_clear_line(result, "target database", "does not exist", "check MIGRATE_TARGET_URL")


def test_only_one_side_configured_is_refused(migration):
    result = run_migrate(
        "env", "up", env={"MIGRATE_SOURCE_URL": migration.source_url, "MIGRATE_TARGET_URL": ""}, expect=2
    )
    assert_one_clear_line(result, "set MIGRATE_TARGET_URL")


def test_broken_migration_yml_is_one_line(tmp_path, migration):
    (tmp_path / "migration.yml").write_text("source: {schema: oms}\nstrategy: yolo\ntables: {A: {}}\n")
    result = run_migrate("env", "up", env={**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}, expect=2)
    assert_one_clear_line(result, "strategy 'yolo' is unknown")


def test_env_shell_prints_dbt_exports(migration):
    out = run_migrate("env", "shell", env=migration.env).stdout
    assert "export MIGRATE_TARGET_DBNAME=t_dst_" in out
    assert "export MIGRATE_LANDING_SCHEMA=landing" in out  # the sources' schema (migration.yml target.landing_schema)


def test_load_with_json_prints_one_document_and_its_tables_on_stdout(shop):
    import json

    _, _, _, migration, tmp_path = shop
    result = run_migrate("load", "--no-build", "--json", env={**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)})
    document = json.loads(result.stdout)  # nothing else on stdout
    assert document["command"] == "load" and document["exit_code"] == 0 and document["meaning"] == "done"
    assert document["tables"][0]["title"].startswith("Load") and "change capture is running" in document["summary"][0]
    assert "loaded" in result.stderr, "the people's output goes to stderr"
