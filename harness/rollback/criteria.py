"""The rollback criteria of migration.yml, evaluated from facts, and who may decide a rollback.

Each criterion ends in one of three states: met (it recommends a rollback), not met, or cannot
tell (the fact it needs is missing, e.g. no reconcile has run since the switch). A state always
comes with the figure found and the limit it was held against. An evaluation changes nothing
but its own record: a run `rollback check` and its rows in `rollback_checks`.

The criteria look back from the switch (or, before it, from the start of the newest cutover):
a reconcile that failed last week says nothing about the system running now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from harness import approvals
from harness.core import connections, control, processes
from harness.core.config import Config, PerformanceQuery, RollbackCriterion
from harness.core.connections import Database
from harness.core.errors import HarnessError, QueryFailed
from harness.engines.base import Connection
from harness.reconcile import percentile
from harness.target import reconcile as target_reconcile
from harness.target import rollback_checks, user_queries

MET, NOT_MET, CANNOT_TELL = "met", "not met", "cannot tell"
DATA_LEVELS = ["counts", "checksums", "sample"]  # the reconcile levels that compare rows
METRIC_TIMEOUT_MS = 30_000


class RollbackNotAuthorized(HarnessError):
    pass


@dataclass
class Verdict:
    name: str
    kind: str
    state: str  # met, not met, cannot tell
    figure: str  # what was found
    limit: str  # what meets the criterion
    detail: str = ""


@dataclass
class Since:
    """The moment the criteria look back to."""

    at: datetime | None
    label: str  # "since the switch", or "so far" when no cutover has run


def authorize(config: Config, role: str | None) -> None:
    """Refuse a rollback decided by anyone but a decider (rollback.deciders)."""
    deciders = config.rollback.deciders
    if not deciders:
        raise RollbackNotAuthorized(
            "no one may decide a rollback: name owners in migration.yml and list their roles under rollback.deciders"
        )
    if not role:
        raise RollbackNotAuthorized(f"--role is needed: the decider's owner role, one of {', '.join(deciders)}")
    if role not in deciders:
        raise RollbackNotAuthorized(
            f"role {role!r} may not decide a rollback: the deciders are {', '.join(deciders)} "
            "(migration.yml rollback.deciders)"
        )


def met(verdicts: list[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if v.state == MET]


def nothing_to_roll_back(config: Config, target: Database) -> str | None:
    """Why no rollback can be recommended in the migration's state, if none can: before any cutover,
    after a fallback, after decommission. The criteria apply from the cutover on."""
    schema = config.control_schema
    with connections.connection(target, command="rollback check", autocommit=True) as conn:
        control.ensure(conn, schema)
        state = control.state(conn, schema)
        if state and state.phase == "fallen_back":
            return (
                f"the migration already fell back at {_at(state.changed_at)}: the legacy system is the system of "
                "record again, so there is nothing to roll back"
            )
        if state and state.phase == "decommissioned":
            return f"the migration was decommissioned at {_at(state.changed_at)}: no rollback is possible any more"
        if state and state.switched_at:
            return None  # switched (or some waves): the criteria are what they are for
        if control.latest_run(conn, schema, "cutover") is None:
            return (
                "no cutover has begun: the applications write the legacy system, so there is nothing to roll back yet"
            )
    return None


def evaluate(config: Config, source: Database, target: Database) -> list[Verdict]:
    """Evaluate every criterion now and record the evaluation. Only the target is read: after the
    switch every criterion is about the new system (`source` is kept for the lifecycle's signature)."""
    schema = config.control_schema
    with connections.connection(target, command="rollback check", autocommit=True) as conn:
        control.ensure(conn, schema)
        since = _since(conn, schema)
        verdicts = [_evaluate_one(config, conn, target, criterion, since) for criterion in config.rollback.criteria]
        state = control.state(conn, schema)
        run_id = control.start_run(
            conn, schema, "rollback check", {"phase": state.phase if state else None, "since": since.label}
        )
        rollback_checks.record(
            conn, schema, run_id, [(v.name, v.kind, v.state, v.figure, v.limit, v.detail or None) for v in verdicts]
        )
        control.finish_run(conn, schema, run_id, "succeeded", {"met": [v.name for v in met(verdicts)]})
    return verdicts


def _since(conn: Connection, schema: str) -> Since:
    state = control.state(conn, schema)
    if state and state.switched_at:
        return Since(state.switched_at, "since the switch")
    cutover = control.latest_run(conn, schema, "cutover")
    if cutover:
        return Since(cutover.started_at, "since the cutover began")
    return Since(None, "so far")


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}".strip()


