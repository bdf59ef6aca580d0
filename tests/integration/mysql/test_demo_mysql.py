"""The worked example on MariaDB: `migrate demo seed --source-engine mysql` writes the PostgreSQL seed's
legacy OMS into a MySQL-family database, with MySQL's own defects at MYSQL_RATES, and `migrate demo run
--source-engine mysql` runs the whole story on it (load under traffic, build, sync, reconcile, cutover,
the new application, fallback) and checks the ledger in MariaDB."""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from datetime import datetime

import psycopg
import pytest

from harness.core import connections, embedded
from harness.core.connections import Database
from harness.demo import seed_mysql
from harness.demo.seed import seed_legacy
from harness.demo.seed_mysql import MYSQL_RATES, TABLES, ZERO_DATETIME, seed_mysql_legacy
from harness.engines.mysql import server
from harness.engines.mysql.server import admin
from tests.conftest import PROJECT_DIR, assert_one_clear_line, run_migrate

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE = 2_000
SEED = 5


def _postgres_rows(url: str, table: str) -> list[tuple]:
    key = ", ".join(f'"{c}"' for c in TABLES[table])
    with psycopg.connect(url) as conn:
        return conn.execute(f'select * from "oms"."{table}" order by {key}').fetchall()


def _mysql_rows(url: str, database: str, table: str) -> tuple[list[tuple], list[str]]:
    """PyMySQL's Python values; CITY as its stored bytes (latin1, or UTF-8 where planted)."""
    with admin(url, database=database) as conn, conn.cursor() as cur:
        cur.execute(f"select * from `{table}` limit 0")
        columns = [d[0] for d in cur.description]
        selected = ", ".join("cast(`CITY` as binary)" if c == "CITY" else f"`{c}`" for c in columns)
        cur.execute(f"select {selected} from `{table}` order by {', '.join(f'`{c}`' for c in TABLES[table])}")
        return list(cur.fetchall()), columns


def test_the_mysql_seed_is_the_postgres_seed_with_the_mysql_defects_at_their_rates(
    migration, mysql_database, admin_url
):
    url, db = mysql_database
    with psycopg.connect(migration.source_url) as conn:
        expected_counts = seed_legacy(conn, SCALE, SEED)
        conn.commit()
    source = Database("source", connections.with_database(url, db), "test", False)
    counts, planted = seed_mysql_legacy(source, admin_url, SCALE, SEED)
    assert counts == expected_counts

    zero_scope = zero_found = city_scope = city_found = 0
    for table in TABLES:
        want = _postgres_rows(migration.source_url, table)
        got, columns = _mysql_rows(url, db, table)
        if table == "PRODUCT":  # the binary key's order: PostgreSQL's by bytes
            want.sort(key=lambda r: r[0].encode())
        assert len(got) == len(want), table
        for pg_row, my_row in zip(want, got):
            for column, expected, found in zip(columns, pg_row, my_row):
                if column == "LAST_UPD" and expected is None:
                    zero_scope += 1
                    zero_found += found is not None
                    assert found is None or found.startswith(ZERO_DATETIME), (table, pg_row[0], found)
                elif column == "CITY":
                    if expected is not None and not expected.isascii():
                        city_scope += 1
                        city_found += found == expected.encode("utf-8")
                        assert found in (expected.encode("utf-8"), expected.encode("latin-1")), pg_row[0]
                    else:
                        assert found == (None if expected is None else expected.encode("latin-1")), pg_row[0]
                elif isinstance(expected, datetime):
                    assert found == expected, (table, column, pg_row[0])
                else:
                    assert found == expected, (table, column, pg_row[0], expected, found)
    assert zero_found == planted["mysql.last_upd_zero"] > 0
    assert city_found == planted["mysql.city_utf8_in_latin1"] > 0
    # Evenly over the rows in scope in key order: floor(rows × rate) in each table, so at most one short per table.
    rate = MYSQL_RATES["mysql.last_upd_zero"]
    assert math.floor(zero_scope * rate) - len(TABLES) <= zero_found <= math.floor(zero_scope * rate) + 1
    assert city_found == math.floor(city_scope * MYSQL_RATES["mysql.city_utf8_in_latin1"])


