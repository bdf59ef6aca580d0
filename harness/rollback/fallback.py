"""The fallback after the switch: the new application's changes carried back into the legacy schema.

`migrate rollback` once the applications were switched: the new side is frozen, the reverse
models (models/fallback, dbt SQL beside the forward ones) turn every row the new application
changed after cutover into legacy form, and the harness writes those rows into the legacy schema,
still frozen for everyone else, in one transaction. Then it verifies every written row against
the source, switches the applications back, and unfreezes the source. Like the cutover, it is a
runbook of recorded steps that resumes where it stopped; carrying back twice writes the same rows.

The harness only knows the convention: for each legacy table T of migration.yml, a relation
`fallback.legacy_<t>` with T's columns, `_fallback_op` (I, U or D) and `_fallback_columns`
(the legacy columns to write); only those columns are written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from harness import dbt, engines
from harness.core import connections, control, processes, runbook
from harness.core.config import Config, TableConfig
from harness.core.connections import Database
from harness.core.errors import CheckFailed, HarnessError
from harness.core.runbook import StepResult
from harness.cutover import app_table_names, write_routing
from harness.dbt import contract as dbt_contract
from harness.engines import postgres
from harness.engines.postgres import capture
from harness.target.provision import APP_SCHEMA

REVERSE_SCHEMA = dbt_contract.FALLBACK_SCHEMA
OP, COLUMNS = dbt_contract.FALLBACK_OP, dbt_contract.FALLBACK_COLUMNS

STEPS = ("freeze_target", "reverse_build", "carry_back", "verify", "switch_back", "unfreeze_source")


class NoReverseModel(HarnessError):
    pass


@dataclass
class FallbackResult:
    run_id: int
    resumed: bool
    steps: list[StepResult] = field(default_factory=list)
    carried: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> op -> rows
    write_unavailable_seconds: float | None = None


def reverse_models(config: Config, target: Database) -> list[str]:
    """The dbt models of the reverse mapping (tag `fallback`); none means no fallback is possible."""
    return list(
        dbt.run(
            config,
            target,
            [
                "ls",
                "--select",
                f"tag:{dbt_contract.FALLBACK_TAG}",
                "--resource-type",
                "model",
                "--output",
                "name",
                "--log-level",
                "none",
            ],
            quiet=True,
        ).results
        or []
    )


def reverse_relation(table: TableConfig) -> sql.Composed:
    return postgres.qualified(REVERSE_SCHEMA, dbt_contract.fallback_relation_name(table.name))


def run(
    config: Config,
    source: Database,
    target: Database,
    *,
    decided_by: str,
    reason: str,
    on_step: Callable[[StepResult], None] | None = None,
) -> FallbackResult:
    schema = config.control_schema
    tables = [t.name for t in config.tables]
    with connections.connection(target, command="rollback", autocommit=True) as ctl:
        control.ensure(ctl, schema)
        run_id, resumed, done = runbook.open_run(ctl, schema, "fallback", {"decided_by": decided_by, "reason": reason})
        result = FallbackResult(run_id, resumed)

        def freeze_target(detail: dict) -> None:
            names = app_table_names(ctl)
            with connections.connection(target, command="rollback freeze") as conn:  # idle, as freeze needs
                frozen = engines.target_engine().freeze(
                    conn,
                    APP_SCHEMA,
                    names,
                    lock_timeout_seconds=config.cutover.lock_timeout_seconds,
                    drain_timeout_seconds=config.cutover.drain_timeout_seconds,
                )
            control.set_phase(ctl, schema, "falling_back")
            detail.update(
                tables=frozen.tables,
                waited_seconds=frozen.waited_seconds,
                ended_transactions=frozen.ended_transactions,
                frozen_at=time.time(),
            )

        def reverse_build(detail: dict) -> None:
            detail["nodes"] = dbt.run(
                config, target, ["build", "--select", f"tag:{dbt_contract.FALLBACK_TAG}"], quiet=True
            ).succeeded

        def carry_back(detail: dict) -> None:
            result.carried = _carry_back(config, source, target)
            detail["carried"] = result.carried

        def verify(detail: dict) -> None:
            detail["verified"] = _verify(config, source, target)

        def switch_back(detail: dict) -> None:
            if config.cutover.switch_back_command:
                processes.run(
                    list(config.cutover.switch_back_command),
                    env=processes.libpq_env(source.url),
                    what="the switch-back command",
                )
            detail["routing_file"] = str(write_routing(config, "legacy"))

        def unfreeze_source(detail: dict) -> None:
            with connections.connection(source, command="rollback", autocommit=True) as src:
                engines.source_engine(config).unfreeze(src, config.source_schema, tables)
            # The new side stays frozen: its data now lives in the legacy schema again.
            control.set_phase(ctl, schema, "fallen_back")
            detail["unfrozen_at"] = time.time()

        actions = {
            "freeze_target": freeze_target,
            "reverse_build": reverse_build,
            "carry_back": carry_back,
            "verify": verify,
            "switch_back": switch_back,
            "unfreeze_source": unfreeze_source,
        }
        result.steps = runbook.run_steps(ctl, schema, "fallback", run_id, actions, done, on_step=on_step)
        details = runbook.step_details(ctl, schema, run_id)
        result.carried = details["carry_back"].get("carried", {})
        frozen_at, unfrozen_at = (
            details["freeze_target"].get("frozen_at"),
            details["unfreeze_source"].get("unfrozen_at"),
        )
        result.write_unavailable_seconds = unfrozen_at - frozen_at if frozen_at and unfrozen_at else None
        control.finish_run(
            ctl,
            schema,
            run_id,
            "succeeded",
            {"carried": result.carried, "write_unavailable_seconds": result.write_unavailable_seconds},
        )
        # A wave of a phased cutover still under way when the fallback was decided ends with it.
        ctl.execute(
            sql.SQL(
                "update {} set status = 'failed', finished_at = clock_timestamp(), detail = detail || %s where command = 'cutover' and status = 'running'"
            ).format(control.table(schema, "runs")),
            (json.dumps({"rolled_back": True, "fallback_run": run_id}),),
        )
    return result


def _fetch(dst: psycopg.Connection, src: psycopg.Connection, config: Config, table: TableConfig) -> list[str]:
    """Copy the reverse model's rows into a temp table `_fallback` on the source, typed like the
    legacy table; returns the legacy columns. Both sessions under capture.IMAGE_SETTINGS (see
    _image_sessions): the models compare before images with current rows in that text, and the
    copy's text reads back as the value it was written from."""
    columns = [c.name for c in postgres.columns(src, config.source_schema, table.name)]
    if not postgres.table_exists(
        dst, REVERSE_SCHEMA, dbt_contract.fallback_relation_name(table.name), kinds=("r", "v", "m")
    ):
        raise NoReverseModel(
            f"no reverse model for {table.name}: add models/fallback/{dbt_contract.fallback_relation_name(table.name)}.sql "
            f"(its legacy columns, {OP} and {COLUMNS}); nothing was written to the source"
        )
    src.execute("drop table if exists _fallback")
    src.execute(
        sql.SQL(
            # Typed like the legacy table, without its NOT NULLs: a delete's row carries only its key.
            "create temp table _fallback as select * from {} with no data; "
            "alter table _fallback add column {} char(1), add column {} text[]"
        ).format(postgres.qualified(config.source_schema, table.name), sql.Identifier(OP), sql.Identifier(COLUMNS))
    )
    names = postgres.column_list([*columns, OP, COLUMNS])
    with (
        dst.cursor().copy(sql.SQL("copy (select {} from {}) to stdout").format(names, reverse_relation(table))) as out,
        src.cursor().copy(sql.SQL("copy _fallback ({}) from stdin").format(names)) as into,
    ):
        for block in out:
            into.write(block)
    return columns


