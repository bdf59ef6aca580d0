"""Runs dbt in-process through dbtRunner, one invocation at a time, against the target database.

dbt's own console log is off: its full log goes to logs/dbt.log, and the harness shows a progress
bar over the nodes (when not quiet) and names the failed nodes. So dbt's lines never interleave
with the harness's, and a Ctrl-C is the harness's one line, not dbt's stack trace.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.core.config import Config
from harness.core.connections import Database, dbt_environment
from harness.core.errors import DbtFailed
from harness.dbt import contract as dbt_contract


@dataclass(frozen=True)
class DbtOutcome:
    command: str
    succeeded: int
    failed: list[str]
    results: object  # dbt's own result object, for callers that need more


def has_models(project_dir: Path) -> bool:
    """Whether the project has a dbt layer yet: dbt_project.yml and a model in its model paths. Without
    one, load and sync fill landing and build nothing; there is no app to lag behind."""
    path = project_dir / "dbt_project.yml"
    if not path.exists():
        return False
    try:
        paths = (yaml.safe_load(path.read_text()) or {}).get("model-paths") or ["models"]
    except yaml.YAMLError:
        return True  # dbt says what is wrong with it
    return any(next((project_dir / folder).rglob("*.sql"), None) for folder in paths)


def run(
    config: Config,
    target: Database,
    args: list[str],
    *,
    quiet: bool = False,
    manifest: Any = None,
    listeners: Sequence[Callable[[Any], None]] = (),
) -> DbtOutcome:
    return invoke(
        config.project_dir,
        target,
        args,
        quiet=quiet,
        manifest=manifest,
        landing_schema=config.landing_schema,
        listeners=listeners,
    )


def environment(target: Database, landing_schema: str) -> dict[str, str]:
    """What the project reads from the environment: the target's connection (profiles/profiles.yml)
    and the landing schema (the sources, see harness/dbt/contract.py)."""
    return {**dbt_environment(target), dbt_contract.LANDING_SCHEMA_ENV: landing_schema}


def parse(config: Config, target: Database) -> Any:
    """The project parsed now, for one later invocation to start without reading it again
    (`run(..., manifest=)`); dbt changes the object as it runs, so it serves exactly once."""
    return run(config, target, ["parse"], quiet=True).results


def invoke(
    project_dir: Path,
    target: Database,
    args: list[str],
    *,
    quiet: bool = False,
    manifest: Any = None,
    landing_schema: str = dbt_contract.DEFAULT_LANDING_SCHEMA,
    listeners: Sequence[Callable[[Any], None]] = (),
) -> DbtOutcome:
    """dbt `args` on the project in `project_dir` (bench/bench_dbt_build.py times the harness's builds through this);
    `listeners` receive every event dbt fires, whatever its log level (harness/dbt/compiled_plan.py records
    the statements of a build with one)."""
    from dbt.cli.main import dbtRunner

    os.environ.update(environment(target, landing_schema))
    if command_needs_packages(args) and _packages_missing(project_dir):
        install_packages(project_dir)
    # No console log; the file log keeps dbt's own level (debug) unless the caller chose one: dbt
    # would otherwise apply --log-level none to the file too.
    logs = ["--log-level", "none", *([] if "--log-level-file" in args else ["--log-level-file", "debug"])]
    argv = [*args, *logs, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir / "profiles")]
    command = args[0]
    with _long_lived_objects_frozen(), _node_progress(f"dbt {command}", quiet) as callbacks:
        result = dbtRunner(manifest=manifest, callbacks=[*callbacks, *listeners]).invoke(argv)
    if isinstance(result.exception, KeyboardInterrupt):
        raise KeyboardInterrupt  # dbt cancelled its queries; the CLI says how to resume
    if result.exception is not None:
        first = str(result.exception).strip().splitlines()
        raise DbtFailed(f"dbt {command} could not run: {first[0] if first else result.exception}; see logs/dbt.log")
    failed = []
    succeeded = 0
    for node in getattr(result.result, "results", None) or []:
        status = str(getattr(node, "status", "")).lower()
        if status in ("error", "fail", "runtime error"):
            failed.append(node.node.unique_id)
        else:
            succeeded += 1
    if not result.success:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        details = "logs/dbt.log" if "--no-write-json" in args else "target/run_results.json"
        raise DbtFailed(f"dbt {command} failed on {len(failed)} node(s): {shown or 'see output'}; see {details}")
    return DbtOutcome(command, succeeded, failed, result.result)


def command_needs_packages(args: list[str]) -> bool:
    return bool(args) and args[0] not in ("deps", "clean", "debug")


def _packages_missing(project_dir: Path) -> bool:
    """A project with packages.yml (a migration using the kit as a package) whose dbt_packages/ is not there yet."""
    return (project_dir / "packages.yml").exists() and not (project_dir / "dbt_packages").exists()


def install_packages(project_dir: Path) -> None:
    """`dbt deps`: links the kit (a local package) into dbt_packages/; no network for a local package."""
    from dbt.cli.main import dbtRunner

    argv = [
        "deps",
        "--log-level",
        "none",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir / "profiles"),
    ]
    outcome = dbtRunner().invoke(argv)
    if not outcome.success:
        first = str(outcome.exception or "see logs/dbt.log").strip().splitlines()
        raise DbtFailed(
            f"dbt deps could not install the project's packages: {first[0] if first else ''}; check packages.yml"
        )


@contextlib.contextmanager
def _node_progress(description: str, quiet: bool) -> Iterator[list]:
    """dbt's event callbacks: a progress bar over the nodes, its total from dbt's own count."""
    if quiet:
        yield []
        return
    from harness.cli.ui import progress

    with progress(description) as bar:

        def on_event(event: Any) -> None:
            name = event.info.name
            if name == "ConcurrencyLine":
                bar.total(event.data.node_count)
            elif name == "NodeFinished":
                bar.advance(1)

        yield [on_event]


@contextlib.contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    """A dbt run allocates objects by the million; each full garbage collection during it would
    also walk every object alive before it (dbt's modules, its parsed project: ~200,000), 0.1-0.4 s
    a build that stops every thread. Frozen, they are left out until the run ends (gc.freeze)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