def _evaluate_one(
    config: Config, conn: Connection, target: Database, criterion: RollbackCriterion, since: Since
) -> Verdict:
    evaluators: dict[str, Callable[[], tuple[str, str, str, str]]] = {
        "verification": lambda: _verification(conn, config.control_schema, since),
        "data_loss": lambda: _data_loss(conn, config.control_schema, since),
        "metric": lambda: _metric(config, conn, target, criterion),
        "latency": lambda: _latency(conn, config.reconcile.performance_queries),
        "manual": lambda: _manual(config, target, since),
    }
    try:
        state, figure, limit, detail = evaluators[criterion.kind]()
    except (connections.DatabaseError, HarnessError) as exc:
        lines = str(exc).strip().splitlines()
        limit = _bounds(criterion) if criterion.kind == "metric" else ""
        state, figure, detail = CANNOT_TELL, "not measured", f"failed: {lines[0] if lines else type(exc).__name__}"
    return Verdict(criterion.name, criterion.kind, state, figure, limit, detail)


# --- the kinds ------------------------------------------------------------------------------------


def _verification(conn: Connection, schema: str, since: Since) -> tuple[str, str, str, str]:
    limit = "the newest verification passes"
    row = target_reconcile.newest_finished(conn, schema, since.at)
    if row:
        reconcile_id, status, finished_at, levels, has_verdict = row
        if status == "passed":
            return NOT_MET, f"reconcile #{reconcile_id} passed at {_at(finished_at)}", limit, ""
        if not has_verdict:
            return (
                CANNOT_TELL,
                f"reconcile #{reconcile_id} stopped with an error",
                limit,
                "run `migrate reconcile` again",
            )
        failed = ", ".join(level for level, verdict in levels.items() if verdict == "failed")
        return (
            MET,
            f"reconcile #{reconcile_id} failed at {_at(finished_at)} ({failed})",
            limit,
            "see reports/reconciliation/latest/reconciliation.md",
        )
    # No reconcile since the switch: the cutover's own final verification is the newest one.
    row = rollback_checks.final_verification(conn, schema, since.at)
    if row and since.at:
        return (
            NOT_MET,
            f"the final verification of cutover run {row[0]} passed at {_at(row[1])}",
            limit,
            "no reconcile since: run `migrate reconcile`",
        )
    return CANNOT_TELL, f"no verification {since.label}", limit, "run `migrate reconcile`"


def _data_loss(conn: Connection, schema: str, since: Since) -> tuple[str, str, str, str]:
    limit = "no row missing or different (counts, checksums, sample)"
    row = target_reconcile.newest_comparing(conn, schema, DATA_LEVELS, since.at)
    if row is None:
        return (
            CANNOT_TELL,
            f"no row comparison {since.label}",
            limit,
            "run `migrate reconcile --level counts,checksums,sample`",
        )
    reconcile_id, finished_at, levels = row
    failed = target_reconcile.failed_checks(conn, schema, reconcile_id, DATA_LEVELS)
    compared = ", ".join(level for level in levels if level in DATA_LEVELS)
    if not failed:
        return (
            NOT_MET,
            f"reconcile #{reconcile_id} at {_at(finished_at)}: every row check passed ({compared})",
            limit,
            "",
        )
    level, name, detail = failed[0]
    first = f"{level}: {name}" + (f" ({detail})" if detail else "")
    return (
        MET,
        f"{len(failed)} failed row check(s) in reconcile #{reconcile_id}, e.g. {first}",
        limit,
        "see reports/reconciliation/latest/reconciliation.md",
    )


