"""Runbooks of named steps (cutover, fallback, load), each step recorded with its start, end, outcome.

A runbook killed at any point and started again resumes at the first step that did not succeed:
the steps that did are skipped, and the run is claimed by the process that resumes it. Each step
must therefore be safe to run again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.core import control
from harness.engines.base import Connection


@dataclass
class StepResult:
    name: str
    seconds: float
    detail: dict[str, Any]
    skipped: bool = False  # done by an earlier, interrupted run


def open_run(
    ctl: Connection, schema: str, command: str, detail: dict[str, Any] | None = None
) -> tuple[int, bool, set[str]]:
    """The unfinished run of this command if there is one (resumed), else a new one; and its done steps."""
    unfinished = control.unfinished_run(ctl, schema, command)
    run_id = unfinished if unfinished is not None else control.start_run(ctl, schema, command, detail)
    if unfinished is not None:
        control.claim_run(ctl, schema, run_id)
    return run_id, unfinished is not None, control.succeeded_steps(ctl, schema, run_id)


def run_steps(
    ctl: Connection,
    schema: str,
    command: str,
    run_id: int,
    steps: dict[str, Callable[[dict], None]],
    done: set[str],
    *,
    stop_before: str | None = None,
    on_step: Callable[[StepResult], None] | None = None,
) -> list[StepResult]:
    results = []
    for name, action in steps.items():
        if name == stop_before:
            break
        if name in done:
            results.append(StepResult(name, 0.0, {}, skipped=True))
            continue
        started = time.perf_counter()
        with control.step(ctl, schema, run_id, name) as detail:
            crash_here_if_asked(f"{command}:{name}")
            action(detail)
        results.append(StepResult(name, time.perf_counter() - started, detail))
        if on_step:
            on_step(results[-1])
    return results


def step_details(ctl: Connection, schema: str, run_id: int) -> dict[str, dict]:
    return control.step_details(ctl, schema, run_id)


def crash_here_if_asked(point: str) -> None:
    """A failpoint for the crash tests: MIGRATE_CRASH_AT=<command>:<step> kills this process with
    SIGKILL right after the step is recorded as started, exactly as an operator's kill -9 would."""
    if os.environ.get("MIGRATE_CRASH_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
