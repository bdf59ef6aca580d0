"""The cutover runbook: gates, freeze, final sync, verification, sequences, switch.

Each step is recorded with its start, end and outcome in the control schema, and every step
can run again: a cutover killed at any point and started again resumes at the first step that
did not succeed. Before the switch, `rollback.abort` undoes it cleanly.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import psycopg
from psycopg import sql

from harness import capture, connections, control, freeze, landing, processes, runbook, sync
from harness.config import Config
from harness.connections import Database
from harness.engines import postgres
from harness.errors import CheckFailed
from harness.provision import APP_SCHEMA
from harness.runbook import StepResult

STEPS = (
    "preflight",
    "catch_up",
    "freeze_source",
    "final_sync",
    "final_build",
    "final_verification",
    "reverse_capture",
    "align_sequences",
    "switch",
    "source_read_only",
)


class GateFailed(CheckFailed):
    pass


@dataclass
class Gate:
    name: str
    passed: bool
    reason: str


@dataclass
class CutoverResult:
    run_id: int
    resumed: bool
    steps: list[StepResult] = field(default_factory=list)
    write_unavailable_seconds: float | None = None


def models_fingerprint(project_dir: Path) -> str:
    """A hash of everything that defines the mapping: a rehearsal is valid for exactly this."""
    digest = hashlib.sha256()
    for folder in ("models", "macros", "seeds"):
        for path in sorted((project_dir / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(project_dir)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def gates(config: Config, source: Database, target: Database) -> list[Gate]:
    settings = config.cutover
    t = lambda name: control.table(config.control_schema, name)  # noqa: E731
    now = datetime.now(timezone.utc)
    result: list[Gate] = []
    with connections.connection(target, command="cutover gates", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        approved = {
            role for (role,) in conn.execute(sql.SQL("select distinct role from {} where stage = 'cutover'").format(t("approvals"))).fetchall()
        }
        missing = [r for r in settings.required_approvals if r not in approved]
        result.append(Gate("approvals", not missing, f"no cutover approval from {', '.join(missing)}: run migrate approve --role ROLE --name NAME" if missing else "all required approvals recorded"))

        row = conn.execute(sql.SQL("select status, finished_at from {} order by reconcile_id desc limit 1").format(t("reconcile_runs"))).fetchone()
        limit = timedelta(minutes=settings.reconcile_max_age_minutes)
        if row is None:
            result.append(Gate("reconcile", False, "no reconciliation has run: run migrate reconcile"))
        elif row[0] != "passed":
            result.append(Gate("reconcile", False, "the last reconciliation failed: fix it and run migrate reconcile again"))
        elif now - row[1] > limit:
            result.append(Gate("reconcile", False, f"the last green reconciliation is older than {settings.reconcile_max_age_minutes:g} minutes: run migrate reconcile"))
        else:
            result.append(Gate("reconcile", True, f"green reconciliation at {row[1]:%H:%M:%S}"))

        row = conn.execute(
            sql.SQL("select taken_at, verified_at from {} where side = 'source' and verified_at is not null order by backup_id desc limit 1").format(t("backups"))
        ).fetchone()
        if row is None:
            result.append(Gate("backup", False, "no verified backup of the source: run migrate backup, then migrate restore --into <scratch db>"))
        elif now - row[0] > timedelta(hours=settings.backup_max_age_hours):
            result.append(Gate("backup", False, f"the last verified source backup is older than {settings.backup_max_age_hours:g} hours: take a new one"))
        else:
            result.append(Gate("backup", True, f"source backup taken {row[0]:%Y-%m-%d %H:%M}, verified"))

        if settings.require_rehearsal:
            row = conn.execute(
                sql.SQL("select models_fingerprint from {} where status = 'succeeded' order by rehearsal_id desc limit 1").format(t("rehearsals"))
            ).fetchone()
            if row is None:
                result.append(Gate("rehearsal", False, "no successful rehearsal: run migrate rehearse"))
            elif row[0] != models_fingerprint(config.project_dir):
                result.append(Gate("rehearsal", False, "the models changed since the last successful rehearsal: run migrate rehearse again"))
            else:
                result.append(Gate("rehearsal", True, "the current models were rehearsed"))
    try:
        lag = sync.lag(config, source, target)
        ok = lag.seconds_behind <= settings.max_lag_seconds
        result.append(Gate("capture_lag", ok, f"capture lag {lag.seconds_behind:.1f} s" + ("" if ok else f" is over {settings.max_lag_seconds:g} s: keep migrate sync --follow running")))
    except sync.NotLoaded as exc:
        result.append(Gate("capture_lag", False, str(exc)))
    return result


def app_table_names(conn: psycopg.Connection) -> list[str]:
    return [n for (n,) in conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relkind = 'r' order by 1",
        (APP_SCHEMA,),
    ).fetchall()]


def _app_tables(conn: psycopg.Connection) -> list[landing.SourceTable]:
    return [landing.SourceTable(n, postgres.columns(conn, APP_SCHEMA, n), postgres.primary_key(conn, APP_SCHEMA, n), {}) for n in app_table_names(conn)]


def align_sequences(conn: psycopg.Connection, schema: str) -> dict[str, int]:
    """Every identity or serial sequence of the schema continues above its column's largest value."""
    rows = conn.execute(
        """
        select c.relname, a.attname, pg_get_serial_sequence(format('%%I.%%I', n.nspname, c.relname), a.attname)
        from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
          and pg_get_serial_sequence(format('%%I.%%I', n.nspname, c.relname), a.attname) is not null
        """,
        (schema,),
    ).fetchall()
    aligned = {}
    for table, column, sequence in rows:
        (top,) = conn.execute(sql.SQL("select max({}) from {}").format(sql.Identifier(column), postgres.qualified(schema, table))).fetchone()
        if top is not None:
            conn.execute("select setval(%s, greatest(%s, (select last_value from pg_sequences where format('%%I.%%I', schemaname, sequencename) = %s)))", (sequence, top, sequence))
            aligned[f"{table}.{column}"] = top
    return aligned


