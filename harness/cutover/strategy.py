"""Which cutover runs now: the strategy's steps and, for phased, the wave and its tables."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from harness.core import connections, control
from harness.core.config import Config
from harness.core.connections import Database
from harness.core.errors import HarnessError

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


class CutoverRefused(HarnessError):
    """The cutover asked for cannot run in the state the migration is in (a usage error)."""


def estimates(config: Config, target: Database) -> dict[str, float]:
    """Each step's duration in the last successful rehearsal, else in the last cutover that ran it."""
    with connections.connection(target, command="cutover plan", autocommit=True) as conn:
        control.ensure(conn, config.control_schema)
        return control.step_seconds(conn, config.control_schema)


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
        return {
            "strategy": self.strategy,
            "tables": self.tables,
            **({"wave": self.wave, "waves": self.waves} if self.wave else {}),
        }


def _wave_label(config: Config, wave: int) -> str:
    tables = config.cutover.waves[wave - 1] if wave <= len(config.cutover.waves) else ()
    return f"wave {wave} ({', '.join(tables)})" if tables else f"wave {wave}"


def plan(config: Config, target: Database, wave: int | None = None) -> Plan:
    """The cutover to run: an interrupted one first, else the strategy's, for phased the wave
    asked for (or the next one). Refused, with the reason, when it cannot run."""
    strategy, waves = config.strategy, config.cutover.waves
    if wave is not None and strategy != "phased":
        raise CutoverRefused(
            f"--wave is for strategy phased; migration.yml has strategy {strategy}, whose cutover "
            "moves every table at once"
        )
    if wave is not None and not 1 <= wave <= len(waves):
        raise CutoverRefused(
            f"--wave {wave} is out of range: cutover.waves in migration.yml has {len(waves)} wave(s), "
            f"numbered 1 to {len(waves)}"
        )
    schema = config.control_schema
    with connections.connection(target, command="cutover plan", autocommit=True) as conn:
        control.ensure(conn, schema)
        under_way = control.running_cutover(conn, schema)
        done = control.waves_cut_over(conn, schema) if strategy == "phased" else {}
        state = control.state(conn, schema)
    steps = steps_for(strategy)
    all_tables = [t.name for t in config.tables]
    if under_way:
        run_id, detail = under_way
        was = detail.get("strategy", "parallel_run")  # runs from before strategies were recorded
        if was != strategy:
            raise CutoverRefused(
                f"cutover run {run_id} ({was}) is under way: finish it with strategy: {was} in migration.yml, "
                "or abort it with migrate rollback"
            )
        if strategy != "phased":
            return Plan(strategy, steps, all_tables, resumes_run=run_id)
        if wave not in (None, detail["wave"]):
            raise CutoverRefused(
                f"{_wave_label(config, detail['wave'])} is under way (cutover run {run_id}): finish it with migrate "
                f"cutover --wave {detail['wave']}, or abort it with migrate rollback"
            )
        # The tables it started with: a wave under way is finished as it began.
        return Plan(
            strategy,
            steps,
            list(detail["tables"]),
            detail["wave"],
            detail["waves"],
            sorted(done),
            tables_of(config, done),
            run_id,
        )
    if strategy == "phased" and wave in done:
        raise CutoverRefused(
            f"{_wave_label(config, wave)} is already cut over (cutover run {done[wave]}): nothing to do"
        )
    phase = state.phase if state else None
    if phase in DONE_PHASES:
        raise CutoverRefused(
            f"the migration is already {phase.replace('_', ' ')} (since "
            f"{state.changed_at:%Y-%m-%d %H:%M %Z}): nothing to cut over"
        )
    if phase == PARTLY_SWITCHED and strategy != "phased":
        raise CutoverRefused(
            "a phased cutover is half done (some waves are switched): set strategy: phased again and finish "
            "it with migrate cutover"
        )
    if strategy != "phased":
        return Plan(strategy, steps, all_tables)
    pending = [n for n in range(1, len(waves) + 1) if n not in done]
    if wave is None:
        wave = pending[0]  # not empty: with every wave done the phase is 'switched', refused above
    elif wave != pending[0]:
        raise CutoverRefused(
            f"wave {wave} comes after {_wave_label(config, pending[0])}, which is not cut over yet: "
            f"run migrate cutover --wave {pending[0]} first"
        )
    return Plan(strategy, steps, list(waves[wave - 1]), wave, len(waves), sorted(done), tables_of(config, done))


def tables_of(config: Config, waves: Collection[int]) -> list[str]:
    return [t for n in sorted(waves) for t in config.cutover.waves[n - 1]]
