"""The control schema's record read back: runs and their steps, loads, reconciliations, rollback
checks, rehearsals and the phase, as `migrate status`, the documents and the gates show them, and
as the time series the dashboard and `status --watch` draw (lag samples: target/lag_samples.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from harness.core import control
from harness.dbt import contract as dbt_contract

RECONCILE_RUNS_KEPT = 20  # reconciliations listed in the history; the latest of each level is always kept


def _dicts(conn: psycopg.Connection, query: sql.Composable, params: tuple = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return conn.execute(
        "select to_regclass(%s) is not null", (control.table(schema, name).as_string(conn),)
    ).fetchone()[0]


def _first(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    return found[0] if found else None


def phase(conn: psycopg.Connection, schema: str) -> dict[str, Any] | None:
    """The migration's phase row: phase, changed_at, switched_at, rollback_window_ends."""
    return _first(
        _dicts(
            conn,
            sql.SQL("select phase, changed_at, switched_at, rollback_window_ends from {}").format(
                control.table(schema, "migration_state")
            ),
        )
    )


def last_load(conn: psycopg.Connection, schema: str, *, tables: bool = False) -> dict[str, Any] | None:
    """The newest load: load_id, started_at, finished_at, seconds, rows_copied, bytes_copied, status;
    with `tables`, per table its rows, ranges and whether all are done."""
    load = _first(
        _dicts(
            conn,
            sql.SQL(
                "select load_id, started_at, finished_at, seconds, rows_copied, bytes_copied, status from {} "
                "order by load_id desc limit 1"
            ).format(control.table(schema, "load_runs")),
        )
    )
    if load and tables:
        load["tables"] = _dicts(
            conn,
            sql.SQL(
                "select table_name as name, coalesce(sum(rows_copied), 0) as rows, count(*) as ranges, "
                "bool_and(done) as done from {} where load_id = %s group by table_name order by table_name"
            ).format(control.table(schema, "load_ranges")),
            (load["load_id"],),
        )
    return load


def last_reconciliation(conn: psycopg.Connection, schema: str) -> dict[str, Any] | None:
    """The newest reconciliation: reconcile_id, status, finished_at, levels."""
    return _first(
        _dicts(
            conn,
            sql.SQL(
                "select reconcile_id, status, finished_at, levels from {} order by reconcile_id desc limit 1"
            ).format(control.table(schema, "reconcile_runs")),
        )
    )


def reconciliation_finished_at(conn: psycopg.Connection, schema: str, reconcile_id: int):
    """When a reconciliation recorded its verdict."""
    return conn.execute(
        sql.SQL("select finished_at from {} where reconcile_id = %s").format(control.table(schema, "reconcile_runs")),
        (reconcile_id,),
    ).fetchone()[0]


def _gate_reconciliations(schema: str) -> sql.Composed:
    """The reconciliations a person ran: catch_up's own are the cutover's checks, never a gate's evidence."""
    return sql.SQL(
        "(select * from {runs} r where not exists (select 1 from {steps} s where s.step = 'catch_up' "
        "and s.detail ->> 'reconcile_id' = r.reconcile_id::text)) r"
    ).format(runs=control.table(schema, "reconcile_runs"), steps=control.table(schema, "steps"))


def newest_gate_reconciliation(
    conn: psycopg.Connection, schema: str, *, passed_at_levels: list[str] | None = None
) -> tuple[int, str, Any] | None:
    """(reconcile_id, status, finished_at) of the newest reconciliation a person ran (not a
    cutover's own); with `passed_at_levels`, the newest that passed and ran one of those levels."""
    where = sql.SQL("status = 'passed' and levels && %s") if passed_at_levels is not None else sql.SQL("true")
    return conn.execute(
        sql.SQL("select reconcile_id, status, finished_at from {} where {} order by reconcile_id desc limit 1").format(
            _gate_reconciliations(schema), where
        ),
        (passed_at_levels,) if passed_at_levels is not None else (),
    ).fetchone()


def last_rollback_check(conn: psycopg.Connection, schema: str) -> dict[str, Any] | None:
    """The newest evaluation of the rollback criteria: run_id, checked_at, the criteria met."""
    row = conn.execute(
        sql.SQL(
            "select r.run_id, r.finished_at, coalesce(array_agg(c.criterion order by c.criterion) "
            "filter (where c.state = 'met'), '{{}}') from {} r join {} c using (run_id) "
            "where r.command = 'rollback check' group by r.run_id order by r.run_id desc limit 1"
        ).format(control.table(schema, "runs"), control.table(schema, "rollback_checks"))
    ).fetchone()
    return dict(zip(["run_id", "checked_at", "met"], row)) if row else None


