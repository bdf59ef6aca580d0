"""Reading the source at the reconcile's snapshot: MySQL sessions cannot join another session's
snapshot, so a reader borrows a session of the snapshot itself. Before, `join_snapshot` opened a
consistent read of the reader's own, later: under writes, the counts level compared a later source
with landing brought to the snapshot and reported rows missing that were not."""

from __future__ import annotations

import pytest

from harness import engines
from harness.core import connections
from harness.core.connections import Database
from tests.integration.mysql.conftest import run_sql

pytestmark = pytest.mark.integration


def test_a_reader_joining_the_snapshot_counts_the_rows_of_that_moment(mysql_database):
    url, db = mysql_database
    run_sql(url, db, "create table t (id int primary key) engine=InnoDB;\ninsert into t select seq from seq_1_to_100")
    source = Database("source", connections.with_database(url, db), "x", False)
    engine = engines.engine_named("mysql")
    with connections.connection(source, command="test") as holder:
        snapshot_id, _ = engine.open_snapshot(holder)
        run_sql(url, db, "insert into t select seq from seq_101_to_150;\ndelete from t where id <= 10")
        with connections.connection(source, command="test") as reader:
            engine.join_snapshot(reader, snapshot_id)
            assert engine.row_count(reader, db, "t") == 100
            reader.rollback()
        with connections.connection(source, command="test") as plain:
            assert engine.row_count(plain, db, "t") == 140