def write_routing(config: Config, side: str) -> Path:
    path = config.project_dir / config.cutover.routing_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"writes": side, "tables": [t.name for t in config.tables], "at": time.time()}))
    tmp.replace(path)  # atomic: an application never reads half a file
    return path


def _sync_to_zero(config: Config, source: Database, target: Database) -> int:
    applied = 0
    while True:
        batch = sync.apply(config, source, target, detect_deletes=config.capture.method == "timestamp")
        applied += batch.changes
        if batch.changes == 0:
            return applied


def _verify_counts(config: Config, source: Database, target: Database) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    with connections.connection(source, command="cutover verify") as src, connections.connection(target, command="cutover verify") as dst:
        for table in config.tables:
            (s,) = src.execute(sql.SQL("select count(*) from {}").format(postgres.qualified(config.source_schema, table.name))).fetchone()
            (d,) = dst.execute(
                sql.SQL("select count(*) from {} where not {}").format(postgres.qualified(config.landing_schema, table.name), sql.Identifier(landing.DELETED))
            ).fetchone()
            counts[table.name] = {"source": s, "landing": d}
    return counts


def _verify_changed_rows(config: Config, source: Database, target: Database, since: datetime | None) -> dict[str, int]:
    """Compare, row by row, every landing row written since the last green reconcile with the source."""
    compared = {}
    with connections.connection(source, command="cutover verify") as src, connections.connection(target, command="cutover verify") as dst:
        for table in config.tables:
            desc = landing.describe(src, config, table)
            compared[table.name] = _compare_rows_since(src, dst, config, desc, since)
    return compared