def _metric(
    config: Config, conn: Connection, target: Database, criterion: RollbackCriterion
) -> tuple[str, str, str, str]:
    limit = _bounds(criterion)
    if criterion.sql is not None:
        raw = user_queries.first_value(conn, criterion.sql, METRIC_TIMEOUT_MS)
        where = "the query"
    else:
        assert criterion.command is not None
        finished = processes.run_status(
            list(criterion.command),
            env=processes.libpq_env(target.url),
            cwd=config.project_dir,
            timeout=METRIC_TIMEOUT_MS / 1000,
        )
        lines = [line.strip() for line in finished.output.splitlines() if line.strip()]
        if finished.exit_code != 0:
            return (
                CANNOT_TELL,
                "not measured",
                limit,
                f"the command exited {finished.exit_code}" + (f": {lines[-1][:200]}" if lines else ""),
            )
        raw = lines[-1] if lines else None
        where = "the command's last line"
    value = _as_number(raw)
    if value is None:
        return CANNOT_TELL, "no number" if raw is None else repr(raw)[:80], limit, f"{where} gave no number"
    over = criterion.max is not None and value > criterion.max
    under = criterion.min is not None and value < criterion.min
    return (MET if over or under else NOT_MET), f"{value:g}", limit, ""


def _bounds(criterion: RollbackCriterion) -> str:
    if criterion.max is not None and criterion.min is not None:
        return f"between {criterion.min:g} and {criterion.max:g}"
    return f"≤ {criterion.max:g}" if criterion.max is not None else f"≥ {criterion.min:g}"


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _latency(conn: Connection, queries: tuple[PerformanceQuery, ...]) -> tuple[str, str, str, str]:
    """Time reconcile's performance queries now, on the live target: p95 against each one's limit."""
    limit = "p95 ≤ " + ", ".join(f"{q.p95_ms:g} ms ({q.name})" for q in queries)
    measured, slow, failed = [], [], []
    for query in queries:
        try:
            timings = user_queries.time_query(conn, query).ms
        except QueryFailed as exc:
            failed.append(f"{query.name}: {exc}")
            continue
        p95 = percentile(timings, 95)
        measured.append(f"{query.name} {p95:,.2f} ms")
        if p95 > query.p95_ms:
            slow.append(f"{query.name} p95 {p95:,.2f} ms > {query.p95_ms:g} ms")
    figure = "p95 " + ", ".join(measured) if measured else "not measured"
    if slow:
        return MET, "; ".join(slow), limit, "; ".join(failed)
    if failed:
        return CANNOT_TELL, figure, limit, "; ".join(failed)
    return NOT_MET, figure, limit, ""


def _manual(config: Config, target: Database, since: Since) -> tuple[str, str, str, str]:
    """A decider's sign-off of stage rollback after the switch is a decision to roll back (before
    it, such a sign-off approves the rollback procedure, and does not count)."""
    deciders = config.rollback.deciders
    limit = f"a rollback sign-off by {' or '.join(deciders) or 'a decider'}"
    how = "migrate approve --stage rollback --role ROLE --name NAME --note WHY"
    if since.at is None:
        return NOT_MET, "no cutover yet", limit, how
    standing = sorted(approvals.approvals(config, target, "rollback"), key=lambda a: a.approved_at, reverse=True)
    rows = [(a.role, a.name, a.note, a.approved_at) for a in standing if a.approved_at >= since.at]
    ignored = [f"{name} ({role}) is not a decider" for role, name, _, _ in rows if role not in deciders]
    decided = [(role, name, note, at) for role, name, note, at in rows if role in deciders]
    if not decided:
        return NOT_MET, f"no decision {since.label}", limit, "; ".join(ignored) or how
    role, name, note, at = decided[0]
    return MET, f"{name} ({role}) decided at {_at(at)}" + (f": {note}" if note else ""), limit, "; ".join(ignored)
