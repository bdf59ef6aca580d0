"""Lifecycle step 1: assess the source before anything moves.

For whatever tables migration.yml lists, in whatever schema, this reads the source catalog
(columns, keys, indexes, triggers, sizes, privileges, settings), profiles every column inside the
database over the table or a random sample of it, proposes the relationships nobody declared,
times one range of each table copied by load's own code, measures transformation and hashing
throughput, and turns all of it into findings, estimates per strategy and a recommendation. It
returns an `Assessment`; report.py lays it out for reports.write. Nothing here prints, and nothing
is written to the source; in the target, the timed copies go to scratch schemas that are dropped
at the end. The SQL it runs is the engine's (engines/postgres/assess.py).

One module per job: model (the result's types), runner (the steps in order), catalog (the schema
inventory), mapping (coverage of the dbt mapping), profile (the data-quality profile), risks
(conversion and sensitive-data findings per column), relationships, timing (the load probe and
throughput), constraints (capture, privileges, triggers, settings), estimates and recommendation
(time per phase and strategy, the verdict), history (earlier estimates against real runs), report.
"""

from harness.assess.constraints import capture_paths, database_findings
from harness.assess.history import (
    compare_with_load,
    last_sync_build,
    latest_load_run,
    measured_window,
)
from harness.assess.model import (
    BLOCKING,
    INFO,
    REPORT_NAME,
    WARNING,
    Assessment,
    Finding,
)
from harness.assess.profile import DEFAULT_SAMPLE_ROWS
from harness.assess.relationships import reference_candidates
from harness.assess.report import assessment_html, assessment_markdown, wave_rows, write_report
from harness.assess.runner import LOAD_DEFAULTS, progress_units, run

__all__ = [
    "BLOCKING",
    "DEFAULT_SAMPLE_ROWS",
    "INFO",
    "LOAD_DEFAULTS",
    "REPORT_NAME",
    "WARNING",
    "Assessment",
    "Finding",
    "assessment_html",
    "assessment_markdown",
    "capture_paths",
    "compare_with_load",
    "database_findings",
    "last_sync_build",
    "latest_load_run",
    "measured_window",
    "progress_units",
    "reference_candidates",
    "run",
    "wave_rows",
    "write_report",
]
