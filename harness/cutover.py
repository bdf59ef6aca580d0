"""The cutover runbook of each strategy: gates, freeze, the last data, verification, switch.

- parallel run (the default): the load and sync ran while both systems ran; the cutover catches
  up, freezes every table, syncs the last changes, verifies and switches in a short window.
- big bang: nothing is loaded beforehand; the cutover freezes first, then loads the whole
  snapshot, runs the full build, verifies and switches, all inside the window.
- phased: the tables move in the waves of `cutover.waves`, each wave a cutover of its own that
  freezes, verifies and switches only its tables (the routing file gains one entry per table);
  the migration is switched once the last wave is.

Each step is recorded with its start, end and outcome in the control schema, and every step
can run again: a cutover killed at any point and started again resumes at the first step that
did not succeed. The switch step records its intent (phase `switching`) before it moves the
applications and the phase `switched` with them; before the intent, `rollback.abort` undoes the
cutover cleanly, from it on only a fallback (or finishing the cutover) is safe.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Collection, Mapping

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from harness import backup, capture, checksums, connections, control, dbt, dbt_artifacts, freeze, landing, load, processes, reconcile, runbook, sync
from harness.config import Config
from harness.connections import Database
from harness.engines import postgres
from harness.errors import CheckFailed, HarnessError
from harness.provision import APP_SCHEMA
from harness.runbook import StepResult

# Parallel run, and each wave of a phased cutover.
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
# Big bang: freeze first; everything after it is inside the window.
BIG_BANG_STEPS = (
    "preflight",
    "freeze_source",
    "load",
    "build",
    "final_verification",
    "reverse_capture",
    "align_sequences",
    "switch",
    "source_read_only",
)
# The phase between two waves of a phased cutover: some tables are written on the new side.
PARTLY_SWITCHED = "partly_switched"
# The switch recorded as about to happen, before the switch command and the routing file: the
# applications may write the new side from here on.
SWITCHING = "switching"
# Phases in which there is nothing left to cut over.
DONE_PHASES = ("switched", "falling_back", "decommissioned")


def steps_for(strategy: str) -> tuple[str, ...]:
    return BIG_BANG_STEPS if strategy == "big_bang" else STEPS


class GateFailed(CheckFailed):
    pass


class CutoverRefused(HarnessError):
    """The cutover asked for cannot run in the state the migration is in (a usage error)."""


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
    plan: Plan | None = None


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
    """The go / no-go of the configured strategy, each gate with its reason.

    Parallel run and phased need the load synced (capture lag) and a recent green reconciliation.
    A big bang loads inside the window, so instead every listed table must be readable with its
    key: a problem found after the freeze would cost downtime for nothing.
    """
    with connections.connection(target, command="cutover gates", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        result = [_approvals_gate(conn, config)]
        if config.strategy != "big_bang":
            result.append(_reconcile_gate(conn, config))
        result.append(_backup_gate(conn, config))
        if config.cutover.require_rehearsal:
            result.append(_rehearsal_gate(conn, config))
    result.append(_source_tables_gate(config, source) if config.strategy == "big_bang" else _lag_gate(config, source, target))
    return result


def _approvals_gate(conn: psycopg.Connection, config: Config) -> Gate:
    approved = {
        role for (role,) in conn.execute(
            sql.SQL("select distinct role from {} where stage = 'cutover' and revoked_at is null").format(control.table(config.control_schema, "approvals"))
        ).fetchall()
    }
    missing = [r for r in config.cutover.required_approvals if r not in approved]
    if missing:
        return Gate("approvals", False, f"no cutover approval from {', '.join(missing)}: run migrate approve --role ROLE --name NAME")
    return Gate("approvals", True, "all required approvals recorded")


# The reconciliation levels that compare content, not only counts: one of them must have passed recently.
CONTENT_LEVELS = ("checksums",)
CATCH_UP_LEVELS = ["counts", "checksums"]


def _gate_reconciliations(config: Config) -> sql.Composed:
    """The reconciliations a person ran: catch_up's own are the cutover's checks, never a gate's evidence."""
    return sql.SQL(
        "select * from {runs} r where not exists (select 1 from {steps} s where s.step = 'catch_up' and s.detail ->> 'reconcile_id' = r.reconcile_id::text)"
    ).format(runs=control.table(config.control_schema, "reconcile_runs"), steps=control.table(config.control_schema, "steps"))