def _table(document: dict, title: str) -> list[dict]:
    found = next(t for t in document["tables"] if t["title"].startswith(title))
    return [dict(zip(found["headers"], row)) for row in found["rows"]]


def test_the_even_pick_gives_the_rate_at_every_length():
    for rate in (0.5, 0.01, 0.3):
        even = seed_mysql.Even(rate)
        for n in range(1, 2001):
            even()
            assert even.picked == math.floor(n * rate)


def test_demo_run_on_mariadb_migrates_cuts_over_falls_back_and_loses_nothing(mysql_database, admin_url, tmp_path):
    if os.environ.get("MIGRATE_TEST_ADMIN_URL"):
        pytest.skip("the demo's target is the embedded PostgreSQL: MIGRATE_TEST_ADMIN_URL names another server")
    url, db = mysql_database
    for name in ("models", "macros", "kit", "seeds", "profiles"):
        shutil.copytree(PROJECT_DIR / name, tmp_path / name)
    for name in ("dbt_project.yml", "packages.yml", "selectors.yml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    # The tests' embedded server (no second one): the story's target database is the test's own.
    (tmp_path / ".migrate").mkdir()
    (tmp_path / ".migrate" / "pgdata").symlink_to(embedded.data_dir(PROJECT_DIR))
    names = {"oms_legacy": f"t_demo_src_{uuid.uuid4().hex[:8]}", "commerce": f"t_demo_dst_{uuid.uuid4().hex[:8]}"}
    yml = (PROJECT_DIR / "migration.yml").read_text()
    for default, name in names.items():
        yml = yml.replace(f"database: {default} ", f"database: {name} ", 1)
    (tmp_path / "migration.yml").write_text(yml)
    env = {
        "MIGRATE_SOURCE_URL": connections.with_database(url, db),
        "MIGRATE_TARGET_URL": "",
        "MIGRATE_PROJECT_DIR": str(tmp_path),
    }
    try:
        done = run_migrate(
            "demo", "run", "--source-engine", "mysql", "--scale", "300", "--rate", "10", "--json", cwd=tmp_path, env=env
        )
    finally:
        for name in names.values():
            connections.drop_database(admin_url, name)
    document = json.loads(done.stdout)
    timeline = {row["event"]: row["figures"] for row in _table(document, "Timeline")}
    checked = next(figures for event, figures in timeline.items() if event.startswith("ledger of both"))
    assert "against the legacy MySQL-family database" in " ".join(timeline), timeline
    assert " 0 missing, 0 with other content, 0 deleted but present" in checked, checked
    assert int(checked.split()[0].replace(",", "")) > 300, checked  # both applications wrote
    assert (
        "last_upd_zero" in timeline["legacy source seeded"]
        and "city_utf8_in_latin1" in timeline["legacy source seeded"]
    )
    assert any(e.startswith("cutover: applications switched") for e in timeline)
    assert any(e.startswith("fallback: new application's changes carried back") for e in timeline)
    dispositions = {row["legacy table"]: row for row in _table(document, "Every legacy row")}
    assert set(dispositions) == set(TABLES)
    for row in dispositions.values():  # every legacy row migrated, merged or quarantined
        rows, migrated, merged, quarantined = (int(str(row[c]).replace(",", "")) for c in list(row)[1:5])
        assert rows == migrated + merged + quarantined > 0, row
    assert "Traceback" not in done.stderr and "not refreshed" not in done.stderr, done.stderr
    assert (tmp_path / "reports" / "dashboard.html").exists()


def test_demo_run_on_mysql_without_mariadb_binaries_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(server, "binary", lambda names: None)
    with pytest.raises(server.NoServerBinaries) as refused:
        server.start_private_server(tmp_path / "mariadb")
    assert refused.value.exit_code == 2
    assert "no MariaDB server binaries found" in str(refused.value) and "\n" not in str(refused.value)


def test_an_unknown_source_engine_is_one_line():
    assert_one_clear_line(
        run_migrate("demo", "run", "--source-engine", "oracle", expect=2), "--source-engine 'oracle' is unknown"
    )
