"""What the harness does, in words, keyed by the names it records (steps, levels, criteria,
strategies): described here once for every document. A step these words do not know (one a newer
harness records) is still listed, under its own name."""

from __future__ import annotations

STRATEGY_WORDS = {
    "big_bang": "freeze the source first, then load, build, verify and switch in one window",
    "phased": "move the tables in waves, each loaded, verified and switched on its own",
    "parallel_run": "load once, keep both systems running while captured changes are synced continuously, "
    "and freeze only briefly at the cutover",
}

STEP_WORDS = {
    "preflight": "checks every gate (approvals, capture lag, a recent green reconciliation that compared content by "
    "checksums, a verified backup, "
    "a rehearsal of the current models); changes nothing",
    "catch_up": "syncs the captured changes and runs the incremental build while the legacy application still writes, "
    "compares every table on both sides at one snapshot by counts and segment checksums (stops here, nothing frozen, "
    "if they differ), "
    "then syncs and builds once more, so that the freeze only waits for what arrives during these seconds",
    "freeze_source": "a trigger on every listed source table refuses the writes of every session but the harness's own "
    "(it proves itself with a secret no application role can read); the legacy application's role "
    "(roles.legacy_app_role) loses its INSERT, UPDATE, DELETE and TRUNCATE grants on those tables until the "
    "source is unfrozen; waits for write transactions in flight, all tables in one transaction",
    "load": "copies every table whole from the frozen source into landing (a killed copy resumes)",
    "build": "the full `dbt build --full-refresh` over that copy (models and tests)",
    "final_sync": "syncs the changes captured up to the freeze, until a batch finds none",
    "final_build": "the incremental sync build (`dbt build` of the models the last changes touch, and their tests)",
    "final_verification": "every row changed since catch_up's reconciliation compared with the source by the checksums "
    "level's row hash, which carries its counts and checksums forward (after a whole load: exact "
    "counts, and every row by segment checksums)",
    "reverse_capture": (
        "after the final build, installs capture triggers with before images on the target's app tables: from here on "
        "only the new application writes them, and every row it changes can be carried back by a fallback"
    ),
    "align_sequences": "moves every identity and serial sequence of the target above its largest value",
    "switch": "runs the switch command of migration.yml and writes the routing file the applications follow",
    "source_read_only": "records the switch and the end of the rollback window (the source stays frozen until then), "
    "then counts every table on both sides again",
}

# Which owner role (migration.yml `owners`) carries each step; the first role present is used.
STEP_OWNERS = {
    "preflight": ("migration_lead",),
    "catch_up": ("migration_lead",),
    "freeze_source": ("dba",),
    "load": ("migration_lead",),
    "build": ("migration_lead",),
    "final_sync": ("migration_lead",),
    "final_build": ("migration_lead",),
    "final_verification": ("migration_lead",),
    "reverse_capture": ("dba",),
    "align_sequences": ("dba",),
    "switch": ("dba",),
    "source_read_only": ("dba",),
}

ROLLBACK_COMMAND = "migrate rollback --role ROLE --decided-by NAME --reason TEXT"

GO_NO_GO = {
    "preflight": "go only when every gate passes; otherwise the cutover is refused and nothing is changed",
    "final_verification": "go only when counts and changed rows equal the source; otherwise the cutover stops before "
    f"the switch and a decider unfreezes the source with `{ROLLBACK_COMMAND}`",
    "switch": f"last point to abort with `{ROLLBACK_COMMAND}`: after the switch the new application writes, "
    "and a rollback is a fallback (rollback.md)",
}

FALLBACK_STEP_WORDS = {
    "freeze_target": "a trigger on every app table of the target refuses the new application's writes (waits for the "
    "write transactions in flight); the phase becomes falling_back",
    "reverse_build": "`dbt build --select tag:fallback`: the reverse models turn every row the new application changed "
    "since the switch into legacy rows, and their tests run",
    "carry_back": (
        "writes those rows into the legacy tables, still frozen for everyone else (the harness's session passes the "
        "freeze with its secret), in one transaction, parents first: deletes, updates of the listed columns only, "
        "inserts of the rows born in the new system"
    ),
    "verify": (
        "compares every carried row with the legacy table (the columns it listed) and checks that every delete is gone"
    ),
    "switch_back": (
        "runs the switch-back command of migration.yml, if any, and writes the routing file back to the legacy system"
    ),
    "unfreeze_source": (
        "unfreezes the legacy tables: the legacy application writes again; the phase becomes fallen_back and the new "
        "side stays frozen"
    ),
}

