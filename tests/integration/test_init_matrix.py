"""`migrate init` on the fidelity matrix (issue 20's tests, the type matrix of issue "Every value
exact"): one column per built-in type with its special values, an enum, a composite type and
domains of the source's own, then with no hand edit `migrate check`, provision, load, build, the
source's writes (insert, update, key change, delete), sync and reconcile at every level. Landing
must hold every source value exactly (in its binary send form), and app every column, each value
what its staging conversion promises (the column's expected_sql over landing). Then the same project
under generic traffic (values and special values of every type, test_generic_traffic_types.py) through
cutover and fallback, the ledger checked after both."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
import yaml
from psycopg import sql

from harness.core.config import load_config
from harness.demo import ledger
from harness.demo.generic_traffic import verify_after_cutover, verify_after_fallback
from tests.conftest import run_migrate
from tests.integration.conftest import allow_lag, generic_traffic
from tests.integration.test_fidelity_matrix import (
    COMPARED_AS_TEXT,
    EVERY_CODE_POINT,
    MATRIX,
    TEXT_SETTINGS,
    TYPES,
    binary_rows,
    insert,
    odd_session,
    update,
    xml_supported,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def project(migration, tmp_path, monkeypatch):
    """The matrix table in the source (rows of values A, B, NULLs and every code point), and the
    project `migrate init` writes for it."""
    for name in ("MIGRATE_PROJECT_DIR", "MIGRATE_SOURCE_URL", "MIGRATE_TARGET_URL"):
        monkeypatch.delenv(name, raising=False)
    entries = [e for e in MATRIX if e[1] != "xml" or xml_supported(migration.source_url)]
    with psycopg.connect(migration.source_url, autocommit=True) as conn:
        conn.execute(TYPES)
        conn.execute(
            f'create table "Fid"."Matrix" (id integer primary key, {", ".join(f"{c} {t}" for c, t, *_ in entries)})'
        )
    with odd_session(migration.source_url) as conn:
        insert(conn, 1, {e[0]: e[2] for e in entries})
        insert(conn, 2, {e[0]: e[3] for e in entries})
        insert(conn, 3, {})
        insert(conn, 5, {"txt": EVERY_CODE_POINT})
    folder = tmp_path / "matrix-migration"
    run_migrate(
        "init",
        str(folder),
        "--source-url",
        migration.source_url,
        "--target-url",
        migration.target_url,
        "--schema",
        "Fid",
    )
    return folder, entries


def app_columns(folder) -> dict[str, dict]:
    """The app model's columns as init wrote them: source column → name, data type, expected SQL."""
    (path,) = (folder / "models").rglob("*app__models.yml")
    (model,) = yaml.safe_load(path.read_text())["models"]
    return {
        column["meta"]["source"][0].split(".", 1)[1]: {
            "name": column["name"],
            "data_type": column["data_type"],
            "expected": column["meta"]["expected_sql"],
        }
        for column in model["columns"]
    }


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def exact(url: str, columns: list[str], relation: str) -> list[tuple]:
    values = ", ".join(columns)
    return binary_rows(url, f"select {values} from {relation} order by 1", TEXT_SETTINGS)


def differing(names: list[str], expected: list[tuple], found: list[tuple]) -> list[tuple]:
    assert [row[0] for row in found] == [row[0] for row in expected], "the same keys"
    return [
        (int.from_bytes(e[0], "big"), name)
        for e, f in zip(expected, found)
        for name, a, b in zip(names, e, f)
        if a != b
    ]


def assert_exact(migration, folder, columns: list[str], keys: list[int]) -> None:
    """Landing holds the source's values exactly; app each value as its column's conversion promises."""
    compared = ["id", *(f"{c}::text" if c in COMPARED_AS_TEXT else c for c in columns)]
    source = exact(migration.source_url, compared, '"Fid"."Matrix"')
    landed = exact(migration.target_url, compared, 'landing."Matrix" where not _migrate_deleted')
    assert [int.from_bytes(r[0], "big") for r in landed] == keys
    assert differing(["id", *columns], source, landed) == [], "landed other than the source holds them (key, column)"
    app = app_columns(folder)
    promised = ["id", *(app[c]["expected"].replace('"Matrix".', "") for c in columns)]
    in_app = ["id", *(app[c]["name"] for c in columns)]
    promised = [f"({p})::text" if c in COMPARED_AS_TEXT else p for c, p in zip(["id", *columns], promised)]
    in_app = [f"{a}::text" if c in COMPARED_AS_TEXT else a for c, a in zip(["id", *columns], in_app)]
    expected = exact(migration.target_url, promised, 'landing."Matrix" where not _migrate_deleted')
    found = exact(migration.target_url, in_app, "app.matrix")
    assert differing(["id", *columns], expected, found) == [], "app values other than the conversions promise"