def _compare_rows_since(src: psycopg.Connection, dst: psycopg.Connection, config: Config, table: landing.SourceTable, since: datetime | None) -> int:
    keys = postgres.column_list(table.key)
    key_types = {c.name: c.type for c in table.columns}
    landing_table = postgres.qualified(config.landing_schema, table.name)
    row_md5 = sql.SQL("md5((to_jsonb(r) - {}::text[])::text)").format(sql.Literal([landing.SYNCED_AT, landing.DELETED]))
    changed = sql.SQL("{} >= %s").format(sql.Identifier(landing.SYNCED_AT)) if since else sql.SQL("true")
    theirs = {
        tuple(row[:-1]): row[-1]
        for row in dst.execute(
            sql.SQL("select {keys}, case when {deleted} then null else {md5} end from {t} r where {changed}").format(
                keys=keys, deleted=sql.Identifier(landing.DELETED), md5=row_md5, t=landing_table, changed=changed
            ),
            (since,) if since else (),
        ).fetchall()
    }
    if not theirs:
        return 0
    src.execute(
        sql.SQL("create temp table _changed ({}) on commit drop").format(
            sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(key_types[k])) for k in table.key)
        )
    )
    with src.cursor().copy(sql.SQL("copy _changed ({}) from stdin").format(keys)) as copy:
        for key in theirs:
            copy.write_row(key)
    ours = {
        tuple(row[:-1]): row[-1]
        for row in src.execute(
            sql.SQL("select {keys}, {md5} from ({select}) r join _changed using ({keys})").format(
                keys=keys, md5=row_md5, select=landing.select_masked(config.source_schema, table)
            )
        ).fetchall()
    }
    src.rollback()
    differing = [k for k, digest in theirs.items() if ours.get(k) != digest]
    if differing:
        raise CheckFailed(f"final verification failed: {len(differing)} changed rows of {table.name} differ from the source, e.g. {differing[:3]}; nothing was switched")
    return len(theirs)


