"""The control schema in the target database: everything the harness knows, as facts.

Runs and their steps, load ranges, sync watermarks and backup manifests live here, so any
command can resume after a crash and `status` and the documents are built from facts. Each run
records the process that runs it (host and pid), so a run left 'running' by a kill is told from
one still under way; the migration's phase carries the cutover's switch intent.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

# The sync_state row of the source's change stream.
STREAM = "source"

DDL = """
create schema if not exists {schema};

create table if not exists {schema}.runs (
    run_id      bigint generated always as identity primary key,
    command     text not null,
    started_at  timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    status      text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
    detail      jsonb not null default '{{}}'
);

create table if not exists {schema}.steps (
    run_id      bigint not null references {schema}.runs,
    step        text not null,
    started_at  timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    status      text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
    detail      jsonb not null default '{{}}',
    primary key (run_id, step)
);

-- One row per initial load; a load killed half-way is resumed from its ranges.
create table if not exists {schema}.load_runs (
    load_id       bigint generated always as identity primary key,
    run_id        bigint references {schema}.runs,
    started_at    timestamptz not null default clock_timestamp(),
    finished_at   timestamptz,
    seconds       double precision,
    first_snapshot text,          -- the snapshot of the first attempt: sync starts from it
    rows_copied   bigint,
    bytes_copied  bigint,
    status        text not null default 'running' check (status in ('running', 'succeeded', 'failed'))
);

create table if not exists {schema}.load_ranges (
    load_id     bigint not null references {schema}.load_runs,
    table_name  text not null,
    range_no    integer not null,
    lower_key   bigint,           -- inclusive; null = unbounded
    upper_key   bigint,           -- exclusive; null = unbounded
    done        boolean not null default false,
    rows_copied bigint,
    bytes_copied bigint,
    snapshot    text,             -- the source snapshot this range was copied under
    copied_at   timestamptz,
    primary key (load_id, table_name, range_no)
);

-- One row per table (re)loaded alone (`migrate load --table`) into a running sync: the table was
-- copied in `snapshot`, so the next batch skips its changes visible there and then sets `covered`.
create table if not exists {schema}.table_loads (
    table_load_id bigint generated always as identity primary key,
    table_name    text not null,
    snapshot      text not null,
    loaded_at     timestamptz not null default clock_timestamp(),
    seconds       double precision,
    rows_copied   bigint,
    bytes_copied  bigint,
    how           text not null,   -- created, emptied (its views kept) or recreated (its views dropped)
    dropped_dependents text[] not null default '{{}}',
    covered       boolean not null default false
);

-- The change-capture watermark: the source snapshot up to which changes are in landing.
create table if not exists {schema}.sync_state (
    stream        text primary key,
    snapshot      text not null,
    applied_at    timestamptz not null default clock_timestamp(),
    changes_applied bigint not null default 0,
    built_at      timestamptz,     -- last dbt build over landing
    built_snapshot text,           -- the watermark that build covered
    unbuilt_since timestamptz,     -- capture time of the oldest change in landing but not yet in app
    timestamp_watermark jsonb,     -- timestamp capture only: per table, the newest change time seen
    -- how long the last incremental sync build took (assess times the final sync by it)
    sync_build_seconds double precision,
    sync_built_at  timestamptz      -- when it finished
);

create table if not exists {schema}.backups (
    backup_id   bigint generated always as identity primary key,
    side        text not null check (side in ('source', 'target')),
    taken_at    timestamptz not null default clock_timestamp(),
    file        text not null,
    server_version text not null,
    size_bytes  bigint not null,
    sha256      text not null,
    row_counts  jsonb not null,
    checksums   jsonb,          -- per table: a hash sum of its rows, in the dump's own snapshot
    verified_at timestamptz,
    verified_into text,
    database_options jsonb,     -- the database's encoding and locale: a restore creates its database with them
    log_position text           -- the source log's position the archive stands for (a MySQL binary log's)
);