def test_init_project_carries_every_matrix_value_through_the_lifecycle(migration, project):
    folder, entries = project
    columns = [c for c, *_ in entries]
    run_migrate("check", cwd=folder)
    run_migrate("provision", cwd=folder)
    run_migrate("load", cwd=folder)
    run_migrate("build", cwd=folder)
    app = app_columns(folder)
    assert set(app) == {"id", *columns}, "every source column has its app column"
    declared = dict(
        rows(
            migration.source_url,
            "select attname, format_type(atttypid, atttypmod) from pg_attribute "
            """where attrelid = '"Fid"."Matrix"'::regclass and attnum > 0""",
        )
    )
    converted = {c: app[c]["data_type"] for c in columns if app[c]["data_type"] != declared[c]}
    assert converted == {"js": "jsonb", "js_blank": "jsonb", "mon": "numeric(19,2)"}, "every other type kept"
    assert_exact(migration, folder, columns, [1, 2, 3, 5])

    with odd_session(migration.source_url) as conn:
        insert(conn, 6, {e[0]: e[3] for e in entries})  # values B, inserted
        update(conn, 1, {e[0]: e[3] for e in entries})  # values A become B
        update(conn, 2, {e[0]: e[2] for e in entries})  # and B become A
        conn.execute('update "Fid"."Matrix" set id = 50 where id = 5')  # a key change
        conn.execute('delete from "Fid"."Matrix" where id = 3')
    run_migrate("sync", cwd=folder)
    run_migrate("reconcile", cwd=folder)
    assert_exact(migration, folder, columns, [1, 2, 6, 50])

    # Changes to values `=` calls equal to the old ones (-0 and 0, 1.10 and 1.1, 24:00 and 1 day) still reach app.
    with odd_session(migration.source_url) as conn:
        update(conn, 2, {"f4": "'0'", "f8": "'0'", "num_scale": "1.1", "iv_day": "'1 day'", "pt": "'(1.5,0)'"})
    run_migrate("sync", cwd=folder)
    run_migrate("reconcile", cwd=folder)
    assert_exact(migration, folder, columns, [1, 2, 6, 50])


def empty_columns(url: str, relation: tuple[str, str], columns: list[str], keys: list[int]) -> list[str]:
    """The columns that hold no value (only NULLs) in the rows of these keys."""
    counts = sql.SQL(", ").join(sql.SQL("count({})").format(sql.Identifier(c)) for c in columns)
    query = sql.SQL("select {} from {} where id = any(%s)").format(counts, sql.Identifier(*relation))
    with psycopg.connect(url) as conn:
        found = conn.execute(query, (keys,)).fetchone()
    return [c for c, n in zip(columns, found) if n == 0]


def live_keys(ledger_path, app: str) -> list[int]:
    """The keys of the rows one application's writes left in place (inserted or updated, not deleted)."""
    final = ledger.final_entries(ledger.entries(ledger_path, app=app)).get("Matrix" if app == "legacy" else "matrix")
    return [e["key"]["id"] for e in (final or {}).values() if e["op"] != "D"]


def test_init_matrix_project_cuts_over_and_falls_back_under_generic_traffic(migration, project, admin_url):
    """The matrix project under the generic writers: provision, load, sync, reconcile, cutover, the new
    application writing app, the fallback carrying its writes back; the ledger holds after the cutover
    and after the fallback, and both applications wrote a value of every type of the matrix."""
    folder, entries = project
    columns = [c for c, *_ in entries]
    allow_lag(folder)
    yml = folder / "migration.yml"  # gates this test is not about: approvals and a rehearsal
    yml.write_text(
        yml.read_text()
        .replace("required_approvals: [dba]", "required_approvals: []")
        .replace("require_rehearsal: true", "require_rehearsal: false")
    )
    ledger_path = folder / ".migrate" / "ledger.jsonl"
    run_migrate("provision", cwd=folder)
    run_migrate("load", cwd=folder)
    scratch = f"t_scratch_{uuid.uuid4().hex[:8]}"
    try:
        with generic_traffic(folder, ledger_path) as before_fallback:
            time.sleep(2)
            run_migrate("sync", cwd=folder)
            run_migrate("backup", cwd=folder)  # a verified backup is a gate no setting waives
            run_migrate("restore", "--into", scratch, "--allow-source-copy", cwd=folder)
            run_migrate("reconcile", cwd=folder)
            run_migrate("sync", "--no-build", cwd=folder)
            run_migrate("cutover", cwd=folder)
            time.sleep(3)  # the new application writes app
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{scratch}"')
    after_cutover = verify_after_cutover(load_config(folder), ledger_path)
    assert after_cutover.ok, after_cutover.describe() + str(after_cutover.missing + after_cutover.wrong)
    with generic_traffic(folder, ledger_path) as after_switch:
        time.sleep(2)
        run_migrate("rollback", "--decided-by", "Dana", "--role", "dba", "--reason", "rehearsing", cwd=folder)
        time.sleep(2)  # the source application writes again
    for outcome in (before_fallback, after_switch):
        assert outcome["report"].failed == 0, outcome["report"].errors
    after_fallback = verify_after_fallback(load_config(folder), ledger_path)
    assert after_fallback.ok, after_fallback.describe() + str(after_fallback.missing + after_fallback.wrong)

    # The fallback's check compares, exactly, every column carried back as it is: all but the converted ones.
    written_new = [e for e in ledger.entries(ledger_path, app="new") if e["op"] != "D"]
    carried = set().union(*(e["legacy"]["texts"] for e in written_new))
    assert carried == {"id", *columns} - {"js", "js_blank", "mon"}, carried
    legacy, new = live_keys(ledger_path, "legacy"), live_keys(ledger_path, "new")
    assert len(legacy) > 10 and len(new) > 10, (len(legacy), len(new))
    assert after_fallback.checked > 20 and after_cutover.checked > 20
    in_app = app_columns(folder)
    assert empty_columns(migration.source_url, ("Fid", "Matrix"), columns, legacy) == [], "never written by legacy"
    app_names = [in_app[c]["name"] for c in columns]
    assert empty_columns(migration.target_url, ("app", "matrix"), app_names, new) == [], "never written in app"
    assert empty_columns(migration.source_url, ("Fid", "Matrix"), columns, new) == [], "never carried back"