def content_reconciliation(conn: psycopg.Connection, config: Config) -> tuple[int, datetime] | None:
    """The newest passed reconciliation that compared content (checksums), and when it finished."""
    return conn.execute(
        sql.SQL("select reconcile_id, finished_at from ({}) r where status = 'passed' and levels && %s order by reconcile_id desc limit 1").format(
            _gate_reconciliations(config)),
        (list(CONTENT_LEVELS),),
    ).fetchone()


def _reconcile_gate(conn: psycopg.Connection, config: Config) -> Gate:
    settings = config.cutover
    last = conn.execute(sql.SQL("select status from ({}) r order by reconcile_id desc limit 1").format(_gate_reconciliations(config))).fetchone()
    if last is None:
        return Gate("reconcile", False, "no reconciliation has run: run migrate reconcile")
    if last[0] != "passed":
        return Gate("reconcile", False, "the last reconciliation failed: fix it and run migrate reconcile again")
    content = content_reconciliation(conn, config)
    if content is None:
        return Gate("reconcile", False, "no green reconciliation compared content (row counts alone do not open the gate): "
                                        "run migrate reconcile (all levels) or migrate reconcile --level counts,checksums")
    finished_at = content[1]
    if datetime.now(timezone.utc) - finished_at > timedelta(minutes=settings.reconcile_max_age_minutes):
        return Gate("reconcile", False, f"the last green checksum reconciliation is older than {settings.reconcile_max_age_minutes:g} minutes: "
                                        "run migrate reconcile")
    return Gate("reconcile", True, f"green checksum reconciliation at {finished_at:%H:%M:%S}")


def _backup_gate(conn: psycopg.Connection, config: Config) -> Gate:
    row = conn.execute(
        sql.SQL("select taken_at, verified_at from {} where side = 'source' and verified_at is not null order by backup_id desc limit 1").format(
            control.table(config.control_schema, "backups")
        )
    ).fetchone()
    if row is None:
        return Gate("backup", False, f"no verified backup of the source: run {backup.VERIFY_HINT}")
    if datetime.now(timezone.utc) - row[0] > timedelta(hours=config.cutover.backup_max_age_hours):
        return Gate("backup", False, f"the last verified source backup is older than {config.cutover.backup_max_age_hours:g} hours: take a new one")
    return Gate("backup", True, f"source backup taken {row[0]:%Y-%m-%d %H:%M}, verified")


def _rehearsal_gate(conn: psycopg.Connection, config: Config) -> Gate:
    row = conn.execute(
        sql.SQL("select models_fingerprint from {} where status = 'succeeded' order by rehearsal_id desc limit 1").format(
            control.table(config.control_schema, "rehearsals")
        )
    ).fetchone()
    if row is None:
        return Gate("rehearsal", False, "no successful rehearsal: run migrate rehearse")
    if row[0] != models_fingerprint(config.project_dir):
        return Gate("rehearsal", False, "the models changed since the last successful rehearsal: run migrate rehearse again")
    return Gate("rehearsal", True, "the current models were rehearsed")


def _lag_gate(config: Config, source: Database, target: Database) -> Gate:
    try:
        lag = sync.lag(config, source, target)
    except sync.NotLoaded as exc:
        return Gate("capture_lag", False, str(exc))
    ok = lag.seconds_behind <= config.cutover.max_lag_seconds
    return Gate("capture_lag", ok, f"capture lag {lag.seconds_behind:.1f} s" + ("" if ok else f" is over {config.cutover.max_lag_seconds:g} s: keep migrate sync --follow running"))


def _source_tables_gate(config: Config, source: Database) -> Gate:
    try:
        with connections.connection(source, command="cutover gates") as conn:
            for table in config.tables:
                landing.describe(conn, config, table)
    except HarnessError as exc:
        return Gate("source_tables", False, str(exc))
    return Gate("source_tables", True, f"all {len(config.tables)} listed tables found in {config.source_schema}, each with its key")


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


