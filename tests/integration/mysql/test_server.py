"""The MySQL test servers themselves: the private one writes the binary log capture reads."""

from __future__ import annotations

import pytest

from tests.integration.mysql.conftest import fetch, run_sql

pytestmark = pytest.mark.integration


def test_private_server_writes_a_row_based_binary_log(mysql_database):
    url, name = mysql_database
    ((log_bin, binlog_format, row_image),) = fetch(url, None, "select @@log_bin, @@binlog_format, @@binlog_row_image")
    assert (log_bin, binlog_format, row_image) == (1, "ROW", "FULL")
    run_sql(url, name, "create table t (id int primary key);\ninsert into t values (1)")
    assert fetch(url, name, "select id from t") == [(1,)]


def test_machine_server_serves_tests_that_need_no_binary_log(machine_mysql_database):
    url, name = machine_mysql_database
    run_sql(url, name, "create table t (id int primary key);\ninsert into t values (7)")
    assert fetch(url, name, "select id from t") == [(7,)]


def test_sessions_share_one_tls_context_instead_of_loading_the_certificates_each(mysql_database):
    """PyMySQL's PREFERRED mode built a default TLS context per connection, loading the system's CA
    certificates each time (0.13 s, two thirds of an idle binlog batch's three connections)."""
    from harness.core import connections
    from harness.core.connections import Database
    from harness.engines.mysql.session import Session

    url, db = mysql_database
    database = Database("source", connections.with_database(url, db), "x", False)
    with connections.connection(database) as one, connections.connection(database) as two:
        assert one.ctx is two.ctx
        settings = connections.mysql_settings(url)
        third = Session(**settings)  # as the binary log's reader connects
        try:
            assert third.ctx is one.ctx
        finally:
            third.close()


def test_a_server_left_running_in_the_folder_is_stopped_before_a_new_start(tmp_path):
    """A demo killed with kill -9 leaves its mariadbd running; the next start in that folder failed
    on the data directory's lock. The start stops the orphan (its pid file names it) first."""
    from harness.engines.mysql import server

    orphan = server.start_private_server(tmp_path / "mariadb")  # never stopped, as after kill -9
    try:
        again = server.start_private_server(tmp_path / "mariadb")
    except Exception:
        orphan.stop()
        raise
    try:
        assert orphan.process.wait(timeout=30) is not None, "the orphan stopped"
        assert fetch(again.url, None, "select 1") == [(1,)]
    finally:
        again.stop()