FALLBACK_STEP_OWNERS = {
    "freeze_target": ("dba",),
    "reverse_build": ("migration_lead",),
    "carry_back": ("dba",),
    "verify": ("migration_lead",),
    "switch_back": ("dba",),
    "unfreeze_source": ("dba",),
}

FALLBACK_GO_NO_GO = {
    "reverse_build": "a failing model or test stops here: nothing has been written to the legacy schema",
    "verify": "go only when every carried row is in the legacy schema as written; otherwise the applications are not "
    "switched back: fix the reverse model and run the same `migrate rollback` again, which resumes",
}

DECOMMISSION_STEP_WORDS = {
    "archive_backup": "a final archive of the source (pg_dump) with its manifest: size, sha256, row counts",
    "verify_archive": (
        "the archive restored into a scratch database and checked against its manifest; the scratch database dropped"
    ),
    "remove_capture": (
        "the capture triggers, the change log and the harness's schema leave the source, and the reverse capture the "
        "target's app tables, so no fallback is possible any more; guards of their own keep the legacy tables read-only"
    ),
    "complete": "the phase becomes decommissioned: the migration is complete",
}

LEVEL_WORDS = {
    "counts": (
        "no row lost or added between source and landing, and every source row accounted for: "
        "source rows = migrated + merged + quarantined",
        "exact equality, per table",
    ),
    "checksums": (
        "every row of landing equals its source row, value for value (the mask applied)",
        "every key segment's hash equal; any differing row is located and fails the check",
    ),
    "sample": (
        "the migrated values are what the mapping metadata says they should be",
        "every compared value equal on a random sample of up to {sample_size:,} rows per table",
    ),
    "rules": (
        "the dbt tests pass and the business figures of both sides agree",
        "every dbt test passes; each business rule's figures equal per group (within its tolerance)",
    ),
    "performance": (
        "the target answers the application's queries fast enough",
        "each query's 95th percentile under its limit",
    ),
    "smoke": (
        "the target works for the application: queries and commands give the expected results",
        "each check's expected value, row count or exit code",
    ),
}

# What each kind of rollback criterion (migration.yml rollback.criteria) recommends a rollback on.
CRITERION_WORDS = {
    "verification": (
        "the newest reconciliation since the switch failed (before any, the cutover's final verification counts)"
    ),
    "data_loss": (
        "the newest reconciliation since the switch that compared rows (counts, checksums, sample) found a row missing "
        "or different"
    ),
    "metric": "a figure measured on the target is outside its limit",
    "latency": (
        "the application's queries (reconcile.performance_queries), timed now on the target, are slower than their "
        "limit"
    ),
    "manual": "a decider signs off stage rollback after the switch: "
    "`migrate approve --stage rollback --role ROLE --name NAME --note WHY`",
}

MISSING = {
    "assessment": "No assessment has run yet (`migrate assess` writes reports/assessment/<time>/assessment.json).",
    "reconcile": "No reconciliation has run yet (`migrate reconcile`).",
    "rehearsal": "No rehearsal has run yet (`migrate rehearse`).",
    "cutover": "No cutover has run yet.",
    "load": "Nothing has been loaded yet (`migrate load`).",
    "approvals": "No approval has been recorded yet (`migrate approve --role ROLE --name NAME --stage STAGE`).",
    "rollback_check": "No evaluation of the rollback criteria has been recorded yet (`migrate rollback --check`).",
    "fallback": "No fallback has run on this migration.",
    "decommission": "Not decommissioned yet (`migrate decommission`, after the rollback window).",
}


def step_words(step: str, words: dict[str, str], command: str) -> str:
    """A step in words; a step these words do not know, by its own name."""
    return words.get(step) or f"the step {step.replace('_', ' ')} of `{command}`"