def write_routing(config: Config, sides: str | Mapping[str, str]) -> Path:
    """Write the routing file the applications follow: `sides` is one side for every table, or
    a side per table (tables left out stay "legacy"). "writes" names the side that holds every
    table: "new" only once all are switched, so an application that reads only it stays right."""
    names = [t.name for t in config.tables]
    per_table = {name: sides if isinstance(sides, str) else sides.get(name, "legacy") for name in names}
    writes = "new" if all(side == "new" for side in per_table.values()) else "legacy"
    path = config.project_dir / config.cutover.routing_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"writes": writes, "tables": per_table, "at": time.time()}))
    tmp.replace(path)  # atomic: an application never reads half a file
    return path


def read_routing(config: Config) -> dict[str, str]:
    """Each table's side as the routing file says: where the applications write (legacy without a file)."""
    path = config.project_dir / config.cutover.routing_file
    try:
        tables = json.loads(path.read_text())["tables"]
    except FileNotFoundError:
        return {t.name: "legacy" for t in config.tables}
    except (ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"the routing file {path} cannot be read ({exc}): it should be as the cutover writes it; fix or remove it") from exc
    return {t.name: tables.get(t.name, "legacy") for t in config.tables}


def _verify_counts(config: Config, source: Database, target: Database, tables: Collection[str]) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    with connections.connection(source, command="cutover verify") as src, connections.connection(target, command="cutover verify") as dst:
        for table in (t for t in config.tables if t.name in tables):
            (s,) = src.execute(sql.SQL("select count(*) from {}").format(postgres.qualified(config.source_schema, table.name))).fetchone()
            (d,) = dst.execute(
                sql.SQL("select count(*) from {} where not {}").format(postgres.qualified(config.landing_schema, table.name), sql.Identifier(landing.DELETED))
            ).fetchone()
            counts[table.name] = {"source": s, "landing": d}
    return counts


def _differing(counts: dict[str, Any]) -> list[str]:
    return [table for table, c in counts.items() if c["source"] != c["landing"]]


def _finished_at(conn: psycopg.Connection, schema: str, reconcile_id: int) -> datetime:
    """When a reconcile recorded its verdict: every row a later sync batch brings is stamped after it."""
    return conn.execute(
        sql.SQL("select finished_at from {} where reconcile_id = %s").format(control.table(schema, "reconcile_runs")), (reconcile_id,)
    ).fetchone()[0]


def _verify_changed_rows(config: Config, source: Database, target: Database, since: datetime | None, tables: Collection[str]) -> dict[str, int]:
    """Compare every landing row written since `since` (a checksum-level reconciliation) with the
    source, key by key, by the row hash of the checksums level (each database hashes its own rows,
    values normalised, only keys and hashes travel)."""
    compared = {}
    pair = checksums.open_pair(config, source, target, None, "cutover verify")
    try:
        hash_function = checksums.pair_hash_function(pair)
        for table in (t for t in config.tables if t.name in tables):
            prepared = checksums.prepare_table(config, pair, table, hash_function, segments=False)
            if prepared.result.problem:
                raise CheckFailed(f"final verification failed: {prepared.result.problem}; nothing was switched")
            compared[table.name] = _compare_rows_since(pair, config, prepared, since)
    finally:
        checksums.close_pair(pair)
    return compared


def _compare_rows_since(pair: checksums.Pair, config: Config, prepared: Any, since: datetime | None) -> int:
    """The landing rows stamped since `since` (a tombstone: the key must be gone from the source)
    against the source rows of the same keys, by row hash; how many were compared."""
    table, ours_side, theirs_side = prepared.result, prepared.source, prepared.target
    key = list(table.key)
    changed = sql.SQL("t.{} >= %s").format(sql.Identifier(landing.SYNCED_AT)) if since else sql.SQL("true")
    landed = pair.target.execute(
        sql.SQL("select {raw}, array[{keys}]::text[], case when t.{deleted} then null else {hash} end from {t} t where {changed}").format(
            raw=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in key),
            keys=sql.SQL(", ").join(theirs_side.keys), deleted=sql.Identifier(landing.DELETED), hash=theirs_side.row_hash(),
            t=theirs_side.relation, changed=changed,
        ),
        (since,) if since else (),
    ).fetchall()
    if not landed:
        return 0
    theirs = {tuple(row[len(key)]): row[-1] for row in landed}
    types = {c.name: c.type for c in postgres.typed_columns(pair.source, config.source_schema, table.table)}
    # The changed keys, as typed arrays: the source finds them through its key index.
    ours = dict(
        (tuple(keys), digest)
        for keys, digest in pair.source.execute(
            sql.SQL("select array[{keys}]::text[], {hash} from {t} t where ({cols}) in (select * from unnest({arrays}))").format(
                keys=sql.SQL(", ").join(ours_side.keys), hash=ours_side.row_hash(), t=ours_side.relation,
                cols=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in key),
                arrays=sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(types[k])) for k in key),
            ),
            [[row[i] for row in landed] for i in range(len(key))],
        ).fetchall()
    )
    differing = [k for k, digest in theirs.items() if ours.get(k) != digest]
    if differing:
        raise CheckFailed(f"final verification failed: {len(differing)} changed rows of {table.table} differ from the source, e.g. {differing[:3]}; nothing was switched")
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