def _image_sessions(*sessions: psycopg.Connection) -> None:
    """capture.IMAGE_SETTINGS for the whole of these sessions (of this command's own)."""
    for conn in sessions:
        capture.use_image_settings(conn, local=False)
        conn.commit()


def _carry_back(config: Config, source: Database, target: Database) -> dict[str, dict[str, int]]:
    """Write every reverse row into the legacy schema in one transaction, past the freeze."""
    carried: dict[str, dict[str, int]] = {}
    with (
        connections.connection(target, command="rollback") as dst,
        connections.connection(source, command="rollback") as src,
    ):
        _image_sessions(dst, src)
        engines.source_engine(config).declare_writer(
            src
        )  # this transaction writes past the freeze, with the secret only the harness reads
        # Deletes children first (migration.yml's order reversed), then inserts and updates parents
        # first, each table's inserts before its updates (an update may point at a row born there):
        # declared foreign keys in the legacy schema hold after every statement.
        for table in reversed(config.tables):
            _fetch(dst, src, config, table)
            legacy = postgres.qualified(config.source_schema, table.name)
            carried[table.name] = {
                "deleted": src.execute(
                    sql.SQL("delete from {} t using _fallback f where f.{} = 'D' and {}").format(
                        legacy, sql.Identifier(OP), _match(table)
                    )
                ).rowcount
            }
        for table in config.tables:
            columns = _fetch(dst, src, config, table)
            legacy = postgres.qualified(config.source_schema, table.name)
            match = _match(table)
            others = [c for c in columns if c not in table.key]
            inserted = src.execute(
                sql.SQL(
                    "insert into {t} ({cols}) select {fcols} from _fallback f where f.{op} = 'I' and not exists (select 1 from {t} t where {match})"
                ).format(
                    t=legacy,
                    cols=postgres.column_list(columns),
                    fcols=sql.SQL(", ").join(sql.SQL("f.{}").format(sql.Identifier(c)) for c in columns),
                    op=sql.Identifier(OP),
                    match=match,
                )
            ).rowcount
            updated = src.execute(
                sql.SQL("update {t} t set {assign} from _fallback f where f.{op} <> 'D' and {match}").format(
                    t=legacy,
                    assign=sql.SQL(", ").join(
                        sql.SQL("{0} = case when {1} = any(f.{2}) then f.{0} else t.{0} end").format(
                            sql.Identifier(c), sql.Literal(c), sql.Identifier(COLUMNS)
                        )
                        for c in others
                    ),
                    op=sql.Identifier(OP),
                    match=match,
                )
            ).rowcount
            carried[table.name].update(inserted=inserted, updated=updated - inserted)
        src.commit()
    return carried