def runs_left_running(conn: psycopg.Connection, schema: str) -> list[tuple]:
    """The runs left 'running', newest of each command only, a cutover or fallback first: run_id,
    command, started_at, detail, and the step it was at with its status."""
    runs, steps = control.table(schema, "runs"), control.table(schema, "steps")
    return conn.execute(
        sql.SQL(
            "select r.run_id, r.command, r.started_at, r.detail, s.step, s.status from {runs} r "
            "left join lateral (select step, status from {steps} where run_id = r.run_id "
            "order by started_at desc limit 1) s on true "
            # Only the newest run of its command: a later one of the same command supersedes it.
            "where r.status = 'running' and r.run_id = (select max(run_id) from {runs} where command = r.command) "
            # A cutover after a load built the target itself (a big bang loads afresh).
            "and not (r.command = 'load' and exists "
            "(select from {runs} c where c.command = 'cutover' and c.run_id > r.run_id)) "
            # A cutover's own reconciliation or load is part of it: the cutover is named.
            "order by r.command in ('cutover', 'fallback') desc, r.run_id desc"
        ).format(runs=runs, steps=steps)
    ).fetchall()


def phased_wave_under_way(conn: psycopg.Connection, schema: str) -> int | None:
    """The wave of a phased cutover left running, if any."""
    running = conn.execute(
        sql.SQL(
            "select detail ->> 'wave' from {} where command = 'cutover' and status = 'running' "
            "and detail ->> 'strategy' = 'phased' order by run_id desc limit 1"
        ).format(control.table(schema, "runs"))
    ).fetchone()
    return int(running[0]) if running and running[0] else None


def runs_of(conn: psycopg.Connection, schema: str, command: str) -> list[dict[str, Any]]:
    """Every run of a command, oldest first: run_id, started_at, status, detail."""
    return _dicts(
        conn,
        sql.SQL("select run_id, started_at, status, detail from {} where command = %s order by run_id").format(
            control.table(schema, "runs")
        ),
        (command,),
    )


def last_run(conn: psycopg.Connection, schema: str, command: str, *, succeeded: bool = False) -> dict[str, Any] | None:
    """The newest run of `command` (only a succeeded one if asked) with its steps, each with its seconds."""
    rows = _dicts(
        conn,
        sql.SQL(
            "select run_id, command, started_at, finished_at, status, detail from {} where command = %s "
            + ("and status = 'succeeded' " if succeeded else "")
            + "order by run_id desc limit 1"
        ).format(control.table(schema, "runs")),
        (command,),
    )
    if not rows:
        return None
    rows[0]["steps"] = [
        {**{k: s[k] for k in ("step", "status", "started_at", "finished_at", "started_epoch")}, "seconds": _float(s["seconds"])}
        for s in run_steps(conn, schema, rows[0]["run_id"])
    ]
    return rows[0]


def _float(seconds: Any) -> float | None:
    return None if seconds is None else float(seconds)


def fallback_runs(conn: psycopg.Connection, schema: str) -> list[dict[str, Any]]:
    """Every fallback, oldest first, with its steps and what it carried back (an interrupted one:
    what its carry_back step recorded)."""
    runs = _dicts(
        conn,
        sql.SQL(
            "select run_id, started_at, finished_at, status, detail from {} where command = 'fallback' order by run_id"
        ).format(control.table(schema, "runs")),
    )
    for run in runs:
        steps = run_steps(conn, schema, run["run_id"])
        carried = next(
            (s["detail"].get("carried") for s in steps if s["step"] == "carry_back" and s["status"] == "succeeded"),
            None,
        )
        run["carried"] = run["detail"].get("carried") or carried or {}
        run["steps"] = [
            {k: s[k] for k in ("step", "status", "started_at", "finished_at", "seconds", "started_epoch")}
            for s in steps
        ]
    return runs


def rollback_checks(conn: psycopg.Connection, schema: str) -> dict[str, Any]:
    """The evaluations of the rollback criteria: the newest of each criterion, and the last run."""
    runs = _dicts(
        conn,
        sql.SQL(
            "select run_id, started_at, status, detail from {} where command = 'rollback check' order by run_id desc"
        ).format(control.table(schema, "runs")),
    )
    latest = _dicts(
        conn,
        sql.SQL(
            "select distinct on (criterion) run_id, criterion, kind, state, figure, threshold, detail, checked_at "
            "from {} order by criterion, run_id desc"
        ).format(control.table(schema, "rollback_checks")),
    )
    return {"evaluations": len(runs), "last_run": runs[0] if runs else None, "latest": latest}


def reconciliations(conn: psycopg.Connection, schema: str) -> dict[str, Any]:
    """The latest reconciliations, and for each level the checks of the latest run that ran it."""
    runs = _dicts(
        conn,
        sql.SQL(
            "select reconcile_id, started_at, finished_at, levels, status, level_verdicts from {} order by reconcile_id desc"
        ).format(control.table(schema, "reconcile_runs")),
    )
    latest: dict[str, dict] = {}
    for run in runs:
        if run["status"] == "running":
            continue
        for level in run["levels"]:
            latest.setdefault(level, run)
    levels: dict[str, Any] = {}
    for level, run in latest.items():
        checks = _dicts(
            conn,
            sql.SQL(
                "select check_name as name, verdict, source_value as source, target_value as target, detail "
                "from {} where reconcile_id = %s and level = %s order by check_name"
            ).format(control.table(schema, "reconcile_verdicts")),
            (run["reconcile_id"], level),
        )
        extra = _dicts(
            conn,
            sql.SQL(
                "select l -> 'seconds' as seconds, l -> 'notes' as notes from {}, jsonb_array_elements(coalesce(report -> 'levels', '[]')) as l "
                "where reconcile_id = %s and l ->> 'level' = %s"
            ).format(control.table(schema, "reconcile_runs")),
            (run["reconcile_id"], level),
        )
        levels[level] = {
            "reconcile_id": run["reconcile_id"],
            "finished_at": run["finished_at"],
            "verdict": (run["level_verdicts"] or {}).get(level, "not recorded"),
            "seconds": extra[0]["seconds"] if extra else None,
            "notes": (extra[0]["notes"] or []) if extra else [],
            "checks": checks,
        }
    kept = {r["reconcile_id"] for r in runs[:RECONCILE_RUNS_KEPT]} | {r["reconcile_id"] for r in latest.values()}
    return {"runs": [r for r in runs if r["reconcile_id"] in kept], "levels": levels}