# --- which cutover: the strategy, and for phased the wave ----------------------------------------


@dataclass
class Plan:
    """What `migrate cutover` would run now: the strategy's steps over these tables."""

    strategy: str
    steps: tuple[str, ...]
    tables: list[str]  # frozen, verified and switched by this cutover
    wave: int | None = None  # phased: 1-based index into cutover.waves
    waves: int = 0  # phased: how many waves there are
    waves_done: list[int] = field(default_factory=list)  # phased: cut over before this one
    switched_before: list[str] = field(default_factory=list)  # phased: the tables of those waves
    resumes_run: int | None = None  # an interrupted cutover run this one finishes

    @property
    def switched_after(self) -> list[str]:
        """The tables on the new side once this cutover switches."""
        return [*self.switched_before, *self.tables]

    @property
    def last(self) -> bool:
        """Whether every table is on the new side once this cutover switches."""
        return self.wave is None or len(set(self.waves_done) | {self.wave}) == self.waves

    def detail(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "tables": self.tables, **({"wave": self.wave, "waves": self.waves} if self.wave else {})}


def _wave_label(config: Config, wave: int) -> str:
    tables = config.cutover.waves[wave - 1] if wave <= len(config.cutover.waves) else ()
    return f"wave {wave} ({', '.join(tables)})" if tables else f"wave {wave}"


def waves_cut_over(conn: psycopg.Connection, schema: str) -> dict[int, int]:
    """Phased: each wave cut over since the last fallback, with its cutover run."""
    runs = control.table(schema, "runs")
    rows = conn.execute(
        sql.SQL(
            "select (detail ->> 'wave')::int, run_id from {runs} where command = 'cutover' and status = 'succeeded' "
            "and detail ->> 'strategy' = 'phased' and detail ? 'wave' "
            "and run_id > coalesce((select max(run_id) from {runs} where command = 'fallback' and status = 'succeeded'), 0) order by run_id"
        ).format(runs=runs)
    ).fetchall()
    return dict(rows)


def running(conn: psycopg.Connection, schema: str) -> tuple[int, dict] | None:
    """The cutover run under way (started, not finished), with its detail."""
    row = conn.execute(
        sql.SQL("select run_id, detail from {} where command = 'cutover' and status = 'running' order by run_id desc limit 1").format(
            control.table(schema, "runs")
        )
    ).fetchone()
    return (row[0], row[1]) if row else None


