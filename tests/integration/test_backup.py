"""Backups carry a manifest taken in pg_dump's own snapshot, and a restore is proven against it."""

from __future__ import annotations

import os
import stat

import psycopg
import pytest

from harness import backup, load
from harness.core import connections
from harness.core.connections import Database
from harness.core.errors import CheckFailed, ConfigError
from tests.conftest import assert_one_clear_line, run_migrate
from tests.integration.conftest import rows

pytestmark = pytest.mark.integration


@pytest.fixture
def restored_names(admin_url):
    names: list[str] = []
    yield names
    for name in names:
        connections.drop_database(admin_url, name)


def test_source_backup_restores_and_matches_its_manifest(shop, tmp_path, restored_names):
    config, source, target, migration, _ = shop
    taken = backup.backup(config, source, target, "source", tmp_path / "backups")
    assert taken.row_counts == {"Shop.Basket": 6000, "Shop.Client": 5000, "Shop.Tag": 2}
    assert taken.file.exists() and len(taken.sha256) == 64

    into = f"{source.name}_restored"
    restored_names.append(into)
    result = backup.restore(config, source, target, into, allow_source_copy=True)  # both on the test server
    assert result.row_counts == taken.row_counts
    verified = rows(
        migration.target_url, f"select verified_into from migrate_control.backups where backup_id = {taken.backup_id:d}"
    )
    assert verified == [(into,)]


def test_target_backup_never_holds_a_full_card_number(shop, tmp_path, restored_names):
    config, source, target, migration, _ = shop
    load.load(config, source, target)
    taken = backup.backup(config, source, target, "target", tmp_path / "backups")
    assert taken.row_counts["landing.Client"] == 5000
    into = f"{target.name}_restored"
    restored_names.append(into)
    backup.restore(config, source, target, into, side="target")
    restored_url = connections.with_database(migration.target_url, into)
    assert rows(restored_url, 'select max(length("Card")), count("Card") from landing."Client"') == [(4, 1666)]


def test_damaged_backup_is_refused(shop, tmp_path, restored_names):
    config, source, target, _, _ = shop
    taken = backup.backup(config, source, target, "source", tmp_path / "backups")
    with taken.file.open("ab") as f:
        f.write(b"garbage")
    with pytest.raises(CheckFailed, match="does not match its recorded sha256"):
        backup.restore(config, source, target, f"{source.name}_bad")


def test_restore_refuses_an_existing_database(shop, tmp_path):
    config, source, target, _, _ = shop
    backup.backup(config, source, target, "source", tmp_path / "backups")
    with pytest.raises(ConfigError, match="refusing to restore over the live"):
        backup.restore(config, source, target, target.name)


def test_backup_archive_is_readable_by_its_owner_only(shop, tmp_path):
    config, source, target, _, _ = shop
    previous = os.umask(0o022)  # the usual umask, which would leave an archive readable by all
    try:
        taken = backup.backup(config, source, target, "source", tmp_path / "backups")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(taken.file.stat().st_mode) == 0o600
    assert stat.S_IMODE(taken.file.parent.stat().st_mode) == 0o700


def test_restore_of_a_source_archive_into_the_target_server_needs_allow_source_copy(shop, tmp_path, restored_names):
    config, source, target, migration, project = shop
    backup.backup(config, source, target, "source", tmp_path / "backups")
    into = f"{source.name}_copy"
    restored_names.append(into)
    env = {"MIGRATE_PROJECT_DIR": str(project)}
    refused = run_migrate("restore", "--into", into, env=env, expect=2)
    assert_one_clear_line(refused, "target's server", "--allow-source-copy")
    assert rows(migration.target_url, f"select count(*) from pg_database where datname = '{into}'") == [(0,)]
    run_migrate("restore", "--into", into, "--allow-source-copy", env=env)
    assert rows(connections.with_database(migration.target_url, into), 'select count(*) from "Shop"."Client"') == [
        (5000,)
    ]


def test_a_restore_is_proven_by_content_not_by_counts_alone(shop, tmp_path, restored_names):
    config, source, target, migration, _ = shop
    first = backup.backup(config, source, target, "source", tmp_path / "backups")
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute("""update "Shop"."Client" set "Name" = 'changed, same count' where "Id" = 42""")
    second = backup.backup(config, source, target, "source", tmp_path / "backups")
    assert second.row_counts == first.row_counts
    assert {t for t in first.checksums if first.checksums[t] != second.checksums[t]} == {"Shop.Client"}

    into = f"{source.name}_proven"
    restored_names.append(into)
    result = backup.restore(config, source, target, into, backup_id=first.backup_id, allow_source_copy=True)
    assert result.by_content and not result.differences
    restored = Database("source", connections.with_database(migration.source_url, into), "test", False)
    held_against_the_later_backup = backup.prove(
        restored, backup.find_backup(config, target, second.backup_id, "source")
    )
    assert held_against_the_later_backup.differences == {
        "Shop.Client": ((5000, second.checksums["Shop.Client"]), (5000, first.checksums["Shop.Client"]))
    }


def test_a_table_with_a_column_named_t_is_summed_by_whole_rows(migration):
    """The checksum read each row as `t`, the table's alias: a column named t stood for the row, so
    a restore differing in every other column summed alike."""
    from harness.engines.postgres import backup as pg_backup

    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute('create schema "Odd"; create table "Odd".times (id int primary key, t text, amount int)')
        conn.execute("insert into \"Odd\".times values (1, '10:00', 5)")
        with conn.transaction():
            before = pg_backup.counts_and_checksums(conn, ["Odd"])[1]
        conn.execute('update "Odd".times set amount = 6')
        with conn.transaction():
            after = pg_backup.counts_and_checksums(conn, ["Odd"])[1]
    assert before["Odd.times"] != after["Odd.times"]
