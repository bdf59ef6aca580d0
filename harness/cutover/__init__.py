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

The package, one role a module:
- strategy: which cutover runs now (the strategy's steps, for phased the wave) and its estimates;
- go_no_go: the gates the preflight step checks;
- steps: the runbook, one function per step over one run object, and `run`;
- verification: landing against the frozen source inside the window;
- new_side: the `app` tables readied for the applications (reverse capture, sequences);
- routing: the routing file the applications follow.
"""

from harness.cutover.go_no_go import CONTENT_LEVELS, Gate, GateFailed, content_reconciliation, gates, models_fingerprint
from harness.cutover.new_side import align_sequences, app_sources, app_table_names
from harness.cutover.routing import read_routing, write_routing
from harness.cutover.steps import CATCH_UP_LEVELS, STEP_FUNCTIONS, CutoverResult, CutoverRun, run
from harness.cutover.strategy import (
    BIG_BANG_STEPS,
    DONE_PHASES,
    PARTLY_SWITCHED,
    STEPS,
    SWITCHING,
    CutoverRefused,
    Plan,
    estimates,
    plan,
    steps_for,
    tables_of,
)

__all__ = [
    "BIG_BANG_STEPS",
    "CATCH_UP_LEVELS",
    "CONTENT_LEVELS",
    "DONE_PHASES",
    "PARTLY_SWITCHED",
    "STEPS",
    "STEP_FUNCTIONS",
    "SWITCHING",
    "CutoverRefused",
    "CutoverResult",
    "CutoverRun",
    "Gate",
    "GateFailed",
    "Plan",
    "align_sequences",
    "app_sources",
    "app_table_names",
    "content_reconciliation",
    "estimates",
    "gates",
    "models_fingerprint",
    "plan",
    "read_routing",
    "run",
    "steps_for",
    "tables_of",
    "write_routing",
]