-- One row per `migrate reconcile`: the levels it ran, the source snapshot it compared as of,
-- each level's verdict, and the whole report (reconciliation.json of its run's folder) as it was written.
create table if not exists {schema}.reconcile_runs (
    reconcile_id  bigint generated always as identity primary key,
    run_id        bigint references {schema}.runs,
    started_at    timestamptz not null default clock_timestamp(),
    finished_at   timestamptz,
    levels        text[] not null,
    source_snapshot text,
    status        text not null default 'running' check (status in ('running', 'passed', 'failed')),
    level_verdicts jsonb not null default '{{}}',
    report        jsonb
);

-- Every check of a reconcile run with the figures of both sides.
create table if not exists {schema}.reconcile_verdicts (
    reconcile_id  bigint not null references {schema}.reconcile_runs,
    level         text not null,
    check_name    text not null,
    verdict       text not null check (verdict in ('passed', 'failed', 'not available')),
    source_value  text,
    target_value  text,
    detail        text,
    primary key (reconcile_id, level, check_name)
);

-- Where the migration stands: one row, moved on by load, cutover, rollback and decommission.
create table if not exists {schema}.migration_state (
    singleton   boolean primary key default true check (singleton),
    phase       text not null,
    changed_at  timestamptz not null default clock_timestamp(),
    switched_at timestamptz,
    rollback_window_ends timestamptz,
    detail      jsonb not null default '{{}}'
);

-- Each rehearsal of the whole cycle, with the fingerprint of the models it rehearsed.
create table if not exists {schema}.rehearsals (
    rehearsal_id bigint generated always as identity primary key,
    run_id       bigint references {schema}.runs,
    started_at   timestamptz not null default clock_timestamp(),
    finished_at  timestamptz,
    status       text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
    models_fingerprint text,
    timings      jsonb not null default '{{}}'
);

-- Each evaluation of the rollback criteria (`migrate rollback --check`, a run of its own):
-- every criterion's state with the figure found and the limit it was held against.
create table if not exists {schema}.rollback_checks (
    run_id      bigint not null references {schema}.runs,
    criterion   text not null,
    kind        text not null,
    state       text not null check (state in ('met', 'not met', 'cannot tell')),
    figure      text,
    threshold   text,
    detail      text,
    checked_at  timestamptz not null default clock_timestamp(),
    primary key (run_id, criterion)
);

-- Sign-offs: who approved which stage of the migration, when, and why.
create table if not exists {schema}.approvals (
    approval_id bigint generated always as identity primary key,
    stage       text not null,
    role        text not null,
    name        text not null,
    note        text,
    approved_at timestamptz not null default clock_timestamp(),
    os_user     text,           -- who ran `migrate approve`, beside the name given
    host        text,
    revoked_at  timestamptz,    -- `migrate approve --revoke`: the sign-off no longer counts
    revoked_by  text
);
-- Control schemas made before approvals recorded the OS user and revocations, before backups
-- recorded checksums and database options, and before sync_state timed the builds. Altered only
-- where the columns are missing: ALTER TABLE locks the table exclusively even when it changes nothing.
do $$ begin
    if not exists (
        select from pg_attribute where attrelid = '{schema}.approvals'::regclass and attname = 'revoked_at'
    ) then
        alter table {schema}.approvals add column os_user text, add column host text,
            add column revoked_at timestamptz, add column revoked_by text;
    end if;
    if not exists (
        select from pg_attribute where attrelid = '{schema}.backups'::regclass and attname = 'checksums'
    ) then
        alter table {schema}.backups add column checksums jsonb;
    end if;
    if not exists (
        select from pg_attribute where attrelid = '{schema}.backups'::regclass and attname = 'database_options'
    ) then
        alter table {schema}.backups add column database_options jsonb;
    end if;
    if not exists (
        select from pg_attribute where attrelid = '{schema}.backups'::regclass and attname = 'log_position'
    ) then
        alter table {schema}.backups add column log_position text;
    end if;
    if not exists (
        select from pg_attribute where attrelid = '{schema}.sync_state'::regclass and attname = 'sync_build_seconds'
    ) then
        alter table {schema}.sync_state add column sync_build_seconds double precision,
            add column sync_built_at timestamptz;
    end if;
