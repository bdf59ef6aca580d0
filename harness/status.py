"""Where the migration stands, from the facts in the control schema, and the next step.

A run left 'running' whose process is gone was interrupted (a kill -9 leaves it so): the status
names it, the step it stopped at, and the command that resumes it, before anything else."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness import backup, dbt, engines
from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.engines.base import Connection
from harness.target import approvals, backups, history, sync_state

# The newest load as the status shows it: its name for each column.
LOAD_FACTS = {"status": "status", "rows": "rows_copied", "seconds": "seconds", "finished_at": "finished_at"}


@dataclass
class Status:
    source: str
    target: str
    facts: dict[str, Any] = field(default_factory=dict)
    next_step: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(config: Config, source: Database, target: Database) -> Status:
    result = Status(source.describe(), target.describe())
    facts = result.facts
    schema = config.control_schema
    with connections.connection(target, command="status", autocommit=True) as conn:
        control.ensure(conn, schema)
        load = history.last_load(conn, schema)
        facts["load"] = {"id": load["load_id"], **{k: load[c] for k, c in LOAD_FACTS.items()}} if load else None
        facts["sync"] = sync_state.applied(conn, schema)
        facts["backups"] = {
            b["side"]: {"id": b["backup_id"], "taken_at": b["taken_at"], "verified_at": b["verified_at"]}
            for b in backups.newest_per_side(conn, schema)
        }
        reconcile = history.last_reconciliation(conn, schema)
        facts["reconcile"] = (
            {"id": reconcile["reconcile_id"], **{k: reconcile[k] for k in ("status", "finished_at", "levels")}}
            if reconcile
            else None
        )
        facts["approvals"] = [
            {k: row[approvals.COLUMNS.index(k)] for k in ("stage", "role", "name", "approved_at")}
            for row in approvals.standing_per_role(conn, schema)
        ]
        state = control.state(conn, schema)
        facts["phase"] = (
            {
                "phase": state.phase,
                "changed_at": state.changed_at,
                "switched_at": state.switched_at,
                "rollback_window_ends": state.rollback_window_ends,
            }
            if state
            else None
        )
        facts["rollback_check"] = history.last_rollback_check(conn, schema)
        facts["strategy"] = _strategy(conn, config)
        this_consumer = control.consumer_id(conn, schema)
        facts["interrupted"] = _interrupted(conn, config)
    if facts["phase"] and facts["phase"]["phase"] == "decommissioned":
        # The capture objects are gone from the source on purpose: nothing to check, no lag.
        facts["capture"] = {"method": config.capture.method, "removed": True}
        result.next_step = _next_step(facts)
        return result
    capture = engines.source_capture(config)
    if capture.keeps_a_log:
        with connections.connection(source, command="status", autocommit=True) as conn:
            state = capture.state(conn, config.source_schema, [t.name for t in config.tables])
            consumers = capture.consumers(conn, config.source_schema, this_consumer)
        # Every target syncing from this source; one that is gone holds its changes in the log.
        facts["capture"] = {
            "method": capture.method,
            "installed": state.installed,
            "missing": state.missing,
            "consumers": [asdict(c) for c in consumers],
        }
    else:
        facts["capture"] = {"method": capture.method, "column": config.capture.column}
    if facts["sync"]:
        from harness import sync

        lag = sync.lag(config, source, target)
        facts["lag"] = {
            "landing_seconds": lag.seconds_behind,
            "changes_behind": lag.changes_behind,
            "app_seconds": lag.app_seconds_behind if dbt.has_models(config.project_dir) else None,
        }
    result.next_step = _next_step(facts)
    return result


def _interrupted(conn: Connection, config: Config) -> dict[str, Any] | None:
    """The newest run left 'running' by a process that is gone (or cannot be told from here),
    with the step it stopped at; for a cutover, whether a rollback must fall back."""
    found = history.runs_left_running(conn, config.control_schema)
    for run_id, command, started_at, detail, step, step_status in found:
        alive = control.process_alive(detail)
        if alive:
            continue
        interrupted = {
            "run_id": run_id,
            "command": command,
            "started_at": started_at,
            "step": step,
            "step_status": step_status,
            "host": detail.get("host"),
            "pid": detail.get("pid"),
            "process_known_gone": alive is False,
            "wave": detail.get("wave"),
            "tables": detail.get("tables"),
        }
        if command == "cutover":
            from harness import rollback

            interrupted["falls_back"] = rollback.falls_back(config, conn) is not None
        return interrupted
    return None


def _resume(interrupted: dict[str, Any], steps: tuple[str, ...]) -> str:
    """The next command after an interrupted run: what resumes it, and for a cutover what rolls it back."""
    run, step = f"{interrupted['command']} run {interrupted['run_id']}", interrupted["step"]
    stopped = (
        f"{run} "
        + ("stopped, failed" if interrupted["step_status"] == "failed" else "was interrupted")
        + (f" at step {step}" if step else "")
    )
    if not interrupted["process_known_gone"]:
        stopped += (
            f" (or still runs on host {interrupted['host']}, pid {interrupted['pid']}: check there first)"
            if interrupted["host"]
            else " (its process was not recorded: check that it is not still running)"
        )
    command = interrupted["command"]
    if command == "cutover":
        wave = interrupted["wave"]
        if wave:
            stopped = f"wave {wave} ({', '.join(interrupted['tables'])}) is under way: {stopped}"
        cutover = "`migrate cutover" + (f" --wave {wave}`" if wave else "`")
        if interrupted["falls_back"]:
            return (
                f"{stopped}, with the switch recorded: the applications may write the new system; "
                f"{cutover} finishes it, "
                "or `migrate rollback` falls back (carries the new system's writes back to the legacy schema)"
            )
        if step in steps and steps.index(step) < steps.index("freeze_source"):
            return f"{stopped}, nothing is frozen: {cutover} resumes it, or `migrate rollback` aborts it"
        return (
            f"{stopped}, the source frozen, nothing switched: {cutover} resumes it, "
            "or `migrate rollback` aborts it (unfreezes the source; capture keeps running)"
        )
    if command == "fallback":
        return f"{stopped}: `migrate rollback` resumes the fallback"
    if command == "load" and step == "build":
        return f"{stopped}, in its dbt build (the copy is done): `migrate load` resumes it with the build alone"
    if command == "load":
        return f"{stopped}, in its copy: `migrate load` resumes it where it stopped"
    return f"{stopped}: `migrate {'rollback --check' if command == 'rollback check' else command}` runs it again"


def _strategy(conn: Connection, config: Config) -> dict[str, Any]:
    """The strategy of migration.yml; for phased, each wave and whether it is cut over."""

    if config.strategy != "phased":
        return {"name": config.strategy}
    done = control.waves_cut_over(conn, config.control_schema)
    under_way = history.phased_wave_under_way(conn, config.control_schema)
    waves = [
        {
            "wave": n,
            "tables": list(tables),
            "state": "cut over" if n in done else "under way" if n == under_way else "pending",
        }
        for n, tables in enumerate(config.cutover.waves, start=1)
    ]
    return {"name": "phased", "waves": waves}


def strategy_line(strategy: dict[str, Any]) -> str:
    """The strategy in a few words, for the status table."""
    from harness.assess.estimates import STRATEGY_LABELS

    line = STRATEGY_LABELS[strategy["name"]]
    waves = strategy.get("waves")
    if waves:
        done = [w for w in waves if w["state"] == "cut over"]
        line += f": {len(done)} of {len(waves)} waves cut over" + (
            f" ({', '.join(str(w['wave']) for w in done)})" if done else ""
        )
    return line


def _next_wave(facts: dict[str, Any]) -> dict[str, Any] | None:
    return next((w for w in facts["strategy"].get("waves") or [] if w["state"] != "cut over"), None)


def _next_step(facts: dict[str, Any]) -> str:
    phase = facts.get("phase") or {}
    strategy = facts.get("strategy") or {"name": "parallel_run"}
    if facts.get("interrupted"):
        from harness import cutover

        return _resume(facts["interrupted"], cutover.steps_for(strategy["name"]))
    wave = _next_wave(facts) if strategy.get("waves") else None
    if wave and phase.get("phase") in ("frozen", "partly_switched"):
        if wave["state"] == "under way":
            return (
                f"wave {wave['wave']} ({', '.join(wave['tables'])}) is under way: "
                f"`migrate cutover --wave {wave['wave']}` resumes it, "
                "or `migrate rollback` aborts it before its switch"
            )
        return (
            f"migrate cutover --wave {wave['wave']}: the next wave ({', '.join(wave['tables'])}); "
            "the earlier waves write to the new system"
        )
    if phase.get("phase") == "decommissioned":
        return (
            f"nothing: the migration is complete (decommissioned at {phase['changed_at']:%Y-%m-%d %H:%M %Z}); "
            "the legacy schema stays read-only"
        )
    if phase.get("phase") == "switching":
        return (
            "a cutover is switching the applications to the new system: wait for it; "
            "`migrate rollback` can only fall back now"
        )
    if phase.get("phase") == "frozen":
        return "a cutover is under way: `migrate cutover` resumes it, or `migrate rollback` aborts it before the switch"
    if phase.get("phase") == "switched":
        return _after_switch(phase, facts.get("rollback_check"))
    if phase.get("phase") == "partly_switched":
        return (
            "a phased cutover is half done: set strategy: phased in migration.yml again "
            "and run migrate cutover for the next wave"
        )
    if phase.get("phase") == "falling_back":
        return "a fallback is under way: `migrate rollback` resumes it"
    if phase.get("phase") == "fallen_back":
        return (
            "the migration fell back: the legacy application writes the source again; before another cutover, "
            "`migrate sync` and `migrate build --full-refresh` rebuild the target from the legacy data"
        )
    if strategy["name"] == "big_bang":
        return _before_big_bang(facts)
    load = facts["load"]
    if load is None:
        return "migrate load: copy the source into landing and start change capture"
    if load["status"] != "succeeded":
        return "migrate load: the last load did not finish; running it again resumes it"
    if facts["capture"].get("missing"):
        return "migrate sync --install: capture triggers are missing on " + ", ".join(facts["capture"]["missing"])
    if not any(b.get("verified_at") for b in facts["backups"].values()):
        return f"{backup.VERIFY_HINT}: no verified backup yet"
    if facts["reconcile"] is None or facts["reconcile"]["status"] != "passed":
        return "migrate reconcile: no green reconciliation yet"
    if "checksums" not in facts["reconcile"]["levels"]:
        return (
            "migrate reconcile (all levels, or --level counts,checksums): "
            "the cutover's gate needs a green reconciliation that compared content"
        )
    if not facts["approvals"]:
        return "migrate approve: no sign-off recorded yet"
    if wave:
        return (
            "keep `migrate sync --follow` running and re-run `migrate reconcile` "
            f"before `migrate cutover --wave {wave['wave']}` ({', '.join(wave['tables'])})"
        )
    return "keep `migrate sync --follow` running and re-run `migrate reconcile` before cutover"


def _before_big_bang(facts: dict[str, Any]) -> str:
    # Nothing is loaded beforehand: the cutover freezes, loads, builds, verifies and switches.
    if not (facts["backups"].get("source") or {}).get("verified_at"):
        return f"{backup.VERIFY_HINT}: no verified backup of the source yet"
    if not any(a["stage"] == "cutover" for a in facts["approvals"]):
        return "migrate approve: no cutover sign-off recorded yet"
    return (
        "migrate cutover --dry-run, then migrate cutover: "
        "the big bang freezes the source, then loads, builds, verifies and switches in one window"
    )


def _after_switch(phase: dict[str, Any], check: dict[str, Any] | None) -> str:
    if check and check["met"]:
        return (
            f"the last rollback check ({check['checked_at']:%Y-%m-%d %H:%M}) "
            f"recommends a rollback ({', '.join(check['met'])}): "
            "a decider decides; `migrate rollback --check` evaluates again"
        )
    ends = phase["rollback_window_ends"]
    if ends is None or ends <= datetime.now(UTC):
        return "migrate decommission: the rollback window " + (
            f"ended at {ends:%Y-%m-%d %H:%M %Z}" if ends else "was not recorded"
        )
    return (
        f"watch the rollback criteria (migrate rollback --check); migrate decommission after {ends:%Y-%m-%d %H:%M %Z}"
    )
