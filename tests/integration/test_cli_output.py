"""What the commands print at 80 columns, as a terminal of that width or a pipe shows it: every
line fits, table words are wrapped or folded but never cut short with "…", no colour codes when
the output is not a terminal, and a rehearsal shows dbt's progress during its build."""

from __future__ import annotations

import re
import shutil

import pytest
from rich.cells import cell_len

from harness.core import connections
from tests.conftest import PROJECT_DIR, run_migrate
from tests.integration.conftest import CONFIG

pytestmark = pytest.mark.integration

CUTOVER = """
owners: {dba: Platform DBA, business_owner: Order Management}
cutover:
  required_approvals: [dba, business_owner]
  require_rehearsal: false
  max_lag_seconds: 600
"""

APP_MODEL = """{{{{ config(materialized='incremental', alias='{alias}', meta={{'source_table': '{source}'}}) }}}}
select * from landing."{source}" where not "_migrate_deleted"
{{% if is_incremental() %}} and false {{% endif %}}
"""

NARROW = {"COLUMNS": "80", "NO_COLOR": "", "FORCE_COLOR": "", "TTY_COMPATIBLE": ""}


@pytest.fixture
def project(shop, admin_url):
    """The shop source with a cutover section and a dbt project of two app models."""
    config, source, target, migration, tmp_path = shop
    (tmp_path / "migration.yml").write_text(CONFIG + CUTOVER)
    (tmp_path / "dbt_project.yml").write_text("name: shop_test\nversion: '1.0'\nconfig-version: 2\nprofile: migrate\n")
    shutil.copytree(PROJECT_DIR / "profiles", tmp_path / "profiles")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "app_tag.sql").write_text(APP_MODEL.format(alias="tag", source="Tag"))
    (tmp_path / "models" / "app_client.sql").write_text(APP_MODEL.format(alias="client", source="Client"))
    yield migration, tmp_path, source.name
    connections.drop_database(admin_url, f"{source.name}_check")


def narrow(migration, tmp_path, *args: str, expect: int = 0, **env: str):
    return run_migrate(
        *args, env={**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path), **NARROW, **env}, expect=expect
    )


def assert_fits_80_columns_without_colour(command: str, output: str) -> None:
    assert "\x1b[" not in output, f"{command}: colour codes in output that is not a terminal"
    for line in output.splitlines():
        assert cell_len(line) <= 80, f"{command}: a line of {cell_len(line)} columns:\n{line}"
        if re.match(r"[│┃]", line):
            assert "…" not in line, f"{command}: a word cut short in a table:\n{output}"


def test_every_command_fits_80_columns_and_prints_no_colour_into_a_pipe(project):
    """The lifecycle to a cutover and its rollback check, each command's output piped."""
    migration, tmp_path, source_name = project
    commands = [
        ("load",),
        ("status",),
        ("reconcile", "--level", "counts,checksums"),
        ("backup",),
        ("restore", "--into", f"{source_name}_check", "--allow-source-copy"),
        ("approve", "--stage", "cutover", "--role", "dba", "--name", "Dana"),
        ("approve", "--stage", "cutover", "--role", "business_owner", "--name", "Bo"),
        ("cutover", "--dry-run"),
        ("cutover",),
        ("rollback", "--check"),  # six columns: criterion, kind, state, figure, limit, note
        ("status",),
        ("assess",),
    ]
    shown = []
    for args in commands:
        result = narrow(migration, tmp_path, *args)
        assert_fits_80_columns_without_colour(" ".join(args), result.stdout)
        assert "\x1b[" not in result.stderr
        shown.append(result.stdout)
    # The criteria table's short words stay whole beside its long prose: "verification", not "verificat" + "ion".
    assert re.search(r"│verification\s*│verification\s*│", shown[commands.index(("rollback", "--check"))])


def test_a_rehearsal_shows_progress_during_its_load_and_build(project):
    migration, tmp_path, _ = project
    narrow(migration, tmp_path, "load", "--no-build")
    shown = narrow(migration, tmp_path, "rehearse", TTY_COMPATIBLE="1").stdout  # as a terminal shows it
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert re.search(r"dbt build .* 2/2 ", plain), plain
    assert re.search(r"loading the copies .* [\d,]+/[\d,]+ ", plain), "the copy's bar has a total"
