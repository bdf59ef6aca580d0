"""From the measured tables to estimates per phase and per strategy, the recommended strategy,
the findings about the strategy migration.yml chooses, and the verdict."""

from __future__ import annotations

import dataclasses

from harness.assess import estimates
from harness.assess.model import (
    BLOCKING,
    INFO,
    WARNING,
    Finding,
    Relationship,
    TableAssessment,
)
from harness.core.config import Config


def table_work(tables: list[TableAssessment]) -> list[estimates.TableWork]:
    """What each measured table's timing says the load, build and validation will have to do."""
    return [
        estimates.TableWork(
            t.name,
            t.rows,
            t.timing.get("copy_rows", 0),
            t.timing.get("copy_seconds", 0.0),
            t.timing.get("transform_rows", 0),
            t.timing.get("transform_seconds", 0.0),
            t.timing.get("hash_rows", 0),
            t.timing.get("hash_seconds", 0.0),
            t.changes_per_second,
            t.timing.get("ranges", 1),
            t.timing.get("key_seconds", 0.0),
            t.timing.get("analyze_seconds", 0.0),
        )
        for t in tables
        if t.exists and t.can_select
    ]


def read_only_caveat(phases: estimates.Phases, tables: list[TableAssessment]) -> estimates.Phases:
    """The initial load's estimate, saying which tables' target writes were not timed."""
    read_only = [t.name for t in tables if t.timing and not t.timing["as_load"]]
    if not read_only:
        return phases
    load_estimate = phases.initial_load
    return dataclasses.replace(
        phases,
        initial_load=dataclasses.replace(
            load_estimate,
            how=f"{load_estimate.how}; for {', '.join(read_only)} only reading the source was timed "
            "(see its timing notes), so its share is too low",
        ),
    )


def wave_plan(
    config: Config, tables: list[TableAssessment], relationships: list[Relationship]
) -> tuple[list[list[str]], str]:
    """The waves a phased cutover will run, and where they come from."""
    if config.cutover.waves:
        return [list(w) for w in config.cutover.waves], "migration.yml cutover.waves"
    links = [(r.child_table, r.parent_table) for r in relationships if r.likely or r.declared]
    return estimates.waves([t.name for t in tables if t.exists], links), "related tables grouped"


def strategy_findings(
    config: Config,
    options: list[estimates.StrategyEstimate],
    limit_seconds: float | None,
    capture: dict,
    findings: list[Finding],
) -> None:
    by_name = {s.name: s for s in options}
    chosen = by_name.get(config.strategy)
    if chosen is None:
        return
    label = estimates.STRATEGY_LABELS[config.strategy]
    if chosen.missing:
        findings.append(
            Finding(
                BLOCKING,
                "privileges" if "capture" in chosen.missing[0] else "keys",
                f"migration.yml chooses {label}, which needs " + "; ".join(chosen.missing),
                "grant the missing privileges or change the settings, or choose another strategy in migration.yml",
            )
        )
    elif capture["missing"] and config.strategy != "parallel_run":
        findings.append(
            Finding(
                INFO, "privileges", "a parallel run is not possible as configured: " + "; ".join(capture["missing"])
            )
        )
    if limit_seconds is not None and chosen.within_limit is False:
        fitting = [s for s in options if s.possible and s.within_limit]
        fix = (
            f"change strategy to {fitting[0].name} in migration.yml"
            if fitting
            else "no strategy fits: negotiate a longer window or speed up the load (bigger machine, parallel copy)"
        )
        findings.append(
            Finding(
                BLOCKING,
                "downtime",
                f"{label} needs about {estimates.format_duration(chosen.downtime_seconds)} of downtime, "
                f"over the {estimates.format_duration(limit_seconds)} limit in migration.yml",
                fix,
            )
        )


def verdict(findings: list[Finding], recommendation: estimates.Recommendation) -> dict:
    blocking = [f for f in findings if f.severity == BLOCKING]
    warnings = [f for f in findings if f.severity == WARNING]
    if blocking:
        status, label = "blocked", "Blocked"
        headline = f"{len(blocking)} problem(s) must be fixed before the migration can start"
    elif warnings:
        status, label = "ready_with_risks", "Ready with risks"
        headline = f"{len(warnings)} warning(s) to handle in the mapping or the plan"
    else:
        status, label = "ready", "Ready"
        headline = "no blocking problem and no warning"
    if recommendation.strategy:
        headline += f"; recommended strategy: {estimates.STRATEGY_LABELS[recommendation.strategy]}"
    return {
        "status": status,
        "label": label,
        "headline": f"{label}: {headline}",
        "blocking": len(blocking),
        "warnings": len(warnings),
        "info": len(findings) - len(blocking) - len(warnings),
    }