def plan(config: Config, target: Database, wave: int | None = None) -> Plan:
    """The cutover to run: an interrupted one first, else the strategy's, for phased the wave
    asked for (or the next one). Refused, with the reason, when it cannot run."""
    strategy, waves = config.strategy, config.cutover.waves
    if wave is not None and strategy != "phased":
        raise CutoverRefused(f"--wave is for strategy phased; migration.yml has strategy {strategy}, whose cutover moves every table at once")
    if wave is not None and not 1 <= wave <= len(waves):
        raise CutoverRefused(f"--wave {wave} is out of range: cutover.waves in migration.yml has {len(waves)} wave(s), numbered 1 to {len(waves)}")
    schema = config.control_schema
    with connections.connection(target, command="cutover plan", autocommit=True) as conn:
        control.ensure(conn, schema)
        under_way = running(conn, schema)
        done = waves_cut_over(conn, schema) if strategy == "phased" else {}
        state = control.state(conn, schema)
    steps = steps_for(strategy)
    all_tables = [t.name for t in config.tables]
    if under_way:
        run_id, detail = under_way
        was = detail.get("strategy", "parallel_run")  # runs from before strategies were recorded
        if was != strategy:
            raise CutoverRefused(
                f"cutover run {run_id} ({was}) is under way: finish it with strategy: {was} in migration.yml, or abort it with migrate rollback"
            )
        if strategy != "phased":
            return Plan(strategy, steps, all_tables, resumes_run=run_id)
        if wave not in (None, detail["wave"]):
            raise CutoverRefused(
                f"{_wave_label(config, detail['wave'])} is under way (cutover run {run_id}): finish it with migrate cutover --wave {detail['wave']}, "
                "or abort it with migrate rollback"
            )
        # The tables it started with: a wave under way is finished as it began.
        return Plan(strategy, steps, list(detail["tables"]), detail["wave"], detail["waves"], sorted(done), tables_of(config, done), run_id)
    if strategy == "phased" and wave in done:
        raise CutoverRefused(f"{_wave_label(config, wave)} is already cut over (cutover run {done[wave]}): nothing to do")
    phase = state.phase if state else None
    if phase in DONE_PHASES:
        raise CutoverRefused(f"the migration is already {phase.replace('_', ' ')} (since {state.changed_at:%Y-%m-%d %H:%M %Z}): nothing to cut over")
    if phase == PARTLY_SWITCHED and strategy != "phased":
        raise CutoverRefused("a phased cutover is half done (some waves are switched): set strategy: phased again and finish it with migrate cutover")
    if strategy != "phased":
        return Plan(strategy, steps, all_tables)
    pending = [n for n in range(1, len(waves) + 1) if n not in done]
    if wave is None:
        wave = pending[0]  # not empty: with every wave done the phase is 'switched', refused above
    elif wave != pending[0]:
        raise CutoverRefused(f"wave {wave} comes after {_wave_label(config, pending[0])}, which is not cut over yet: run migrate cutover --wave {pending[0]} first")
    return Plan(strategy, steps, list(waves[wave - 1]), wave, len(waves), sorted(done), tables_of(config, done))


def tables_of(config: Config, waves: Collection[int]) -> list[str]:
    return [t for n in sorted(waves) for t in config.cutover.waves[n - 1]]


def app_sources(project_dir: Path, legacy_tables: Collection[str]) -> dict[str, set[str]]:
    """Each table of `app` with the legacy tables it is made from, as the models declare them
    (model meta `source_table`, e.g. "CUSTOMER, ORDER_HDR"), read from dbt's manifest."""
    result = {}
    for model in dbt_artifacts.models(dbt_artifacts.load(project_dir)):
        if model.is_target and model.schema == APP_SCHEMA and model.source_table:
            named = {name.strip().strip('"') for name in re.split(r"[,;]", model.source_table) if name.strip()}
            if named <= set(legacy_tables):
                result[model.relation.split(".", 1)[1]] = named
    return result


def _reverse_capture_due(config: Config, conn: psycopg.Connection, chosen: Plan) -> list[landing.SourceTable]:
    """The `app` tables the new application may write once this cutover switches.

    All of them, except in a phased cutover: there a table is captured once every legacy table it
    is made from is switched (tables of unknown origin with the last wave), so a fallback carries
    back only the new application's writes, never the syncs of the tables still on the legacy side.
    """
    app_tables = _app_tables(conn)
    if chosen.wave is None:
        return app_tables
    before, after = set(chosen.switched_before), set(chosen.switched_after)
    origin = app_sources(config.project_dir, [t.name for t in config.tables])

    def switched(table: str, tables: set[str]) -> bool:
        return table in origin and origin[table] <= tables

    # Those that an earlier wave's cutover did not capture (a question of the waves, not of which
    # triggers exist: a resumed run must find the same tables).
    return [t for t in app_tables if not switched(t.name, before) and (chosen.last or switched(t.name, after))]


def _install_reverse_capture(target: Database, tables: list[landing.SourceTable]) -> None:
    """Capture (with before images) on the `app` tables the new application will write. Creating
    triggers locks each table; before the freeze that costs the window nothing."""
    with connections.connection(target, command="cutover", autocommit=True) as conn:
        installed = set(capture.state(conn, APP_SCHEMA, [t.name for t in tables]).installed)
        capture.install(conn, APP_SCHEMA, [t for t in tables if t.name not in installed], before_images=True)