def estimates(config: Config, target: Database) -> dict[str, float]:
    """Each step's duration in the last successful rehearsal, else in the last cutover that ran it."""
    with connections.connection(target, command="cutover plan", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        rows = conn.execute(
            sql.SQL(
                "select distinct on (s.step) s.step, extract(epoch from s.finished_at - s.started_at) "
                "from {steps} s join {runs} r using (run_id) "
                "where r.command in ('rehearse', 'cutover') and s.status = 'succeeded' "
                "order by s.step, (r.command = 'rehearse') desc, s.finished_at desc"
            ).format(steps=control.table(config.control_schema, "steps"), runs=control.table(config.control_schema, "runs"))
        ).fetchall()
    return {step: float(seconds) for step, seconds in rows}


def run(
    config: Config,
    source: Database,
    target: Database,
    *,
    on_step: Callable[[StepResult], None] | None = None,
    skip_gates: bool = False,
    stop_before: str | None = None,
) -> CutoverResult:
    """Run the runbook; `stop_before` a step leaves the run open there (a rehearsal stops before the switch)."""
    schema = config.control_schema
    tables = [t.name for t in config.tables]
    with connections.connection(target, command="cutover", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        run_id, resumed, done = runbook.open_run(ctl, schema, "cutover")
        result = CutoverResult(run_id, resumed)
        last_reconcile = ctl.execute(
            sql.SQL("select max(finished_at) from {} where status = 'passed'").format(control.table(schema, "reconcile_runs"))
        ).fetchone()[0]

        def preflight(detail: dict) -> None:
            found = gates(config, source, target)
            detail["gates"] = {g.name: {"passed": g.passed, "reason": g.reason} for g in found}
            failed = [g for g in found if not g.passed]
            if failed and not skip_gates:
                raise GateFailed("cutover refused: " + "; ".join(f"{g.name}: {g.reason}" for g in failed))

        def reverse_capture(detail: dict) -> None:
            # After the final build and before the switch: from here on only the new application
            # writes `app`, and every row it changes is logged with its before image for a fallback.
            with connections.connection(target, command="cutover", autocommit=True) as conn:
                app_tables = _app_tables(conn)
                capture.install(conn, APP_SCHEMA, app_tables, before_images=True)
                conn.execute(sql.SQL("delete from {}.changes where table_schema = %s").format(sql.Identifier(capture.CAPTURE_SCHEMA)), (APP_SCHEMA,))
            detail["tables"] = [t.name for t in app_tables]

        def catch_up(detail: dict) -> None:
            # Sync and build everything written so far while the legacy application still writes:
            # the freeze then only waits for what arrives during these seconds.
            detail["changes"] = _sync_to_zero(config, source, target)
            detail["nodes"] = sync.build(config, target).succeeded

        def freeze_source(detail: dict) -> None:
            with connections.connection(source, command="cutover freeze") as conn:
                frozen = freeze.freeze(conn, config.source_schema, tables, lock_timeout_seconds=config.cutover.lock_timeout_seconds)
            with connections.connection(target, command="cutover", autocommit=True) as conn:
                control.set_phase(conn, schema, "frozen")
            detail.update(tables=frozen.tables, waited_seconds=frozen.waited_seconds, frozen_at=time.time())

        def final_sync(detail: dict) -> None:
            detail["changes"] = _sync_to_zero(config, source, target)

        def final_build(detail: dict) -> None:
            detail["nodes"] = sync.build(config, target).succeeded  # the incremental sync build, over the last changes

        def final_verification(detail: dict) -> None:
            counts = _verify_counts(config, source, target)
            detail["counts"] = counts
            wrong = {t: c for t, c in counts.items() if c["source"] != c["landing"]}
            if wrong:
                raise CheckFailed(f"final verification failed: row counts differ for {', '.join(wrong)}; nothing was switched")
            detail["changed_rows_compared"] = _verify_changed_rows(config, source, target, last_reconcile)

        def align(detail: dict) -> None:
            with connections.connection(target, command="cutover sequences", autocommit=True) as conn:
                detail["sequences"] = align_sequences(conn, APP_SCHEMA)

        def switch(detail: dict) -> None:
            if config.cutover.switch_command:
                processes.run(list(config.cutover.switch_command), env=processes.libpq_env(target.url), what="the switch command")
            detail["routing_file"] = str(write_routing(config, "new"))
            detail["switched_at"] = time.time()

        def source_read_only(detail: dict) -> None:
            ends = datetime.now(timezone.utc) + timedelta(hours=config.cutover.rollback_window_hours)
            with connections.connection(target, command="cutover", autocommit=True) as conn:
                control.set_phase(conn, schema, "switched", switched_at=datetime.now(timezone.utc), rollback_window_ends=ends)
            detail["rollback_window_ends"] = ends.isoformat()

        actions = {
            "preflight": preflight, "catch_up": catch_up, "freeze_source": freeze_source, "final_sync": final_sync, "final_build": final_build,
            "final_verification": final_verification, "reverse_capture": reverse_capture, "align_sequences": align,
            "switch": switch, "source_read_only": source_read_only,
        }
        assert tuple(actions) == STEPS
        try:
            result.steps = runbook.run_steps(ctl, schema, "cutover", run_id, actions, done, stop_before=stop_before, on_step=on_step)
        except BaseException:
            if "freeze_source" not in done and not any(s.name == "freeze_source" for s in result.steps):
                control.finish_run(ctl, schema, run_id, "failed")  # nothing was changed: a later cutover starts afresh
            raise
        if stop_before:
            return result
        details = runbook.step_details(ctl, schema, run_id)
        frozen_at, switched_at = details["freeze_source"].get("frozen_at"), details["switch"].get("switched_at")
        result.write_unavailable_seconds = (switched_at - frozen_at) if frozen_at and switched_at else None
        control.finish_run(ctl, schema, run_id, "succeeded", {"write_unavailable_seconds": result.write_unavailable_seconds})
    return result
