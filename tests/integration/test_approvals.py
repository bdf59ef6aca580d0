"""Sign-offs are recorded per stage and role; unknown roles and stages are refused clearly."""

import pytest

from tests.conftest import run_migrate
from tests.integration.conftest import rows

pytestmark = pytest.mark.integration


def test_approvals_are_recorded_and_the_latest_per_role_counts(migration):
    run_migrate("approve", "--role", "dba", "--name", "Dana DBA", "--note", "backups verified", env=migration.env)
    out = run_migrate("approve", "--role", "business_owner", "--name", "Bo Owner", env=migration.env).stdout
    assert "Bo Owner (business_owner) approved cutover" in out
    recorded = rows(
        migration.target_url, "select stage, role, name, note from migrate_control.approvals order by approval_id"
    )
    assert recorded == [
        ("cutover", "dba", "Dana DBA", "backups verified"),
        ("cutover", "business_owner", "Bo Owner", None),
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--role", "ceo", "--name", "X"], "role 'ceo' is not one of the owners"),
        (["--role", "dba", "--name", "X", "--stage", "party"], "stage 'party' is unknown"),
        (["--role", "dba", "--name", " "], "--name must say who approves"),
    ],
)
def test_bad_approvals_are_refused_in_one_line(migration, args, message):
    result = run_migrate("approve", *args, env=migration.env, expect=2)
    assert message in result.stderr and "Traceback" not in result.stderr


def test_status_follows_the_migration_and_names_the_next_step(shop):
    import json

    from harness import load
    from tests.conftest import run_migrate as migrate

    config, source, target, migration, tmp_path = shop
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    before = json.loads(migrate("status", "--json", env=env).stdout)
    assert before["facts"]["load"] is None and before["next_step"].startswith("migrate load")
    load.load(config, source, target)
    after = json.loads(migrate("status", "--json", env=env).stdout)
    assert after["facts"]["load"]["status"] == "succeeded"
    assert after["facts"]["capture"]["installed"] == ["Client", "Basket", "Tag"]
    assert after["facts"]["lag"]["changes_behind"] == 0
    assert after["next_step"].startswith("migrate backup")
    assert "next: migrate backup" in migrate("status", env=env).stdout


def test_a_second_approval_by_the_same_role_is_refused_until_revoked_and_the_runner_is_recorded(migration):
    import getpass
    import socket

    run_migrate("approve", "--role", "dba", "--name", "Dana DBA", env=migration.env)
    again = run_migrate("approve", "--role", "dba", "--name", "Dana DBA", env=migration.env, expect=2)
    assert (
        "dba already approved cutover" in again.stderr
        and "--revoke" in again.stderr
        and "Traceback" not in again.stderr
    )
    run_migrate("approve", "--revoke", "--role", "dba", "--name", "Dana DBA", env=migration.env)
    gone = run_migrate("approve", "--revoke", "--role", "dba", "--name", "Dana DBA", env=migration.env, expect=2)
    assert "no standing approval" in gone.stderr
    run_migrate("approve", "--role", "dba", "--name", "Dan DBA", env=migration.env)
    recorded = rows(
        migration.target_url,
        "select name, os_user, host, revoked_at is not null from migrate_control.approvals order by approval_id",
    )
    assert recorded == [
        ("Dana DBA", getpass.getuser(), socket.gethostname(), True),
        ("Dan DBA", getpass.getuser(), socket.gethostname(), False),
    ]
