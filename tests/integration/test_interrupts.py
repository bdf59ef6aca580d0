"""Ctrl-C and SIGTERM: the command stops at a safe point, says how to resume in one line, exits
130 (143 for SIGTERM), and running it again finishes the job with nothing lost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import PROJECT_DIR, run_migrate
from tests.integration.conftest import landing_state, rows, source_state

pytestmark = pytest.mark.integration


def env_of(shop, **extra: str) -> dict[str, str]:
    _, _, _, migration, tmp_path = shop
    return {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path), **extra}


def assert_interrupted(result, signal_name: str) -> None:
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"interrupted by {signal_name}" in lines[0] and "run it again to resume" in lines[0], (
        result.stderr
    )


@pytest.mark.parametrize("name, code", [("INT", 130), ("TERM", 143)])
def test_an_interrupted_load_exits_130_or_143_and_a_rerun_finishes_it(shop, name, code):
    env = env_of(shop, MIGRATE_INTERRUPT_AT="load:range", MIGRATE_INTERRUPT_SIGNAL=name)
    result = run_migrate("load", "--no-build", "--range-rows", "1000", env=env, expect=code)
    assert_interrupted(result, f"SIG{name}")
    migration = shop[3]
    done = rows(migration.target_url, "select count(*) filter (where done), count(*) from migrate_control.load_ranges")[
        0
    ]
    assert 0 < done[0] < done[1], "stopped part-way, with the ranges in hand finished"
    again = run_migrate("load", "--no-build", "--range-rows", "1000", env=env_of(shop))
    assert "(resumed)" in again.stdout
    assert landing_state(migration.target_url) == source_state(migration.source_url)


def _interrupt_after(
    args: list[str], env: dict[str, str], seconds: float, cwd=PROJECT_DIR
) -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(seconds)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def test_ctrl_c_stops_sync_follow_with_its_summary(shop):
    env = env_of(shop)
    run_migrate("load", "--no-build", env=env)
    result = _interrupt_after(["sync", "--follow", "--no-build", "--interval", "0.2"], env, 4)
    assert result.returncode == 130, result.stderr
    assert "sync stopped:" in result.stdout
    assert_interrupted(result, "SIGINT")


def test_ctrl_c_during_a_dbt_build_is_one_line_not_dbts_traceback(shop, tmp_path_factory):
    project = tmp_path_factory.mktemp("dbt_project")
    shutil.copytree(PROJECT_DIR / "profiles", project / "profiles")
    (project / "models").mkdir()
    (project / "models" / "slow.sql").write_text(
        "{{ config(materialized='table') }} select 1 as one from (select pg_sleep(20)) as s"
    )
    (project / "dbt_project.yml").write_text("name: slow\nversion: '1.0'\nconfig-version: 2\nprofile: migrate\n")
    (project / "migration.yml").write_text((shop[4] / "migration.yml").read_text())
    env = {**env_of(shop), "MIGRATE_PROJECT_DIR": str(project)}
    result = _interrupt_after(["build"], env, 6, cwd=project)
    assert result.returncode == 130, result.stdout + result.stderr
    assert_interrupted(result, "SIGINT")