end $$;
"""

# This target's name on the source: the consumer of the change log whose progress the source
# keeps (capture.register), the same across loads. `database` is the database it was made in: a
# copy of the target (restored from a backup, cloned) finds another one and takes a name of its own.
CONSUMER_DDL = """
create table if not exists {schema}.consumer (
    singleton   boolean primary key default true check (singleton),
    consumer_id text not null default gen_random_uuid()::text,
    created_at  timestamptz not null default clock_timestamp(),
    database    text
);
do $$ begin  -- a consumer table made before it kept the database (altered only then: see DDL)
    if not exists (
        select from pg_attribute where attrelid = '{schema}.consumer'::regclass and attname = 'database'
    ) then
        alter table {schema}.consumer add column database text;
    end if;
end $$;
"""
# The database's identity: its server's system identifier where this role may read it, and its oid.
DATABASE_IDENTITY = """
select coalesce((select system_identifier::text from pg_control_system()), '?') || '/' ||
       (select oid::text from pg_database where datname = current_database())
"""


def ensure(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(sql.SQL(DDL).format(schema=sql.Identifier(schema)))
    conn.execute(sql.SQL(CONSUMER_DDL).format(schema=sql.Identifier(schema)))


def consumer_id(conn: psycopg.Connection, schema: str) -> str:
    """This target's consumer id on the source, made the first time it is asked for (also in a
    control schema made before consumers existed). `conn` must autocommit: the id is kept before
    the source learns it."""
    consumer = table(schema, "consumer")
    if conn.execute("select to_regclass(%s)", (consumer.as_string(conn),)).fetchone()[0] is None:
        conn.execute(sql.SQL(CONSUMER_DDL).format(schema=sql.Identifier(schema)))
    here = _database_identity(conn)
    row = conn.execute(sql.SQL("select consumer_id, database from {}").format(consumer)).fetchone()
    if row is None:
        conn.execute(sql.SQL("insert into {} (database) values (%s) on conflict do nothing").format(consumer), (here,))
    elif row[1] != here:
        # Made elsewhere (or before identities were kept): a copy must not advance the original's
        # progress on the source, which would purge changes the original has not applied.
        fresh = "gen_random_uuid()::text" if row[1] is not None else "consumer_id"
        conn.execute(sql.SQL("update {} set consumer_id = {}, database = %s").format(consumer, sql.SQL(fresh)), (here,))
    return conn.execute(sql.SQL("select consumer_id from {}").format(consumer)).fetchone()[0]


def _database_identity(conn: psycopg.Connection) -> str:
    try:
        with conn.transaction():
            return conn.execute(DATABASE_IDENTITY).fetchone()[0]
    except psycopg.errors.InsufficientPrivilege:  # pg_control_system() is for superusers and pg_monitor
        return "?/" + str(conn.execute("select oid from pg_database where datname = current_database()").fetchone()[0])


def consumer_label(target: str, schema: str) -> str:
    """How the source names a consumer for people: where the target is and its control schema."""
    return f"{target}, control schema {schema}"


def table(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def this_process() -> dict[str, Any]:
    """Which process runs a run: a run left 'running' whose process is gone was interrupted (kill -9)."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def start_run(conn: psycopg.Connection, schema: str, command: str, detail: dict[str, Any] | None = None) -> int:
    (run_id,) = conn.execute(
        sql.SQL("insert into {} (command, detail) values (%s, %s) returning run_id").format(table(schema, "runs")),
        (command, json.dumps({**(detail or {}), **this_process()})),
    ).fetchone()
    return run_id


def claim_run(conn: psycopg.Connection, schema: str, run_id: int) -> None:
    """A run resumed by this process: it runs it now."""
    conn.execute(
        sql.SQL("update {} set detail = detail || %s where run_id = %s").format(table(schema, "runs")),
        (json.dumps(this_process()), run_id),
    )


