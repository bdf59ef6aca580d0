"""`migrate backup --side source` and `migrate restore` on a MariaDB source: a mariadb-dump archive
whose manifest (rows, checksums, the binary log position) is read at the dump's own point, even
under writes; a restore into a new database proven against it, without the harness's triggers; a
tampered archive refused."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import psycopg
import pytest

from harness import backup
from harness.core import connections
from harness.core.connections import Database
from harness.engines.mysql import backup as mysql_backup
from harness.engines.mysql.engine import MysqlEngine
from tests.conftest import assert_one_clear_line, run_migrate
from tests.integration.mysql.conftest import admin, fetch, run_sql

pytestmark = pytest.mark.integration

SCHEMA = """
create table orders (id int primary key, total decimal(12,2), placed datetime(6), note text,
                     ratio double, flags bit(10), photo blob, doc json) engine=InnoDB;
insert into orders
    select seq, seq * 1.25, '2024-01-02 03:04:05.123456' + interval seq second, concat('order ', seq, ' é😀'),
           seq / 7, seq % 1024, unhex(md5(seq)), json_object('n', seq)
    from seq_1_to_20000;
create table notes (id int primary key, body varchar(20)) engine=InnoDB;
insert into notes values (1, null), (2, ''), (3, 'N');
create table audit (id int auto_increment primary key, order_id int) engine=InnoDB;
create trigger orders_audit after update on orders for each row insert into audit (order_id) values (new.id)
"""

CONFIG = """
source: {engine: mysql, schema: %(db)s}
target: {database: unused}
tables:
  orders: {}
  notes: {}