def _clear_reverse_log(target: Database, names: list[str]) -> None:
    """Forget what the migration itself wrote to these tables (its builds): until the switch nobody
    else writes them, so the log holds the new application's writes only from the switch on."""
    with connections.connection(target, command="cutover", autocommit=True) as conn:
        conn.execute(
            sql.SQL("delete from {}.changes where table_schema = %s and table_name = any(%s)").format(sql.Identifier(capture.CAPTURE_SCHEMA)),
            (APP_SCHEMA, names),
        )


def _abandon_unfinished_loads(conn: psycopg.Connection, schema: str) -> list[int]:
    """A load left running from before the freeze copied a moving source: the big bang loads afresh."""
    rows = conn.execute(
        sql.SQL("update {} set status = 'failed', finished_at = clock_timestamp() where status = 'running' returning load_id").format(
            control.table(schema, "load_runs")
        )
    ).fetchall()
    return [load_id for (load_id,) in rows]


# --- the runbook ------------------------------------------------------------------------------


def run(
    config: Config,
    source: Database,
    target: Database,
    *,
    wave: int | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    skip_gates: bool = False,
    stop_before: str | None = None,
) -> CutoverResult:
    """Run the runbook of the configured strategy (for phased, of one wave); `stop_before` a step
    leaves the run open there (a rehearsal stops before the switch)."""
    chosen = plan(config, target, wave)
    schema = config.control_schema
    tables = chosen.tables
    with connections.connection(target, command="cutover", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        # A running `sync --follow` yields until this session ends (and stops once the source is frozen).
        sync.exclude_followers(ctl, config, config.cutover.lock_timeout_seconds)
        run_id, resumed, done = runbook.open_run(ctl, schema, "cutover", chosen.detail())
        result = CutoverResult(run_id, resumed, plan=chosen)
        early: dict[str, Any] = {}  # work begun ahead of its step: the verification, the parsed project
        content = content_reconciliation(ctl, config)  # the gate's evidence: where a run without catch_up's compares from
        last_reconcile = content[1] if content else None

        def preflight(detail: dict) -> None:
            found = gates(config, source, target)
            detail["gates"] = {g.name: {"passed": g.passed, "reason": g.reason} for g in found}
            failed = [g for g in found if not g.passed]
            if failed and not skip_gates:
                raise GateFailed("cutover refused: " + "; ".join(f"{g.name}: {g.reason}" for g in failed))

        def reverse_capture(detail: dict) -> None:
            # After the final build and before the switch: from here on only the new application
            # writes these `app` tables, and every row it changes is logged with its before image
            # for a fallback. Installed at catch_up where there is one, outside the window.
            names = runbook.step_details(ctl, schema, run_id).get("catch_up", {}).get("reverse_capture")
            with connections.connection(target, command="cutover", autocommit=True) as conn:
                tables = [t for t in _app_tables(conn) if t.name in names] if names is not None else _reverse_capture_due(config, conn, chosen)
            _install_reverse_capture(target, tables)  # a no-op where catch_up did it
            _clear_reverse_log(target, [t.name for t in tables])
            detail["tables"] = [t.name for t in tables]

        def catch_up(detail: dict) -> None:
            # Sync and build everything written so far while the legacy application still writes;
            # compare both sides at one snapshot by counts and segment checksums (the whole tables,
            # outside the window: the window then compares only the rows changed since, by the same
            # row hash); sync and build once more, so that the window's build has only what arrives
            # during this last round.
            detail["changes"] = sync.apply_until_caught_up(config, source, target)
            sync.build(config, target)
            # Earlier waves' tables are counted out: frozen at the source since their own cutover, they
            # are written on the new side now, and the new application's changes are no drift.
            still_legacy = replace(config, tables=tuple(t for t in config.tables if t.name not in chosen.switched_before))
            counted = reconcile.reconcile(still_legacy, source, target, CATCH_UP_LEVELS, report_name="cutover-catch-up")
            detail["reconcile_id"] = counted.reconcile_id
            if not counted.passed:
                wrong = [f"{level.level} {c.name}" for level in counted.levels for c in level.checks if c.verdict == reconcile.FAILED]
                raise CheckFailed(
                    f"catch-up reconciliation failed ({'; '.join(wrong)}): landing differs from the source; nothing was frozen; "
                    f"see {counted.files.get('markdown')}"
                )
            detail["changes"] += counted.point.changes_applied + sync.apply_until_caught_up(config, source, target)
            detail["nodes"] = sync.build(config, target).succeeded
            # After the build (its manifest says which app tables each wave makes), before the window.
            with connections.connection(target, command="cutover", autocommit=True) as conn:
                due = _reverse_capture_due(config, conn, chosen)
            _install_reverse_capture(target, due)
            detail["reverse_capture"] = [t.name for t in due]
            # The window's build starts from the project parsed here rather than reading it itself.
            early["manifest"] = dbt.parse(config, target)

        def freeze_source(detail: dict) -> None:
            with connections.connection(source, command="cutover freeze") as conn:
                frozen = freeze.freeze(conn, config.source_schema, tables, lock_timeout_seconds=config.cutover.lock_timeout_seconds,
                                       drain_timeout_seconds=config.cutover.drain_timeout_seconds,
                                       legacy_role=config.roles.get("legacy_app_role"))
            with connections.connection(target, command="cutover", autocommit=True) as conn:
                control.set_phase(conn, schema, "frozen")
                if chosen.strategy == "big_bang":
                    detail["abandoned_loads"] = _abandon_unfinished_loads(conn, schema)
            detail.update(tables=frozen.tables, waited_seconds=frozen.waited_seconds, ended_transactions=frozen.ended_transactions,
                          revoked=frozen.revoked, notes=frozen.notes, frozen_at=time.time())

        def load_snapshot(detail: dict) -> None:
            # Nothing moves any more: one snapshot of every table, copied whole (a killed copy resumes).
            loaded = load.load(config, source, target)
            detail.update(load_id=loaded.load_id, rows=loaded.rows, bytes=loaded.bytes, seconds=loaded.seconds)

        def full_build(detail: dict) -> None:
            detail["nodes"] = sync.build(config, target, ("build", "--full-refresh")).succeeded

        def final_sync(detail: dict) -> None:
            detail["changes"] = sync.apply_until_caught_up(config, source, target)
            # Landing is final now (the source is frozen): it is verified against the source while
            # dbt builds, since neither changes what the other reads. A resumed run verifies afresh.
            early["verification"] = background.submit(verify_landing, catch_up_counts())

        def final_build(detail: dict) -> None:
            # The incremental sync build, over the last changes; a resumed run parses the project itself.
            manifest = early.pop("manifest", None)
            detail["parsed_at_catch_up"] = manifest is not None
            detail["nodes"] = sync.build(config, target, manifest=manifest).succeeded

        def catch_up_counts() -> tuple[int, datetime] | None:
            """The reconciliation in which catch_up compared both sides (counts and checksums), and when it recorded it."""
            counted = runbook.step_details(ctl, schema, run_id).get("catch_up", {}).get("reconcile_id")
            return None if counted is None else (counted, _finished_at(ctl, schema, counted))

        def verify_landing(counted: tuple[int, datetime] | None) -> dict[str, Any]:
            """What the final verification found; a failure is in "failed", with the figures so far.

            Where catch_up compared both sides at a snapshot, the window compares only the rows
            changed since, key by key by row hash: those carry the counts and checksums forward
            (nothing else writes landing). The whole tables are counted again after the switch
            (source_read_only)."""
            started = time.perf_counter()
            found: dict[str, Any] = {}
            try:
                if counted is not None:
                    found["counts_at_catch_up"], since = counted
                    found["changed_rows_compared"] = _verify_changed_rows(config, source, target, since, tables)
                    return found
                found["counts"] = _verify_counts(config, source, target, tables)
                if wrong := _differing(found["counts"]):
                    raise CheckFailed(f"final verification failed: row counts differ for {', '.join(wrong)}; nothing was switched")
                if chosen.strategy == "big_bang":
                    found["reconcile_id"] = _verify_whole_copy(config, source, target)
                else:
                    found["changed_rows_compared"] = _verify_changed_rows(config, source, target, last_reconcile, tables)
            except CheckFailed as failed:
                found["failed"] = str(failed)
            finally:
                found["seconds"] = round(time.perf_counter() - started, 3)
            return found

        def final_verification(detail: dict) -> None:
            started = early.pop("verification", None)
            detail.update(started.result() if started else verify_landing(catch_up_counts()))
            if "failed" in detail:
                raise CheckFailed(detail["failed"])

        def align(detail: dict) -> None:
            with connections.connection(target, command="cutover sequences", autocommit=True) as conn:
                detail["sequences"] = align_sequences(conn, APP_SCHEMA)

        def switch(detail: dict) -> None:
            # The intent first, in the control schema: from here on the applications may write the
            # new side, so a rollback can only fall back (rollback.falls_back), never abort. Every
            # part can run again: the command only if it did not run, the routing is the same file.
            intent = control.switch_intent(ctl, schema)
            if not intent or intent["run_id"] != run_id:
                intent = {"run_id": run_id, "tables": chosen.switched_after, "command_ran": False}
                control.set_phase(ctl, schema, SWITCHING, detail=Jsonb({"switch": intent}))
            if config.cutover.switch_command and not intent["command_ran"]:
                try:
                    processes.run(list(config.cutover.switch_command), env=processes.libpq_env(target.url), what="the switch command")
                except processes.ProgramFailed:
                    # It exited non-zero: by its contract it switched nothing, and the routing file
                    # was not written, so the intent is withdrawn and an abort stays possible.
                    control.set_phase(ctl, schema, "frozen", detail=Jsonb({}))
                    raise
                intent["command_ran"] = True  # a kill before this line runs the command again: it must be safe to repeat
                control.set_phase(ctl, schema, SWITCHING, detail=Jsonb({"switch": intent}))
            detail["routing_file"] = str(write_routing(config, {name: "new" for name in chosen.switched_after}))
            runbook.crash_here_if_asked("cutover:switch:routed")
            state = control.state(ctl, schema)
            now = datetime.now(timezone.utc)
            # A phased migration switched with its first wave: the criteria look back to then.
            switched_at = (state.switched_at if chosen.waves_done or state.phase != SWITCHING else None) or now
            if chosen.last:
                ends = now + timedelta(hours=config.cutover.rollback_window_hours)
                control.set_phase(ctl, schema, "switched", switched_at=switched_at, rollback_window_ends=ends)
                detail["rollback_window_ends"] = ends.isoformat()
            else:
                control.set_phase(ctl, schema, PARTLY_SWITCHED, switched_at=switched_at)
            detail["switched_at"] = time.time()

        def source_read_only(detail: dict) -> None:
            # The source stays frozen (the freeze is its read-only state); the whole tables are
            # counted again, now that neither side moves (the window compared only the rows
            # changed since catch_up's counts).
            detail["read_only"] = tables
            detail["recount"] = _verify_counts(config, source, target, tables)
            if wrong := _differing(detail["recount"]):
                raise CheckFailed(
                    f"after the switch, row counts differ for {', '.join(wrong)}: landing misses writes the final verification "
                    "could not see; run `migrate rollback --check`"
                )

        common = {
            "preflight": preflight, "catch_up": catch_up, "freeze_source": freeze_source, "load": load_snapshot, "build": full_build,
            "final_sync": final_sync, "final_build": final_build, "final_verification": final_verification, "reverse_capture": reverse_capture,
            "align_sequences": align, "switch": switch, "source_read_only": source_read_only,
        }
        actions = {name: common[name] for name in chosen.steps}
        try:
            with ThreadPoolExecutor(max_workers=1) as background:
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


def _verify_whole_copy(config: Config, source: Database, target: Database) -> int:
    """Big bang: the whole copy against the frozen source, by counts and segment checksums
    (hashed inside each database: only a sum per segment travels), recorded as a reconciliation."""
    outcome = reconcile.reconcile(config, source, target, ["counts", "checksums"], build=False, report_name="cutover-verification")
    if not outcome.passed:
        bad = ", ".join(level.level for level in outcome.levels if level.verdict == "failed")
        raise CheckFailed(f"final verification failed: reconciliation {outcome.reconcile_id} failed at {bad}; nothing was switched; see {outcome.files.get('markdown')}")
    return outcome.reconcile_id