def process_alive(detail: dict[str, Any]) -> bool | None:
    """Whether the process recorded in a run's detail still runs; None when it cannot be told from
    here (another host, or a run recorded before processes were)."""
    if "pid" not in detail or detail.get("host") != socket.gethostname():
        return None
    try:
        os.kill(detail["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def finish_run(
    conn: psycopg.Connection, schema: str, run_id: int, status: str, detail: dict[str, Any] | None = None
) -> None:
    conn.execute(
        sql.SQL(
            "update {} set finished_at = clock_timestamp(), status = %s, detail = detail || %s where run_id = %s"
        ).format(table(schema, "runs")),
        (status, json.dumps(detail or {}), run_id),
    )


def fail_running(conn: psycopg.Connection, schema: str, command: str, detail: dict[str, Any]) -> None:
    """End every run of `command` still running as failed, adding `detail` to each."""
    conn.execute(
        sql.SQL(
            "update {} set status = 'failed', finished_at = clock_timestamp(), detail = detail || %s "
            "where command = %s and status = 'running'"
        ).format(table(schema, "runs")),
        (json.dumps(detail), command),
    )


@contextmanager
def step(conn: psycopg.Connection, schema: str, run_id: int, name: str) -> Iterator[dict[str, Any]]:
    """Record a step's start, end and outcome; the yielded dict becomes its detail. `conn` must autocommit."""
    conn.execute(
        sql.SQL(
            "insert into {} (run_id, step) values (%s, %s) on conflict (run_id, step) "
            "do update set started_at = clock_timestamp(), finished_at = null, status = 'running'"
        ).format(table(schema, "steps")),
        (run_id, name),
    )
    detail: dict[str, Any] = {}
    status = "failed"
    try:
        yield detail
        status = "succeeded"
    finally:
        conn.execute(
            sql.SQL(
                "update {} set finished_at = clock_timestamp(), status = %s, detail = %s "
                "where run_id = %s and step = %s"
            ).format(table(schema, "steps")),
            (status, json.dumps(detail, default=str), run_id, name),
        )


def record_step_detail(conn: psycopg.Connection, schema: str, run_id: int, name: str, detail: dict[str, Any]) -> None:
    """A running step's detail recorded before it ends: what a run again must know if this one is killed."""
    conn.execute(
        sql.SQL("update {} set detail = %s where run_id = %s and step = %s").format(table(schema, "steps")),
        (json.dumps(detail, default=str), run_id, name),
    )


def set_phase(conn: psycopg.Connection, schema: str, phase: str, **fields: Any) -> None:
    """Move the migration to a phase; extra fields (switched_at, rollback_window_ends) are set too."""
    columns = ["phase", *fields]
    values = [phase, *(Jsonb(v) if isinstance(v, dict) else v for v in fields.values())]
    conn.execute(
        sql.SQL(
            "insert into {t} (singleton, {cols}, changed_at) values (true, {vals}, clock_timestamp()) "
            "on conflict (singleton) do update set {assign}, changed_at = clock_timestamp()"
        ).format(
            t=table(schema, "migration_state"),
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            vals=sql.SQL(", ").join(sql.Placeholder() * len(values)),
            assign=sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in columns),
        ),
        values,
    )


def switch_intent(conn: psycopg.Connection, schema: str) -> dict[str, Any] | None:
    """The switch recorded as about to happen (cutover's switch step): its run, tables, and whether
    the switch command ran."""
    row = conn.execute(sql.SQL("select detail -> 'switch' from {}").format(table(schema, "migration_state"))).fetchone()
    return row[0] if row else None


def phase(conn: psycopg.Connection, schema: str) -> str | None:
    row = conn.execute(sql.SQL("select phase from {}").format(table(schema, "migration_state"))).fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class MigrationState:
    phase: str
    changed_at: datetime
    switched_at: datetime | None
    rollback_window_ends: datetime | None