"""


@pytest.fixture
def project(tmp_path, mysql_database, migration):
    url, db = mysql_database
    run_sql(url, db, SCHEMA)
    (tmp_path / "migration.yml").write_text(CONFIG % {"db": db})
    env = {"MIGRATE_SOURCE_URL": url, "MIGRATE_TARGET_URL": migration.target_url}
    restored: list[str] = []
    yield url, db, env, migration, tmp_path, restored
    for name in restored:
        run_sql(url, None, f"drop database if exists `{name}`")


def _manifest(target_url: str) -> tuple:
    with psycopg.connect(target_url) as conn:
        return conn.execute(
            "select file, row_counts, checksums, log_position, verified_into from migrate_control.backups "
            "order by backup_id desc limit 1"
        ).fetchone()


def test_backup_and_restore_of_a_mariadb_source_are_proven_against_the_manifest(project):
    url, db, env, migration, tmp_path, restored = project
    # Frozen at the source, as when decommission archives it: the restored copy is left without the freeze.
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)
    with connections.connection(source, command="test") as conn:
        MysqlEngine().freeze(conn, db, ["orders", "notes"], lock_timeout_seconds=10)
    try:
        taken = run_migrate("backup", "--side", "source", env=env, cwd=tmp_path)
        assert "mariadb-dump of the source" in taken.stdout
        assert "at the source log's position binlog." in taken.stdout.replace("\n", "")
        file, counts, sums, position, _ = _manifest(migration.target_url)
        assert counts == {f"{db}.orders": 20000, f"{db}.notes": 3, f"{db}.audit": 0}
        assert set(sums) == set(counts) and len(set(sums.values())) == 3
        assert position == mysql_backup.archive_position(Path(file))
        into = f"r_{uuid.uuid4().hex[:10]}"
        restored.append(into)
        done = run_migrate("restore", "--into", into, env=env, cwd=tmp_path)
        assert "all matching the manifest by content (checksums)" in done.stdout
    finally:
        with connections.connection(source, command="test") as conn:
            MysqlEngine().unfreeze(conn, db, ["orders", "notes"])
    assert _manifest(migration.target_url)[4] == into
    triggers = fetch(url, None, f"select trigger_name from information_schema.triggers where trigger_schema = '{into}'")
    assert triggers == [("orders_audit",)]  # the application's trigger kept, the freeze's left out
    query = "select id, total, placed, note, ratio, flags + 0, hex(photo), doc from {}.orders order by id"
    assert fetch(url, None, query.format(f"`{into}`")) == fetch(url, None, query.format(f"`{db}`"))
    assert fetch(url, into, "select id, body from notes order by id") == [(1, None), (2, ""), (3, "N")]


def test_the_manifest_is_read_at_the_dumps_own_point_under_writes(project):
    url, db, env, migration, tmp_path, restored = project
    stop = threading.Event()
    written = []

    def write() -> None:
        with admin(url, database=db) as conn, conn.cursor() as cur:
            n = 100000
            while not stop.is_set():
                n += 1
                cur.execute("insert into notes values (%s, 'busy')", (n,))
                cur.execute("update orders set total = total + 1 where id = %s", (n % 20000 + 1,))
                written.append(n)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        run_migrate("backup", "--side", "source", env=env, cwd=tmp_path)
    finally:
        stop.set()
        writer.join()
    _, counts, _, position, _ = _manifest(migration.target_url)
    assert len(written) > 10 and 3 < counts[f"{db}.notes"] < 3 + len(written)  # taken amid the writes
    into = f"r_{uuid.uuid4().hex[:10]}"
    restored.append(into)
    run_migrate("restore", "--into", into, env=env, cwd=tmp_path)
    assert fetch(url, into, "select count(*) from notes") == [(counts[f"{db}.notes"],)]
    assert position


def test_a_tampered_archive_is_refused(project):
    url, db, env, migration, tmp_path, restored = project
    run_migrate("backup", "--side", "source", env=env, cwd=tmp_path)
    file = Path(_manifest(migration.target_url)[0])
    data = bytearray(file.read_bytes())
    at = data.index(b"order 17")
    data[at : at + 8] = b"order 71"
    file.write_bytes(bytes(data))
    into = f"r_{uuid.uuid4().hex[:10]}"
    restored.append(into)
    refused = run_migrate("restore", "--into", into, env=env, cwd=tmp_path, expect=1)
    assert_one_clear_line(refused, "does not match its recorded sha256", "take a new backup")
    assert fetch(url, None, f"select count(*) from information_schema.schemata where schema_name = '{into}'") == [(0,)]


def test_a_changed_value_in_a_restored_copy_fails_its_proof(project):
    url, db, env, migration, tmp_path, restored = project
    run_migrate("backup", "--side", "source", env=env, cwd=tmp_path)
    into = f"r_{uuid.uuid4().hex[:10]}"
    restored.append(into)
    run_migrate("restore", "--into", into, env=env, cwd=tmp_path)
    chosen = _backup_record(migration.target_url)
    restored_db = Database("source", connections.with_database(url, into), "MIGRATE_SOURCE_URL", False)
    assert backup.prove(restored_db, chosen, MysqlEngine()).differences == {}
    run_sql(url, into, "update orders set ratio = ratio + 1e-12 where id = 5;\nupdate notes set body = '' where id = 1")
    differences = backup.prove(restored_db, chosen, MysqlEngine()).differences
    assert set(differences) == {f"{db}.orders", f"{db}.notes", f"{db}.audit"}  # audit: the update's trigger wrote it


def test_a_float_column_mariadb_dump_cannot_keep_fails_the_restore(project):
    """mariadb-dump writes a FLOAT with 6 significant digits: the restore differs, and says so."""
    url, db, env, migration, tmp_path, restored = project
    run_sql(url, db, "create table readings (id int primary key, f float);\ninsert into readings values (1, 1/7)")
    run_migrate("backup", "--side", "source", env=env, cwd=tmp_path)
    into = f"r_{uuid.uuid4().hex[:10]}"
    restored.append(into)
    refused = run_migrate("restore", "--into", into, env=env, cwd=tmp_path, expect=1)
    assert_one_clear_line(refused, f"restored database '{into}' differs from the backup's manifest", f"{db}.readings")
    assert f"{db}.orders" not in refused.stderr


def _backup_record(target_url: str) -> backup.Backup:
    with psycopg.connect(target_url) as conn:
        row = conn.execute(
            "select backup_id, side, file, server_version, size_bytes, sha256, row_counts, checksums "
            "from migrate_control.backups order by backup_id desc limit 1"
        ).fetchone()
    backup_id, side, file, version, size, sha, counts, sums = row
    return backup.Backup(backup_id, side, Path(file), version, size, sha, counts, checksums=sums)


def test_counts_and_checksums_keep_null_empty_and_float_digits_apart(mysql_database):
    url, db = mysql_database
    run_sql(url, db, "create table t (id int primary key, a varchar(5), f float);\ninsert into t values (1, null, 1)")
    source = Database("source", url, "MIGRATE_SOURCE_URL", False)

    def checksum() -> str:
        with connections.connection(source, command="test") as conn:
            return mysql_backup.counts_and_checksums(conn, [db])[1][f"{db}.t"]

    sums = [checksum()]
    for change in ("update t set a = ''", "update t set a = 'N'", "update t set f = 1.0000001"):
        run_sql(url, db, change)
        sums.append(checksum())
    assert len(set(sums)) == 4
