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

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import dbt, engines
from harness.core import connections, control, processes, runbook
from harness.core.config import Config, TableConfig
from harness.core.connections import Database
from harness.core.errors import CheckFailed, HarnessError
from harness.core.runbook import StepResult
from harness.cutover import app_table_names, write_routing
from harness.dbt import contract as dbt_contract
from harness.engines.base import Connection
from harness.target import reverse
from harness.target.provision import APP_SCHEMA

REVERSE_SCHEMA, OP, COLUMNS = reverse.REVERSE_SCHEMA, reverse.OP, reverse.COLUMNS

# The carry-back's passes, (deletes, unreferenced), so that every constraint the legacy schema
# declares holds after each statement (PostgreSQL checks a foreign key at each statement's end and
# a unique key at each row, unless they are DEFERRABLE; InnoDB checks both at each row):
#   1. deletes, children first (migration.yml's order reversed), of the rows no declared foreign key
#      names: they free their unique values (an e-mail, a re-used key) before a write takes them;
#   2. inserts then updates, parents first: a new parent is there before a child names it, and an
#      update moves a child away from the parent it leaves;
#   3. the deletes left, children first: the parents no row names any more.
# What an engine can check once at the end it does (carry_back_begin/end: MySQL writes with
# foreign_key_checks off and checks the references by query; PostgreSQL defers its DEFERRABLE
# constraints). Only so is a parent deleted whose children moved to a new row that took its unique
# value written; against constraints checked at once it is refused in one line, nothing written.
PASSES = ((True, True), (False, False), (True, False))

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


reverse_relation = reverse.relation


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
    shared = dbt_contract.shared_fallback_relations(tables)
    if shared:  # before anything is frozen: the one reverse model's rows would be carried into each of them
        table, others = next(iter(shared.items()))
        alike = sorted([table, *others])  # in one order, whichever the catalog listed first
        raise NoReverseModel(
            f"{', '.join(alike[:-1])} and {alike[-1]} share the reverse model "
            f"{dbt_contract.FALLBACK_SCHEMA}.{dbt_contract.fallback_relation_name(table)} (the contract lower-cases "
            "the name), so a fallback cannot tell their rows apart: carry their changes back by hand; "
            "nothing was frozen or written"
        )
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
            # A run killed between the source's commit and the step's record left the counts it was
            # committing: when every reverse row is in the source as written, that commit happened,
            # and carrying back again would count its inserts and deletes as updates and nothing.
            earlier = runbook.step_details(ctl, schema, run_id).get("carry_back", {}).get("committing")
            if earlier is not None and _carried_already(config, source, target):
                result.carried = earlier
            else:

                def committing(carried: dict) -> None:
                    detail["committing"] = carried
                    control.record_step_detail(ctl, schema, run_id, "carry_back", detail)

                result.carried = _carry_back(config, source, target, committing=committing)
            detail.pop("committing", None)
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
        control.fail_running(ctl, schema, "cutover", {"rolled_back": True, "fallback_run": run_id})
    return result


def _legacy_columns(src: Connection, dst: Connection, config: Config, table: TableConfig) -> list[str]:
    """The legacy table's columns the reverse model carries, once it is known to exist and to carry
    every one it must (a landing column the legacy table lacks, such as MySQL's date companions, it
    may leave out)."""
    engine = engines.source_engine(config)
    described = engine.columns(src, config.source_schema, table.name)
    model = f"models/fallback/{dbt_contract.fallback_relation_name(table.name)}.sql"
    if not reverse.exists(dst, table):
        raise NoReverseModel(
            f"no reverse model for {table.name}: add {model} (its legacy columns, {OP} and {COLUMNS}); "
            "nothing was written to the source"
        )
    present = set(reverse.column_names(dst, table))
    missing = [c.name for c in described if c.name not in present and not engine.landing_only(c)]
    missing += [name for name in (OP, COLUMNS) if name not in present]
    if missing:
        raise NoReverseModel(
            f"the reverse model of {table.name} lacks {', '.join(missing)}: add them to {model}; "
            "nothing was written to the source"
        )
    return [c.name for c in described if c.name in present]


def _key(src: Connection, config: Config, table: TableConfig) -> list[str]:
    """The legacy table's key: migration.yml's, else its primary key (as the load described it)."""
    return list(table.key) or engines.source_engine(config).primary_key(src, config.source_schema, table.name)


def _image_sessions(config: Config, dst: Connection, src: Connection) -> None:
    """Both sessions read and write every value's text exactly: the models compare before images
    with current rows in that text, and the copy's text reads back as the value it was written from."""
    reverse.image_session(dst)
    engines.source_engine(config).image_session(src)


def _carry_back(
    config: Config, source: Database, target: Database, *, committing: Callable[[dict], None] | None = None
) -> dict[str, dict[str, int]]:
    """Write every reverse row into the legacy schema in one transaction, past the freeze; `committing`
    is told the counts before the source commits."""
    carried: dict[str, dict[str, int]] = {}
    engine = engines.source_engine(config)
    with (
        connections.connection(target, command="rollback") as dst,
        connections.connection(source, command="rollback") as src,
    ):
        _image_sessions(config, dst, src)
        engine.declare_writer(src)  # this transaction writes past the freeze, with the secret only the harness reads
        engine.carry_back_begin(src)
        for deletes, unreferenced in PASSES:
            for table in list(reversed(config.tables)) if deletes else config.tables:
                columns = _legacy_columns(src, dst, config, table)
                with reverse.rows(dst, table, columns) as rows:
                    counts = engine.carry_back(
                        src,
                        config.source_schema,
                        table.name,
                        _key(src, config, table),
                        columns,
                        rows,
                        deletes=deletes,
                        unreferenced=unreferenced,
                    )
                totals = carried.setdefault(table.name, {})
                for op, count in counts.items():
                    totals[op] = totals.get(op, 0) + count
        engine.carry_back_end(src, config.source_schema, carried)
        if committing:
            committing(carried)
        src.commit()
    return carried


def _carried_already(config: Config, source: Database, target: Database) -> bool:
    try:
        _verify(config, source, target)
    except CheckFailed:
        return False
    return True


def _verify(config: Config, source: Database, target: Database) -> dict[str, int]:
    """Every reverse row is in the source as written (its listed columns), every delete is gone."""
    verified: dict[str, int] = {}
    engine = engines.source_engine(config)
    with (
        connections.connection(target, command="rollback verify") as dst,
        connections.connection(source, command="rollback verify") as src,
    ):
        _image_sessions(config, dst, src)
        for table in config.tables:
            columns = _legacy_columns(src, dst, config, table)
            with reverse.rows(dst, table, columns) as rows:
                total, wrong, sample = engine.check_carried(
                    src, config.source_schema, table.name, _key(src, config, table), columns, rows
                )
            src.rollback()
            if wrong:
                raise CheckFailed(
                    f"fallback verification failed: {wrong} of {total} carried rows of {table.name} "
                    f"differ in the source, e.g. {sample}; "
                    "the applications were not switched back: fix the reverse model and run migrate rollback again"
                )
            verified[table.name] = total
    return verified
