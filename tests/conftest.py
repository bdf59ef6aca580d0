"""One real PostgreSQL for every test, and a fresh database per test that needs one.

The server is MIGRATE_TEST_ADMIN_URL when set (CI points it at the machine's PostgreSQL 15),
else the project's embedded PostgreSQL 16, started on demand. Never a mock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.core import connections, embedded

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def admin_url() -> str:
    return os.environ.get("MIGRATE_TEST_ADMIN_URL") or embedded.start(PROJECT_DIR)


def _fresh_database(admin_url: str, prefix: str):
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    connections.create_database(admin_url, name)
    return name, connections.with_database(admin_url, name)


@pytest.fixture
def database_url(admin_url: str):
    """The URL of a new empty database, dropped after the test."""
    name, url = _fresh_database(admin_url, "t")
    yield url
    connections.drop_database(admin_url, name)


@dataclass
class Migration:
    """A source and a target database of their own, as the CLI sees them through the environment."""

    source_url: str
    target_url: str

    @property
    def env(self) -> dict[str, str]:
        return {"MIGRATE_SOURCE_URL": self.source_url, "MIGRATE_TARGET_URL": self.target_url}


@pytest.fixture
def migration(admin_url: str):
    src_name, src_url = _fresh_database(admin_url, "t_src")
    dst_name, dst_url = _fresh_database(admin_url, "t_dst")
    yield Migration(src_url, dst_url)
    connections.drop_database(admin_url, src_name)
    connections.drop_database(admin_url, dst_name)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_migrate(*args: str, env: dict[str, str] | None = None, expect: int = 0, cwd: Path = PROJECT_DIR) -> CliResult:
    """Run the real `migrate` command in a subprocess and check its exit code."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600
    )
    result = CliResult(done.returncode, done.stdout, done.stderr)
    assert done.returncode == expect, (
        f"migrate {' '.join(args)} exited {done.returncode}, expected {expect}\n{done.stdout}\n{done.stderr}"
    )
    return result


def assert_one_clear_line(result, *fragments):
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]