def state(conn: psycopg.Connection, schema: str) -> MigrationState | None:
    """The migration_state row: the phase, and when the switch happened and its rollback window ends."""
    row = conn.execute(
        sql.SQL("select phase, changed_at, switched_at, rollback_window_ends from {}").format(
            table(schema, "migration_state")
        )
    ).fetchone()
    return MigrationState(*row) if row else None


def abandon_unfinished_loads(conn: psycopg.Connection, schema: str) -> list[int]:
    """A load left running from before the freeze copied a moving source: the big bang loads afresh."""
    rows = conn.execute(
        sql.SQL(
            "update {} set status = 'failed', finished_at = clock_timestamp() "
            "where status = 'running' returning load_id"
        ).format(table(schema, "load_runs"))
    ).fetchall()
    return [load_id for (load_id,) in rows]


def step_seconds(conn: psycopg.Connection, schema: str) -> dict[str, float]:
    """Each step's duration in the last successful rehearsal, else in the last cutover that ran it."""
    rows = conn.execute(
        sql.SQL(
            "select distinct on (s.step) s.step, extract(epoch from s.finished_at - s.started_at) "
            "from {steps} s join {runs} r using (run_id) "
            "where r.command in ('rehearse', 'cutover') and s.status = 'succeeded' "
            "order by s.step, (r.command = 'rehearse') desc, s.finished_at desc"
        ).format(steps=table(schema, "steps"), runs=table(schema, "runs"))
    ).fetchall()
    return {step: float(seconds) for step, seconds in rows}


def waves_cut_over(conn: psycopg.Connection, schema: str) -> dict[int, int]:
    """Phased: each wave cut over since the last fallback, with its cutover run."""
    runs = table(schema, "runs")
    rows = conn.execute(
        sql.SQL(
            "select (detail ->> 'wave')::int, run_id from {runs} where command = 'cutover' and status = 'succeeded' "
            "and detail ->> 'strategy' = 'phased' and detail ? 'wave' "
            "and run_id > coalesce((select max(run_id) from {runs} where command = 'fallback' "
            "and status = 'succeeded'), 0) order by run_id"
        ).format(runs=runs)
    ).fetchall()
    return dict(rows)


def running_cutover(conn: psycopg.Connection, schema: str) -> tuple[int, dict] | None:
    """The cutover run under way (started, not finished), with its detail."""
    row = conn.execute(
        sql.SQL(
            "select run_id, detail from {} where command = 'cutover' and status = 'running' "
            "order by run_id desc limit 1"
        ).format(table(schema, "runs"))
    ).fetchone()
    return (row[0], row[1]) if row else None


def unfinished_run(conn: psycopg.Connection, schema: str, command: str) -> int | None:
    """The newest run of this command still running (killed, or under way), if any."""
    row = conn.execute(
        sql.SQL("select run_id from {} where command = %s and status = 'running' order by run_id desc limit 1").format(
            table(schema, "runs")
        ),
        (command,),
    ).fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class Run:
    run_id: int
    status: str
    started_at: datetime
    detail: dict[str, Any]


def latest_run(conn: psycopg.Connection, schema: str, command: str) -> Run | None:
    """The newest run of this command, whatever its status."""
    row = conn.execute(
        sql.SQL(
            "select run_id, status, started_at, detail from {} where command = %s order by run_id desc limit 1"
        ).format(table(schema, "runs")),
        (command,),
    ).fetchone()
    return Run(*row) if row else None


def succeeded_steps(conn: psycopg.Connection, schema: str, run_id: int) -> set[str]:
    return {
        name
        for (name,) in conn.execute(
            sql.SQL("select step from {} where run_id = %s and status = 'succeeded'").format(table(schema, "steps")),
            (run_id,),
        ).fetchall()
    }


def step_details(conn: psycopg.Connection, schema: str, run_id: int) -> dict[str, dict]:
    return dict(
        conn.execute(
            sql.SQL("select step, detail from {} where run_id = %s").format(table(schema, "steps")), (run_id,)
        ).fetchall()
    )