def run_steps(conn: psycopg.Connection, schema: str, run_id: int) -> list[dict[str, Any]]:
    return _dicts(
        conn,
        sql.SQL(
            "select step, status, started_at, finished_at, extract(epoch from finished_at - started_at) as seconds, detail, "
            "extract(epoch from started_at)::float8 as started_epoch "
            "from {} where run_id = %s order by started_at, step"
        ).format(control.table(schema, "steps")),
        (run_id,),
    )


def last_rehearsal(conn: psycopg.Connection, schema: str) -> dict[str, Any] | None:
    rows = _dicts(
        conn,
        sql.SQL(
            "select rehearsal_id, run_id, started_at, finished_at, status, models_fingerprint, "
            "extract(epoch from finished_at - started_at) as seconds from {} order by rehearsal_id desc limit 1"
        ).format(control.table(schema, "rehearsals")),
    )
    if not rows:
        return None
    rehearsal = rows[0]
    rehearsal["steps"] = [
        {k: s[k] for k in ("step", "status", "seconds")} for s in run_steps(conn, schema, rehearsal["run_id"])
    ]
    return rehearsal


def last_cutover(conn: psycopg.Connection, schema: str) -> dict[str, Any]:
    runs = _dicts(
        conn,
        sql.SQL(
            "select run_id, started_at, finished_at, status, detail from {} where command = 'cutover' order by run_id desc limit 1"
        ).format(control.table(schema, "runs")),
    )
    last = runs[0] if runs else None
    if last:
        last["steps"] = run_steps(conn, schema, last["run_id"])
    return {"last_run": last}


def load_progress(conn: psycopg.Connection, schema: str) -> dict[str, Any] | None:
    """The last initial load and, per table, each copied range in the order it finished: (copied_at, rows)."""
    load = _dicts(
        conn,
        sql.SQL(
            "select load_id, started_at, finished_at, seconds, rows_copied, status from {} "
            "order by load_id desc limit 1"
        ).format(control.table(schema, "load_runs")),
    )
    if not load:
        return None
    ranges = _dicts(
        conn,
        sql.SQL(
            "select table_name, range_no, done, rows_copied, copied_at from {} where load_id = %s "
            "order by table_name, copied_at nulls last, range_no"
        ).format(control.table(schema, "load_ranges")),
        (load[0]["load_id"],),
    )
    return {**load[0], "ranges": ranges}


def reconcile_runs(conn: psycopg.Connection, schema: str, limit: int = 30) -> list[dict[str, Any]]:
    """The newest reconciliations, oldest first, with each level's verdict."""
    return _dicts(
        conn,
        sql.SQL(
            "select * from (select reconcile_id, started_at, finished_at, status, levels, level_verdicts from {} "
            "order by reconcile_id desc limit %s) r order by reconcile_id"
        ).format(control.table(schema, "reconcile_runs")),
        (limit,),
    )


def planned_seconds(conn: psycopg.Connection, schema: str, before: datetime | None) -> dict[str, float]:
    """Each step's duration as the runbook planned it before `before` (a cutover's start): the last
    successful rehearsal that finished before it, else the last cutover before it (as
    control.step_seconds, as of that moment)."""
    rows = conn.execute(
        sql.SQL(
            "select distinct on (s.step) s.step, extract(epoch from s.finished_at - s.started_at)::float8 "
            "from {steps} s join {runs} r using (run_id) "
            "where r.command in ('rehearse', 'cutover') and s.status = 'succeeded' "
            "and s.finished_at < coalesce(%s::timestamptz, 'infinity') "
            "order by s.step, (r.command = 'rehearse') desc, s.finished_at desc"
        ).format(steps=control.table(schema, "steps"), runs=control.table(schema, "runs")),
        (before,),
    ).fetchall()
    return dict(rows)


def dispositions(conn: psycopg.Connection) -> list[dict[str, Any]] | None:
    """Per legacy table: rows, migrated, merged, quarantined (the dbt model dispositions); None when
    the project has not built it."""
    schema, name = dbt_contract.DISPOSITIONS
    if not _exists(conn, schema, name):
        return None
    return _dicts(
        conn,
        sql.SQL("select source_table, source_rows, migrated, merged, quarantined from {} order by source_table").format(
            control.table(schema, name)
        ),
    )