def _match(table: TableConfig) -> sql.Composable:
    return sql.SQL(" and ").join(sql.SQL("t.{0} = f.{0}").format(sql.Identifier(k)) for k in table.key)


def _verify(config: Config, source: Database, target: Database) -> dict[str, int]:
    """Every reverse row is in the source as written (its listed columns), every delete is gone."""
    verified: dict[str, int] = {}
    with (
        connections.connection(target, command="rollback verify") as dst,
        connections.connection(source, command="rollback verify") as src,
    ):
        _image_sessions(dst, src)
        for table in config.tables:
            columns = _fetch(dst, src, config, table)
            legacy = postgres.qualified(config.source_schema, table.name)
            match = sql.SQL(" and ").join(sql.SQL("t.{0} = f.{0}").format(sql.Identifier(k)) for k in table.key)
            total, wrong, sample = src.execute(
                sql.SQL(
                    """
                    select count(*), count(*) filter (where bad), (array_agg(key) filter (where bad))[1:3]
                    from (
                        select jsonb_build_object({key}) as key,
                               case when f.{op} = 'D' then t.ctid is not null
                                    else t.ctid is null or exists (
                                        select 1 from unnest(f.{cols}) c where {written} ->> c is distinct from {read} ->> c)
                               end as bad
                        from _fallback f left join {t} t on {match}
                    ) checked
                    """
                ).format(
                    key=sql.SQL(", ").join(
                        sql.SQL("{}, f.{}").format(sql.Literal(k), sql.Identifier(k)) for k in table.key
                    ),
                    op=sql.Identifier(OP),
                    cols=sql.Identifier(COLUMNS),
                    t=legacy,
                    match=match,
                    written=capture.text_image(sql.SQL("f"), columns),
                    read=capture.text_image(sql.SQL("t"), columns),
                )
            ).fetchone()
            src.rollback()
            if wrong:
                raise CheckFailed(
                    f"fallback verification failed: {wrong} of {total} carried rows of {table.name} differ in the source, e.g. {sample}; "
                    "the applications were not switched back: fix the reverse model and run migrate rollback again"
                )
            verified[table.name] = total
    return verified
