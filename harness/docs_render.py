"""The migration documents, rendered from the documents' JSON model (harness.docs) alone.

Each document is laid out once as blocks (headings, paragraphs, lists, tables) by a
function of the facts; Markdown and a self-contained HTML page are two renderings of the same
blocks (the reconciliation report's Block and style, harness.reports' Markdown Document), so they
cannot disagree. Where a fact does not exist yet the documents say so in words, and which command
creates it; they never print a placeholder.

What the harness itself does (the steps of the cutover, the fallback and the decommission, the
reconciliation levels, the rollback criteria's kinds, the strategies) is described here once, in
words, keyed by the names the harness records; a step these words do not know (one a newer
harness records) is still listed, under its own name.
"""
from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from harness import reports
from harness.estimates import STRATEGY_LABELS, format_duration
from harness.profiling import mask_card_numbers
from harness.reconcile_report import STYLE, Block

# --- what the harness does, in words ----------------------------------------------------------

STRATEGY_WORDS = {
    "big_bang": "freeze the source first, then load, build, verify and switch in one window",
    "phased": "move the tables in waves, each loaded, verified and switched on its own",
    "parallel_run": "load once, keep both systems running while captured changes are synced continuously, "
                    "and freeze only briefly at the cutover",
}

STEP_WORDS = {
    "preflight": "checks every gate (approvals, capture lag, a recent green reconciliation that compared content by checksums, a verified backup, "
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
    "reverse_capture": "after the final build, installs capture triggers with before images on the target's app tables: "
                       "from here on only the new application writes them, and every row it changes can be carried back "
                       "by a fallback",
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
    "carry_back": "writes those rows into the legacy tables, still frozen for everyone else (the harness's session passes "
                  "the freeze with its secret), in one transaction, parents "
                  "first: deletes, updates of the listed columns only, inserts of the rows born in the new system",
    "verify": "compares every carried row with the legacy table (the columns it listed) and checks that every delete is gone",
    "switch_back": "runs the switch-back command of migration.yml, if any, and writes the routing file back to the legacy system",
    "unfreeze_source": "unfreezes the legacy tables: the legacy application writes again; the phase becomes fallen_back "
                       "and the new side stays frozen",
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
    "verify_archive": "the archive restored into a scratch database and checked against its manifest; the scratch database dropped",
    "remove_capture": "the capture triggers, the change log and the harness's schema leave the source, and the reverse capture "
                      "the target's app tables, so no fallback is possible any more; guards of their own keep the legacy tables read-only",
    "complete": "the phase becomes decommissioned: the migration is complete",
}

LEVEL_WORDS = {
    "counts": ("no row lost or added between source and landing, and every source row accounted for: "
               "source rows = migrated + merged + quarantined",
               "exact equality, per table"),
    "checksums": ("every row of landing equals its source row, value for value (the mask applied)",
                  "every key segment's hash equal; any differing row is located and fails the check"),
    "sample": ("the migrated values are what the mapping metadata says they should be",
               "every compared value equal on a random sample of up to {sample_size:,} rows per table"),
    "rules": ("the dbt tests pass and the business figures of both sides agree",
              "every dbt test passes; each business rule's figures equal per group (within its tolerance)"),
    "performance": ("the target answers the application's queries fast enough",
                    "each query's 95th percentile under its limit"),
    "smoke": ("the target works for the application: queries and commands give the expected results",
              "each check's expected value, row count or exit code"),
}

# What each kind of rollback criterion (migration.yml rollback.criteria) recommends a rollback on.
CRITERION_WORDS = {
    "verification": "the newest reconciliation since the switch failed (before any, the cutover's final verification counts)",
    "data_loss": "the newest reconciliation since the switch that compared rows (counts, checksums, sample) found a row "
                 "missing or different",
    "metric": "a figure measured on the target is outside its limit",
    "latency": "the application's queries (reconcile.performance_queries), timed now on the target, are slower than their limit",
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


# --- formatting -------------------------------------------------------------------------------


def when(iso: str | None, missing: str = "not recorded") -> str:
    if not iso:
        return missing
    try:
        moment = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None, missing: str = "not measured") -> str:
    return missing if seconds is None else format_duration(seconds)


def count(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    text = str(value)
    return f"{int(text):,}" if re.fullmatch(r"-?\d+", text) else text


def dbt_command(which: str) -> str:
    """run_results.json's `which` as the command a reader types: generate → docs generate."""
    return {"generate": "docs generate", "serve": "docs serve"}.get(which, which)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def owner(settings: dict, roles: tuple[str, ...]) -> str:
    """'dba (Platform DBA)': the first of the roles migration.yml names, else its migration lead."""
    owners = settings["owners"]
    for role in (*roles, "migration_lead"):
        if role in owners:
            return f"{role} ({owners[role]})"
    if owners:
        role = next(iter(owners))
        return f"{role} ({owners[role]})"
    return "no owner named in migration.yml (owners)"


def all_owners(settings: dict) -> str:
    return ", ".join(f"{role} ({team})" for role, team in settings["owners"].items()) or "the migration team (migration.yml names no owners)"


# --- blocks -----------------------------------------------------------------------------------


def heading(text: str, level: int = 2) -> Block:
    return Block("heading", text, level=level)


def paragraph(text: str) -> Block:
    return Block("paragraph", text)


def bullets(items: list[str]) -> Block:
    return Block("bullets", list(items))


def numbered(items: list[str]) -> Block:
    return Block("numbered", list(items))


def table(headers: tuple[str, ...], rows: list[list[Any]], align: str | None = None) -> Block:
    return Block("table", [[count(c) for c in row] for row in rows], headers=headers, align=align or "l" * len(headers))


@dataclass(frozen=True)
class Doc:
    name: str  # file stem
    title: str
    summary: str  # one line for the index
    blocks: list[Block]


# --- shared sections --------------------------------------------------------------------------


def provenance(f: dict) -> Block:
    return paragraph(
        f"Generated {when(f['generated_at'])} by `migrate docs` from the control schema `{f['target']['control_schema']}` of "
        f"{f['target']['database']}, the latest assessment (reports/assessment/latest), the dbt artifacts and migration.yml. "
        f"Source: {f['source']['database']}, schema `{f['source']['schema']}`; landing schema `{f['target']['landing_schema']}`. "
        "Run `migrate docs` again to bring every document up to date."
    )


def standing(f: dict) -> str:
    """Where the migration stands, in one sentence."""
    phase, load, sync = f.get("phase"), f.get("load"), f.get("sync")
    if phase and phase["phase"] == "decommissioned":
        return (f"Decommissioned at {when(phase['changed_at'])}: the migration is complete; the legacy schema stays read-only "
                "and no fallback is possible any more.")
    if phase and phase["phase"] == "fallen_back":
        return (f"Fell back at {when(phase['changed_at'])}: the new application's changes were carried back and the applications "
                "write to the legacy system again; the new side stays frozen.")
    if phase and phase["phase"] == "falling_back":
        return (f"A fallback has been under way since {when(phase['changed_at'])}: the new side is frozen; the same "
                "`migrate rollback` resumes it.")
    if phase and phase["phase"] == "switching":
        return (f"A cutover has been switching the applications to the new system since {when(phase['changed_at'])}: they may "
                "already write there, so `migrate cutover` finishes it and `migrate rollback` can only fall back.")
    if phase and phase["phase"] == "switched":
        ends = phase["rollback_window_ends"]
        text = f"Switched at {when(phase['switched_at'])}: the applications write to the new system; "
        if ends and ends <= f["generated_at"]:
            return text + f"the rollback window ended at {when(ends)}: `migrate decommission` is next."
        return text + f"the source stays read-only until {when(ends)} (the rollback window)."
    if phase and phase["phase"] not in ("frozen", "syncing"):
        return f"In phase {phase['phase'].replace('_', ' ')} since {when(phase['changed_at'])} (`migrate status` tells the next step)."
    if phase and phase["phase"] == "frozen":
        return f"The source is frozen for a cutover since {when(phase['changed_at'])}."
    if phase and phase["phase"] == "syncing":
        return f"A cutover was rolled back before the switch at {when(phase['changed_at'])}; captured changes are synced again."
    if load is None:
        return MISSING["load"]
    if load["status"] != "succeeded":
        return f"The initial load {load['load_id']} is {load['status']}: running `migrate load` again resumes it."
    text = f"Loaded ({count(load['rows_copied'])} rows, load {load['load_id']} finished {when(load['finished_at'])})"
    if sync and sync["changes_applied"]:
        text += f"; {plural(sync['changes_applied'], 'captured change')} synced since, the last batch at {when(sync['applied_at'])}"
    elif sync:
        text += f"; no captured change since (last sync {when(sync['applied_at'])})"
    return text + "."


def approvals_section(f: dict) -> list[Block]:
    blocks = [heading("Sign-off")]
    approvals = f["approvals"]
    required = f["settings"]["cutover"]["required_approvals"]
    owners = f["settings"]["owners"]
    if approvals:
        blocks.append(paragraph("Who approved what, when and from which account (control table `approvals`; one sign-off stands "
                                "per stage and role, until `migrate approve --revoke` withdraws it):"))
        blocks.append(table(("stage", "role", "owner", "approved by", "approved at", "run by", "note"),
                            [[a["stage"], a["role"], owners.get(a["role"], "not in migration.yml"), a["name"], when(a["approved_at"]),
                              f"{a.get('os_user') or '?'}@{a.get('host') or '?'}",
                              (a["note"] or "") + (f" (revoked {when(a['revoked_at'])} by {a['revoked_by']})" if a.get("revoked_at") else "")]
                             for a in approvals]))
    else:
        blocks.append(paragraph(MISSING["approvals"]))
    if required:
        given = {a["role"] for a in approvals if a["stage"] == "cutover" and not a.get("revoked_at")}
        missing = [r for r in required if r not in given]
        blocks.append(paragraph(f"The cutover needs the approval of {', '.join(required)} (migration.yml cutover.required_approvals): "
                                + ("all recorded." if not missing else f"missing {', '.join(missing)}.")))
    else:
        blocks.append(paragraph("migration.yml requires no approval before the cutover (cutover.required_approvals is empty)."))
    return blocks


def _latest_cutover_approvals(f: dict) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for a in f["approvals"]:
        if a["stage"] == "cutover" and not a.get("revoked_at"):
            latest[a["role"]] = a
    return latest


def _rehearsal_step(f: dict, name: str) -> float | None:
    rehearsal = f.get("rehearsal")
    for s in (rehearsal or {}).get("steps") or []:
        if s["step"] == name and s["status"] == "succeeded":
            return s["seconds"]
    return None


def _cutover_step(f: dict, name: str) -> dict | None:
    run = f["cutover"]["last_run"]
    return next((s for s in (run or {}).get("steps") or [] if s["step"] == name), None)


def _level_summary(level: str, facts: dict | None) -> str:
    if facts is None:
        return f"{level}: not run yet"
    verdicts: dict[str, int] = {}
    for check in facts["checks"]:
        verdicts[check["verdict"]] = verdicts.get(check["verdict"], 0) + 1
    tally = ", ".join(f"{n} {verdict}" for verdict, n in sorted(verdicts.items())) or "no checks"
    return f"{level} {facts['verdict']} in reconciliation #{facts['reconcile_id']} at {when(facts['finished_at'])} ({tally})"


# --- the plan ---------------------------------------------------------------------------------


def plan(f: dict) -> Doc:
    s, a = f["settings"], f["assessment"]
    blocks = [heading(f"Migration plan: {f['migration']}", 1), provenance(f), paragraph(f"**Where it stands:** {standing(f)}")]
    blocks += _scope(f)
    blocks += _assessment_summary(a)
    blocks += _strategy(s, a)
    blocks += _timeline(f)
    blocks += _risks(a)
    blocks += _quality(f)
    blocks += _history(f)
    blocks += approvals_section(f)
    return Doc("plan", "Migration plan", "scope, assessment, strategy, timeline, risks, quality criteria and their evidence", blocks)


def _scope(f: dict) -> list[Block]:
    a, load = f["assessment"], f["load"]
    assessed = {t["name"]: t for t in (a or {}).get("tables") or []}
    loaded = {t["name"]: t for t in (load or {}).get("tables") or []}
    rows = []
    for t in f["settings"]["tables"]:
        at = assessed.get(t["name"])
        rows.append([
            t["name"], ", ".join(t["key"]) or "primary key of the source",
            ", ".join(f"{c} ({m})" for c, m in t["masks"].items()) or "none",
            ("does not exist" if not at["exists"] else count(at["rows"]) + ("" if at["rows_exact"] else " (estimate)")) if at else "not assessed",
            count(loaded[t["name"]]["rows"]) if t["name"] in loaded else "not loaded",
        ])
    blocks = [heading("Scope"),
              paragraph(f"{len(rows)} legacy tables of schema `{f['source']['schema']}`, listed in migration.yml:"),
              table(("legacy table", "key", "masked columns", "rows at the assessment", "rows copied by the load"), rows, "lllrr")]
    facts = []
    if a:
        facts.append(f"{count(sum(t['rows'] or 0 for t in a['tables'] if t['exists']))} rows at the assessment of {when(a['assessed_at'])}.")
    else:
        facts.append(MISSING["assessment"])
    if load:
        facts.append(f"Load {load['load_id']} ({load['status']}) copied {count(load['rows_copied'] or 0)} rows"
                     + (f" in {duration(load['seconds'])}, finished {when(load['finished_at'])}." if load["finished_at"] else "."))
    else:
        facts.append(MISSING["load"])
    dbt = f["dbt"]
    if dbt["available"]:
        targets = [m for m in dbt["models"] if m["is_target"]]
        facts.append(f"The target: {len(targets)} tables built by dbt models: " + (", ".join(m["relation"] for m in targets) or "none yet") + ".")
    else:
        facts.append(f"No target models: {dbt['reason']}.")
    blocks.append(bullets(facts))
    return blocks


def _assessment_summary(a: dict | None) -> list[Block]:
    blocks = [heading("Assessment")]
    if a is None:
        return blocks + [paragraph(MISSING["assessment"])]
    verdict = a["verdict"]
    blocks.append(paragraph(f"Assessed {when(a['assessed_at'])}: **{verdict.get('headline') or verdict.get('status') or 'no verdict recorded'}.** "
                            f"Findings: {a['findings']['blocking']} blocking, {a['findings']['warning']} warnings, {a['findings']['info']} notes "
                            "(reports/assessment/latest/assessment.md has them all)."))
    limit = a.get("downtime_limit_minutes")
    rows = [[STRATEGY_LABELS.get(x["name"], x["name"]), duration(x["downtime_seconds"]), duration(x["total_seconds"]),
             "no limit set" if x["within_limit"] is None else ("yes" if x["within_limit"] else "no"),
             "yes" if x["possible"] else "no: " + "; ".join(x.get("missing") or [])] for x in a["strategies"]]
    if rows:
        blocks.append(table(("strategy", "downtime", "total duration", f"within the limit ({duration(limit * 60) if limit else 'none set'})",
                             "possible"), rows, "lrrll"))
    return blocks


def _strategy(s: dict, a: dict | None) -> list[Block]:
    chosen = s["strategy"]
    blocks = [heading("Strategy"),
              paragraph(f"migration.yml chooses **{STRATEGY_LABELS.get(chosen, chosen)}**: {STRATEGY_WORDS.get(chosen, chosen)}.")]
    recommendation = (a or {}).get("recommendation") or {}
    if a is None:
        blocks.append(paragraph("No assessment has recommended a strategy yet (`migrate assess`)."))
    elif recommendation.get("strategy"):
        recommended = recommendation["strategy"]
        agree = "agrees" if recommended == chosen else "differs"
        label = STRATEGY_LABELS.get(recommended, recommended)
        blocks.append(paragraph(f"The assessment of {when(a['assessed_at'])} recommends **{label}** (the choice {agree}), because:"))
        blocks.append(bullets(recommendation.get("reasons") or ["the assessment gave no reason"]))
    else:
        reasons = recommendation.get("reasons") or ["no table could be measured"]
        blocks.append(paragraph("The assessment could not recommend a strategy: " + "; ".join(reasons) + "."))
    if chosen == "phased" and s["cutover"]["waves"]:
        blocks.append(paragraph("Waves (migration.yml cutover.waves):"))
        blocks.append(numbered([", ".join(w) for w in s["cutover"]["waves"]]))
    capture = s["capture"]
    how = "triggers on the source tables" if capture["method"] == "trigger" else f"the timestamp column {capture['column']}"
    blocks.append(paragraph(f"Change capture: {how}."))
    return blocks


def _timeline(f: dict) -> list[Block]:
    a, run = f["assessment"], f["cutover"]["last_run"]
    estimates = (a or {}).get("estimates") or {}

    def estimate(key: str) -> str:
        if a is None:
            return "not assessed"
        return duration((estimates.get(key) or {}).get("seconds"), "not estimated")

    def rehearsed(*steps: str) -> str:
        if f.get("rehearsal") is None:
            return "not rehearsed yet"
        found = [x for x in (_rehearsal_step(f, s) for s in steps) if x is not None]
        return duration(sum(found)) if found else "not reached in the rehearsal"

    def real_step(name: str) -> str:
        step = _cutover_step(f, name)
        return duration(step["seconds"], step["status"]) if step else "not run yet"

    unavailable = ((run or {}).get("detail") or {}).get("write_unavailable_seconds")
    steps = f["cutover"]["steps"]
    frozen = steps[steps.index("freeze_source"):steps.index("switch")] if {"freeze_source", "switch"} <= set(steps) else []
    fallbacks = f["fallback"]["runs"]
    fell_back = fallbacks[-1]["detail"].get("write_unavailable_seconds") if fallbacks else None
    rows = [
        ["initial load", estimate("initial_load"), rehearsed("load"), _real_load(f["load"])],
        ["dbt build", estimate("build"), rehearsed("build"), _real_build(f["dbt"])],
        ["validation (reconcile)", estimate("validation"), rehearsed("reconcile"), _real_reconcile(f["reconcile"]["runs"])],
        ["final sync", estimate("final_sync"), rehearsed("final_sync"), real_step("final_sync")],
        ["freeze to switch (writes unavailable)", estimate("freeze"), rehearsed(*frozen),
         duration(unavailable) if unavailable is not None else ("not run yet" if run is None else "not measured")],
        ["rollback before the switch (abort)", "not estimated by the assessment", rehearsed("rollback"),
         plural(len(f["rollbacks"]), "abort") + " run" if f["rollbacks"] else "none run"],
        ["fallback after the switch (writes unavailable)", "not estimated by the assessment",
         "not rehearsed: the rehearsal stops before the switch",
         (duration(fell_back) + f" (fallback run {fallbacks[-1]['run_id']})" if fell_back is not None else "not measured")
         if fallbacks else "none run"],
    ]
    blocks = [heading("Timeline"),
              paragraph("Each phase as the assessment estimated it, as the last rehearsal measured it on disposable copies, and as it "
                        "really took. The rehearsal stops before the switch, so its freeze figure covers the steps up to it."),
              table(("phase", "estimated", "last rehearsal", "real"), rows, "lrrr")]
    planned = sum(f["cutover"]["estimates"].get(step, 0.0) for step in f["cutover"]["steps"])
    unmeasured = [step for step in f["cutover"]["steps"] if step not in f["cutover"]["estimates"]]
    if not f["cutover"]["estimates"]:
        blocks.append(paragraph("The cutover runbook's steps (runbook.md) are not measured yet: `migrate rehearse` measures them."))
    else:
        blocks.append(paragraph(f"The cutover runbook (runbook.md) plans {duration(planned)} for its measured steps"
                                + (f"; not measured yet: {', '.join(unmeasured)}." if unmeasured else ".")))
    return blocks


def _real_load(load: dict | None) -> str:
    return f"{duration(load['seconds'], load['status'])} (load {load['load_id']})" if load else "not run yet"


def _real_build(dbt: dict) -> str:
    results = (dbt.get("run_results") or {}) if dbt["available"] else {}
    which = results.get("which")
    if which in ("build", "run"):
        return f"{duration(results.get('elapsed_seconds'))} (dbt {which} at {when(results['generated_at'])})"
    if which:
        return f"not recorded: target/run_results.json holds a later dbt {dbt_command(which)}"
    return "not run yet"


def _real_reconcile(runs: list[dict]) -> str:
    last = next((r for r in runs if r["finished_at"]), None)
    if last is None:
        return "not run yet"
    seconds = (datetime.fromisoformat(last["finished_at"]) - datetime.fromisoformat(last["started_at"])).total_seconds()
    return f"{duration(seconds)} (reconciliation #{last['reconcile_id']})"


def _risks(a: dict | None) -> list[Block]:
    blocks = [heading("Risks and mitigations")]
    if a is None:
        return blocks + [paragraph("No assessment has run yet, so no risk has been measured (`migrate assess`).")]
    if not a["risks"]:
        return blocks + [paragraph(f"The assessment of {when(a['assessed_at'])} found no blocking problem and no warning.")]
    blocks.append(paragraph(f"Every blocking problem and warning of the assessment of {when(a['assessed_at'])}, with its fix:"))
    blocks.append(table(("severity", "area", "risk", "mitigation"),
                        [[r["severity"], r["area"], r["message"], r["fix"] or "no fix recorded: decide it in the mapping"] for r in a["risks"]]))
    return blocks


def _from_levels(f: dict, names: tuple[str, ...]) -> tuple[str, str]:
    """Evidence and state from the latest run of each reconciliation level named."""
    found = [f["reconcile"]["levels"].get(n) for n in names]
    ran = [x for x in found if x]
    if not ran:
        return "No reconciliation has run yet.", "not checked yet"
    evidence = "; ".join(_level_summary(n, x) for n, x in zip(names, found))
    if any(x["verdict"] == "failed" for x in ran):
        return evidence, "not met"
    return evidence, "met" if len(ran) == len(names) and all(x["verdict"] == "passed" for x in ran) else "partly checked"


def _data_loss(f: dict) -> dict[str, str]:
    evidence, state = _from_levels(f, ("counts", "checksums"))
    verification = _cutover_step(f, "final_verification")
    if verification:
        compared = (verification.get("detail") or {}).get("changed_rows_compared")
        evidence += f"; cutover run {f['cutover']['last_run']['run_id']}: final verification {verification['status']}"
        evidence += f", {count(compared)} changed rows compared" if isinstance(compared, int) else ""
        state = "not met" if verification["status"] == "failed" else state
    return {"criterion": "Zero data loss, every row accounted for",
            "how": "`migrate reconcile` levels counts (source = landing; source rows = migrated + merged + quarantined) and "
                   "checksums (every row compared), as of one source snapshot; at cutover the final verification",
            "evidence": evidence, "state": state}


def _integrity(f: dict) -> dict[str, str]:
    dbt = f["dbt"]
    targets = [m for m in dbt.get("models", []) if m["is_target"]]
    foreign = sum(m["constraints"].get("foreign key", 0) for m in targets)
    relationship_tests = [t for t in dbt.get("tests", []) if t["kind"] == "relationships"]
    failing = [t for t in dbt.get("tests", []) if t["last"] and t["last"]["status"] in ("fail", "error")]
    parts = [f"{plural(foreign, 'foreign key')} declared in the target database on {plural(len(targets), 'target table')}"]
    if relationship_tests:
        passed = sum(1 for t in relationship_tests if t["last"] and t["last"]["status"] == "pass")
        parts.append(f"{passed} of {plural(len(relationship_tests), 'relationships test')} passed at their last run")
    if failing:
        parts.append(f"{plural(len(failing), 'dbt test')} failing: {', '.join(t['name'] for t in failing[:5])}")
    if not targets:
        state = "not checked yet"
    elif failing:
        state = "not met"
    else:
        state = "met" if foreign or relationship_tests else "not checked: no foreign key is declared"
    return {"criterion": "Referential integrity",
            "how": "foreign keys declared in the target (enforced dbt contracts), so the database refuses an orphan on every "
                   "write; dbt relationships tests",
            "evidence": "; ".join(parts) + ".", "state": state}


def _mapping_checked(f: dict) -> dict[str, str]:
    evidence, state = _from_levels(f, ("sample", "rules"))
    return {"criterion": "The mapping does what it says",
            "how": "`migrate reconcile` levels sample (app rows against the mapping's expected values) and rules (dbt tests, "
                   "business-rule figures of both sides)",
            "evidence": evidence, "state": state}


def _performance(f: dict) -> dict[str, str]:
    queries = f["settings"]["reconcile"]["performance_queries"]
    if queries:
        evidence, state = _from_levels(f, ("performance",))
        limits = ", ".join(f"{q['name']} p95 ≤ {q['p95_ms']:g} ms over {q['runs']} runs" for q in queries)
    else:
        evidence = "migration.yml names no performance query (reconcile.performance_queries), so target performance is not checked."
        state, limits = "not checked: no query defined", "each query of reconcile.performance_queries timed against its p95 limit"
    return {"criterion": "Performance", "how": f"`migrate reconcile --level performance`: {limits}", "evidence": evidence, "state": state}


def _rollback_tested(f: dict) -> dict[str, str]:
    rehearsal = f.get("rehearsal")
    if rehearsal is None:
        evidence, state = MISSING["rehearsal"], "not checked yet"
    else:
        rollback_seconds = _rehearsal_step(f, "rollback")
        evidence = f"rehearsal {rehearsal['rehearsal_id']} {rehearsal['status']} at {when(rehearsal['finished_at'] or rehearsal['started_at'])}"
        evidence += f", in {duration(rehearsal['seconds'])}" if rehearsal["seconds"] is not None else ""
        evidence += f"; rollback took {duration(rollback_seconds)}" if rollback_seconds is not None else "; the rollback was not reached"
        evidence += "; the reconciliation after it passed" if _rehearsal_step(f, "verify_after_rollback") is not None else ""
        evidence += "; it rehearsed the current models" if rehearsal.get("current_models") else "; the models changed since"
        state = "met" if rehearsal["status"] == "succeeded" and rehearsal.get("current_models") else "not met"
    return {"criterion": "Rollback tested",
            "how": "`migrate rehearse`: backup, restore, load, build, sync, reconcile, cutover to the switch, rollback (the abort "
                   "before the switch) and a second reconciliation, on disposable copies; the fallback after the switch is not rehearsed",
            "evidence": evidence, "state": state}


def _approved(f: dict) -> dict[str, str]:
    required = f["settings"]["cutover"]["required_approvals"]
    latest = _latest_cutover_approvals(f)
    if required:
        evidence = "; ".join(f"{r}: {latest[r]['name']} at {when(latest[r]['approved_at'])}" if r in latest else f"{r}: not yet"
                             for r in required)
        state = "met" if all(r in latest for r in required) else "not met"
    else:
        evidence, state = "migration.yml requires no approval (cutover.required_approvals is empty).", "met"
    return {"criterion": "Approvals", "how": "`migrate approve`; the cutover refuses to start without the approvals migration.yml requires",
            "evidence": evidence, "state": state}


CRITERIA = (_data_loss, _integrity, _mapping_checked, _performance, _rollback_tested, _approved)


def quality_criteria(f: dict) -> list[dict[str, str]]:
    """Each quality criterion: how it is checked, its latest evidence, and whether it is met."""
    return [criterion(f) for criterion in CRITERIA]


def _quality(f: dict) -> list[Block]:
    rows = [[c["criterion"], c["how"], c["evidence"], c["state"]] for c in quality_criteria(f)]
    return [heading("Quality criteria"),
            paragraph("How each criterion is checked, and its latest evidence from the control schema and the dbt artifacts:"),
            table(("criterion", "how it is checked", "latest evidence", "state"), rows)]


def _history(f: dict) -> list[Block]:
    events: list[tuple[str, str]] = []
    a = f["assessment"]
    if a:
        events.append((a["assessed_at"], f"assessment: {a['verdict'].get('headline') or 'done'}"))
    if f["load"]:
        load = f["load"]
        events.append((load["started_at"], f"load {load['load_id']} started"))
        if load["finished_at"]:
            events.append((load["finished_at"], f"load {load['load_id']} {load['status']}: {count(load['rows_copied'] or 0)} rows"))
    for b in f["backups"]:
        events.append((b["taken_at"], f"{b['side']} backup {b['backup_id']}: {count(b['rows'])} rows"
                       + (f", verified by a restore into {b['verified_into']}" if b["verified_at"] else ", not verified yet")))
    for r in f["reconcile"]["runs"]:
        events.append((r["finished_at"] or r["started_at"], f"reconciliation #{r['reconcile_id']} {r['status']} ({', '.join(r['levels'])})"))
    rehearsal = f.get("rehearsal")
    if rehearsal:
        events.append((rehearsal["finished_at"] or rehearsal["started_at"], f"rehearsal {rehearsal['rehearsal_id']} {rehearsal['status']}"))
    for x in f["approvals"]:
        events.append((x["approved_at"], f"{x['name']} ({x['role']}) approved {x['stage']}"))
    run = f["cutover"]["last_run"]
    if run:
        events.append((run["started_at"], f"cutover run {run['run_id']} started"))
        if run["finished_at"]:
            events.append((run["finished_at"], f"cutover run {run['run_id']} {run['status']}"))
    for r in f["rollbacks"]:
        detail = r["detail"] or {}
        who, why = detail.get("decided_by") or "someone not recorded", detail.get("reason") or "no reason recorded"
        events.append((r["started_at"], f"rollback decided by {who}: {why}"))
    for r in f["fallback"]["runs"]:
        detail = r["detail"] or {}
        who, why = detail.get("decided_by") or "someone not recorded", detail.get("reason") or "no reason recorded"
        events.append((r["started_at"], f"fallback run {r['run_id']} decided by {who}: {why}"))
        if r["finished_at"]:
            events.append((r["finished_at"], f"fallback run {r['run_id']} {r['status']}: {_carried_total(r['carried'])}"))
    check = f["rollback_checks"]["last_run"]
    if check:
        met = (check["detail"] or {}).get("met") or []
        events.append((check["started_at"], f"rollback criteria checked (the last of {plural(f['rollback_checks']['evaluations'], 'evaluation')}): "
                       + (f"met: {', '.join(met)}" if met else "none met")))
    done = f["decommission"]["last_run"]
    if done:
        events.append((done["finished_at"] or done["started_at"], f"decommission run {done['run_id']} {done['status']}"))
    events.sort(key=lambda e: e[0] or "")
    blocks = [heading("History")]
    if not events:
        return blocks + [paragraph("Nothing has been recorded yet: the history starts with `migrate assess` and `migrate load`.")]
    return blocks + [table(("when", "what"), [[when(at), what] for at, what in events])]


# --- the cutover runbook ----------------------------------------------------------------------


def planned_starts(steps: list[str], estimates: dict[str, float]) -> list[tuple[str, float | None, float, list[str]]]:
    """(step, measured duration, planned start = the measured durations before it, unmeasured steps before it)."""
    start, unmeasured, result = 0.0, [], []
    for step in steps:
        seconds = estimates.get(step)
        result.append((step, seconds, start, list(unmeasured)))
        if seconds is None:
            unmeasured.append(step)
        else:
            start += seconds
    return result


def runbook(f: dict) -> Doc:
    s = f["settings"]
    c = s["cutover"]
    steps = f["cutover"]["steps"]
    estimates = f["cutover"]["estimates"]
    blocks = [heading(f"Cutover runbook: {f['migration']}", 1), provenance(f), paragraph(f"**Where it stands:** {standing(f)}"),
              paragraph(f"Strategy {STRATEGY_LABELS.get(s['strategy'], s['strategy'])}. `migrate cutover` runs the steps below in order and "
                        "records each one's start, end and outcome; run again after an interruption, it resumes at the first step that did "
                        "not succeed. Durations are those of the last rehearsal (else of the last cutover); T is the moment preflight starts.")]
    blocks += _gates_section(f)

    approvers = ", ".join(owner(s, (r,)) for r in c["required_approvals"]) or "nobody: migration.yml requires no approval"
    rows = [["0", "sign-off", approvers, "before T", "", "each required role approves the cutover stage", "go only with every approval"]]
    for i, (step, seconds, start, before) in enumerate(planned_starts(steps, estimates), start=1):
        planned = f"T+{duration(start)}" + (f" plus {', '.join(before)}" if before else "")
        rows.append([str(i), step, owner(s, STEP_OWNERS.get(step, ())), planned, duration(seconds, "not measured yet"),
                     step_words(step, STEP_WORDS, "migrate cutover"), GO_NO_GO.get(step, "")])
    blocks += [heading("Steps"), table(("#", "step", "owner", "planned start", "duration", "what it does", "go / no-go"), rows, "rllrrll")]
    measured, complete = write_window(f)
    if measured is not None:
        blocks.append(paragraph(f"Writes are unavailable from freeze_source to the switch: {duration(measured)} measured"
                                + ("" if complete else ", plus the steps not measured yet") + "."))

    blocks += [heading("Commands"), numbered([
        "`migrate status`: load finished, capture running, lag low, the next step named.",
        "`migrate reconcile`: a green reconciliation with the checksums level (counts alone do not open the gate) no older than "
        f"{c['reconcile_max_age_minutes']:g} minutes.",
        "`migrate backup --side source`, then `migrate restore --into SCRATCH_DB`: a verified source backup no older than "
        f"{c['backup_max_age_hours']:g} hours.",
        *([f"`migrate approve --role {r} --name NAME --stage cutover`, by {owner(s, (r,))}." for r in c["required_approvals"]]),
        "`migrate cutover --dry-run`: the go / no-go; prints every gate and the planned durations and changes nothing.",
        "`migrate cutover`: the steps above; after an interruption, the same command resumes.",
        "`migrate status` and `migrate reconcile`: the state after the switch.",
        f"To abort before the switch, a decider ({_deciders(s)}): `{ROLLBACK_COMMAND}` (rollback.md).",
    ])]
    blocks += _after_switch(f)
    blocks += _communication(f)
    blocks += _actual(f)
    blocks += approvals_section(f)
    return Doc("runbook", "Cutover runbook", "the cutover's steps with owners, planned start, measured durations, go / no-go points, "
               "commands, what follows the switch and communication; the last cutover's real timeline", blocks)


def _deciders(settings: dict) -> str:
    return ", ".join(settings["rollback"]["deciders"]) or "none named in migration.yml rollback.deciders"


def _window(f: dict) -> str:
    """When the rollback window ends: the recorded moment, else its length after the switch."""
    phase = f.get("phase") or {}
    hours = f"{f['settings']['cutover']['rollback_window_hours']:g} hours"
    if phase.get("rollback_window_ends"):
        return f"{when(phase['rollback_window_ends'])} ({hours} after the switch)"
    return f"{hours} after the switch (migration.yml cutover.rollback_window_hours)"


def _after_switch(f: dict) -> list[Block]:
    s = f["settings"]
    required = s["decommission"]["required_approvals"]
    return [heading("After the switch"), numbered([
        f"The rollback window: the source stays read-only until {_window(f)}; a fallback is possible until the decommission.",
        "`migrate rollback --check`, during the window: evaluates the rollback criteria of migration.yml against the new system "
        "and records the evaluation; exit 1 when one is met, which recommends a rollback (rollback.md lists the criteria with "
        "their latest evaluation).",
        f"If a decider ({_deciders(s)}) decides to go back: `{ROLLBACK_COMMAND}` falls back, carrying the new application's "
        "changes into the legacy schema before switching the applications back (rollback.md, the fallback step by step).",
        "When the window has ended: "
        + (f"`migrate approve --stage decommission --role ROLE --name NAME` by {', '.join(owner(s, (r,)) for r in required)}, then " if required else "")
        + "`migrate decommission`: a final verified archive of the source, capture removed, the legacy schema left read-only "
        "(rollback.md, decommission).",
    ])]


def write_window(f: dict) -> tuple[float | None, bool]:
    """The measured time from the freeze to the switch (None when no step of it is measured), and
    whether every step of it is measured."""
    steps, estimates = f["cutover"]["steps"], f["cutover"]["estimates"]
    if "freeze_source" not in steps or "switch" not in steps:
        return None, False
    window = [estimates.get(x) for x in steps[steps.index("freeze_source"):steps.index("switch") + 1]]
    measured = [x for x in window if x is not None]
    return (sum(measured) if measured else None), len(measured) == len(window)


def gate_thresholds(settings: dict) -> dict[str, str]:
    c = settings["cutover"]
    return {
        "approvals": f"approvals of the cutover by {', '.join(c['required_approvals'])}" if c["required_approvals"] else "none required",
        "reconcile": f"a green reconciliation with the checksums level no older than {c['reconcile_max_age_minutes']:g} minutes",
        "backup": f"a verified source backup no older than {c['backup_max_age_hours']:g} hours",
        "rehearsal": "a successful rehearsal of the current models" if c["require_rehearsal"] else "not required by migration.yml",
        "capture_lag": f"capture lag at most {c['max_lag_seconds']:g} s",
    }


def _gates_section(f: dict) -> list[Block]:
    gates = f["gates"]
    thresholds = gate_thresholds(f["settings"])
    blocks = [heading("Go / no-go gates")]
    if gates["error"]:
        return blocks + [paragraph(f"The gates could not be checked at {when(gates['checked_at'])}: {gates['error']}.")]
    rows = [[g["name"], thresholds.get(g["name"], g["name"]), "pass" if g["passed"] else "FAIL", g["reason"]] for g in gates["gates"]]
    failed = [g["name"] for g in gates["gates"] if not g["passed"]]
    return blocks + [
        paragraph(f"Checked at {when(gates['checked_at'])}, as `migrate cutover --dry-run` checks them: "
                  + (f"the cutover would be refused ({', '.join(failed)})." if failed else "every gate passes.")),
        table(("gate", "threshold (migration.yml)", "state", "why"), rows),
    ]


def _communication(f: dict) -> list[Block]:
    s = f["settings"]
    c = s["cutover"]
    lead = owner(s, ("migration_lead",))
    dba = owner(s, STEP_OWNERS["switch"])
    legacy_users, new_users = _users(s, "legacy_app_role", "legacy"), _users(s, "app_role", "new")
    measured, _ = write_window(f)
    expected = f"about {duration(measured)} as measured" if measured is not None else "not measured yet (`migrate rehearse` measures it)"
    rows = [
        ["when the window is agreed", lead, f"{all_owners(s)}; {legacy_users}",
         f"the window, the write unavailability ({expected}), the rollback criteria (rollback.md)"],
        ["go / no-go (preflight)", lead, ", ".join(owner(s, (r,)) for r in c["required_approvals"]) or all_owners(s),
         "the state of every gate (`migrate cutover --dry-run`) and the decision"],
        ["freeze_source", dba, legacy_users, "writes are refused from now until the switch"],
        ["final_verification passed", lead, owner(s, ("business_owner",)), "row counts and changed rows verified; last point to abort"],
        ["switch", dba, f"{all_owners(s)}; {new_users}",
         f"the new system is live; the source stays read-only for {c['rollback_window_hours']:g} hours"],
        ["a failure or a rollback", lead, all_owners(s), "what failed, who decided and why, when writes resume on the source"],
        ["a fallback (after the switch)", lead, f"{all_owners(s)}; {new_users}; {legacy_users}",
         "who decided and why; writes are refused from freeze_target until unfreeze_source, then the legacy application writes again"],
        [f"end of the rollback window ({c['rollback_window_hours']:g} h after the switch)", lead, all_owners(s),
         "the rollback window is closed; `migrate decommission` is next"],
    ]
    return [heading("Communication plan"), table(("when", "who tells", "whom", "what"), rows)]


def _users(settings: dict, role: str, which: str) -> str:
    name = settings["roles"].get(role)
    return f"users of the {which} application" + (f" (database role {name})" if name else "")


def _actual(f: dict) -> list[Block]:
    run = f["cutover"]["last_run"]
    blocks = [heading("Last cutover: planned against real")]
    if run is None:
        return blocks + [paragraph(MISSING["cutover"] + " The real timeline appears here after `migrate cutover`.")]
    estimates = f["cutover"]["estimates"]
    done = {s["step"]: s for s in run["steps"]}
    rows = []
    for step, seconds, start, _ in planned_starts(f["cutover"]["steps"], estimates):
        real = done.get(step)
        if real is None:
            rows.append([step, f"T+{duration(start)}", duration(seconds, "not measured"), "not reached", "", ""])
            continue
        difference = (f"{round(real['seconds'] - seconds, 1) + 0.0:+.1f} s" if seconds is not None and real["seconds"] is not None else "")
        rows.append([step, f"T+{duration(start)}", duration(seconds, "not measured"), when(real["started_at"]),
                     duration(real["seconds"], real["status"]) + ("" if real["status"] == "succeeded" else f" ({real['status']})"), difference])
    detail = run["detail"] or {}
    text = f"Cutover run {run['run_id']} {run['status']}, started {when(run['started_at'])}"
    text += f", finished {when(run['finished_at'])}" if run["finished_at"] else ""
    if detail.get("write_unavailable_seconds") is not None:
        text += f"; writes were unavailable for {duration(detail['write_unavailable_seconds'])}"
    if detail.get("rolled_back"):
        text += f"; rolled back, decided by {detail.get('decided_by') or 'someone not recorded'}: {detail.get('reason') or 'no reason recorded'}"
    return blocks + [paragraph(text + "."),
                     table(("step", "planned start", "planned duration", "real start", "real duration", "difference"), rows, "lrrlrr")]


# --- rollback ---------------------------------------------------------------------------------


def rollback(f: dict) -> Doc:
    blocks = [heading(f"Rollback procedures: {f['migration']}", 1), provenance(f), paragraph(f"**Where it stands:** {standing(f)}")]
    blocks += _rollback_criteria(f)
    blocks += _decision_authority(f)
    blocks += _rollback_commands(f)
    blocks += _abort_procedure(f)
    blocks += _fallback_procedure(f)
    blocks += _reverse_models(f)
    blocks += _decommission(f)
    blocks += _rollback_durations(f)
    blocks += _rollbacks_so_far(f)
    blocks += approvals_section(f)
    return Doc("rollback", "Rollback procedures", "the criteria with their latest evaluation, the decision authority, the commands, "
               "the abort and the fallback step by step with the reverse models, the decommission, the measured durations, "
               "the rollbacks and fallbacks so far", blocks)


def criterion_limit(criterion: dict, settings: dict) -> str:
    """What a rollback criterion is held against, from migration.yml."""
    kind = criterion["kind"]
    if kind == "metric":
        low, high = criterion["min"], criterion["max"]
        bounds = (f"between {low:g} and {high:g}" if low is not None and high is not None
                  else f"≤ {high:g}" if high is not None else f"≥ {low:g}")
        measured = f"the last line of `{criterion['command']}`" if criterion["command"] else "its SQL on the target"
        return f"{bounds}, measured by {measured}"
    if kind == "latency":
        queries = settings["reconcile"]["performance_queries"]
        return "p95 ≤ " + ", ".join(f"{q['p95_ms']:g} ms ({q['name']})" for q in queries) if queries else "no query defined"
    if kind == "manual":
        return f"a rollback sign-off by {' or '.join(settings['rollback']['deciders']) or 'a decider'}"
    if kind == "verification":
        return "the newest verification passes"
    if kind == "data_loss":
        return "no row missing or different"
    return kind


def _evaluation(check: dict | None) -> str:
    if check is None:
        return "not evaluated yet"
    state = f"**{check['state']}**" if check["state"] == "met" else check["state"]
    text = f"{state}: {check['figure'] or 'no figure'}" + (f" ({check['detail']})" if check["detail"] else "")
    return f"{text}; check run {check['run_id']} at {when(check['checked_at'])}"


def _rollback_criteria(f: dict) -> list[Block]:
    s = f["settings"]
    criteria, checks = s["rollback"]["criteria"], f["rollback_checks"]
    latest = {x["criterion"]: x for x in checks["latest"]}
    rows = [[x["name"], x["kind"], CRITERION_WORDS.get(x["kind"], x["kind"]), criterion_limit(x, s), _evaluation(latest.get(x["name"]))]
            for x in criteria]
    blocks = [heading("When to roll back"),
              paragraph("The rollback criteria of migration.yml (`rollback.criteria`, else the harness's defaults; a manual decision is "
                        "always among them). They look back to the switch. `migrate rollback --check` evaluates each one now, records "
                        "the evaluation in the control schema (`runs`, `rollback_checks`) and changes nothing else; it exits 1 when one "
                        "is met, which recommends a rollback. Deciding stays with the decision authority below."),
              table(("criterion", "kind", "met when", "limit (migration.yml)", "latest evaluation"), rows)]
    last = checks["last_run"]
    if last is None:
        blocks.append(paragraph(MISSING["rollback_check"]))
    else:
        detail = last["detail"] or {}
        met = detail.get("met") or []
        blocks.append(paragraph(
            f"Last evaluation: check run {last['run_id']} at {when(last['started_at'])}"
            + (f", {detail['since']}" if detail.get("since") else "") + (f", in phase {detail['phase']}" if detail.get("phase") else "")
            + ": " + (f"met: {', '.join(met)}" if met else "no criterion met")
            + f" ({plural(checks['evaluations'], 'evaluation')} recorded in all)."))
    gone = sorted(set(latest) - {x["name"] for x in criteria})
    if gone:
        blocks.append(paragraph(f"Evaluated before, no longer in migration.yml: {', '.join(gone)}."))
    blocks.append(paragraph("Before the switch, `migrate cutover` stops by itself when a gate or its final verification fails, and the "
                            "decision authority can abort at any step up to the switch (a step that fails and cannot be resumed, the "
                            "window over-run)."))
    blocks.append(paragraph(f"The rollback window: after the switch the source stays read-only until {_window(f)}."))
    return blocks


def _decision_authority(f: dict) -> list[Block]:
    s = f["settings"]
    deciders = s["rollback"]["deciders"]
    blocks = [heading("Decision authority")]
    if not s["owners"]:
        return blocks + [paragraph("migration.yml names no owners: name them under `owners` and list the deciders under "
                                   "`rollback.deciders`, so that someone holds this decision.")]
    carries: dict[str, list[str]] = {}
    for step in f["fallback"]["steps"]:
        carries.setdefault(owner(s, FALLBACK_STEP_OWNERS.get(step, ())).split(" ", 1)[0], []).append(step)
    rows = []
    for role, team in s["owners"].items():
        parts = (["decides (rollback.deciders)"] if role in deciders else []) + (
            [f"carries out the fallback's {', '.join(carries[role])}"] if role in carries else [])
        rows.append([role, team, "; ".join(parts) or "is informed"])
    if deciders:
        blocks.append(paragraph(f"Only a decider decides a rollback: `migrate rollback` is refused unless `--role` names one of "
                                f"{', '.join(deciders)} (migration.yml rollback.deciders); who decided (`--decided-by`) and why "
                                "(`--reason`) are recorded with the run in the control schema."))
    else:
        blocks.append(paragraph("migration.yml names no decider (rollback.deciders), so every rollback is refused: list the owner "
                                "roles that decide under rollback.deciders."))
    blocks.append(table(("role", "owner (migration.yml)", "part"), rows))
    signed = [a for a in f["approvals"] if a["stage"] == "rollback"]
    if signed:
        blocks.append(paragraph("Recorded sign-offs of stage rollback (before the switch they approve this procedure; after it, a "
                                "decider's sign-off meets the manual criterion): "
                                + "; ".join(f"{a['name']} ({a['role']}) at {when(a['approved_at'])}" + (f": {a['note']}" if a["note"] else "")
                                            for a in signed) + "."))
    return blocks


def _rollback_commands(f: dict) -> list[Block]:
    s = f["settings"]
    return [heading("Commands"), numbered([
        "`migrate rollback --check`: evaluates every criterion above now and records it; exit 1 when one is met (a rollback is "
        "recommended), 0 when none is; changes nothing else.",
        "`migrate approve --stage rollback --role ROLE --name NAME --note WHY`: a decider's decision on record (the manual criterion).",
        f"`{ROLLBACK_COMMAND}`, ROLE one of {_deciders(s)}: before the switch aborts the cutover, after it falls back; "
        "interrupted, the same command resumes.",
        "`migrate status`: the phase (syncing after an abort, fallen_back after a fallback).",
    ])]


def _abort_procedure(f: dict) -> list[Block]:
    tables = ", ".join(t["name"] for t in f["settings"]["tables"])
    return [heading("Before the switch: abort the cutover"), numbered([
        "The decision authority decides, against the criteria above.",
        f"`{ROLLBACK_COMMAND}`: unfreezes the source tables ({tables}), removes the reverse capture from the target tables, "
        "sets the phase back to syncing, and records the decision; change capture keeps running, so nothing written before, "
        "during or after is lost.",
        "`migrate status`: the source is writable again and the lag is low.",
        "`migrate reconcile`: source, landing and target agree again.",
        "Tell everyone (runbook.md, communication plan); to try again, fix the cause, `migrate rehearse`, approve again and run `migrate cutover`.",
    ])]


def _fallback_procedure(f: dict) -> list[Block]:
    s = f["settings"]
    c = s["cutover"]
    last = f["fallback"]["runs"][-1] if f["fallback"]["runs"] else None
    measured = {x["step"]: x for x in (last or {}).get("steps") or []}
    rows = []
    for i, step in enumerate(f["fallback"]["steps"], start=1):
        done = measured.get(step)
        rows.append([str(i), step, owner(s, FALLBACK_STEP_OWNERS.get(step, ())), step_words(step, FALLBACK_STEP_WORDS, "migrate rollback"),
                     FALLBACK_GO_NO_GO.get(step, ""),
                     duration(done["seconds"], done["status"]) + ("" if done["status"] == "succeeded" else f" ({done['status']})")
                     if done else "not run yet"])
    switch_back = c["switch_back_command"]
    blocks = [heading("After the switch: the fallback"),
              paragraph("Once the applications are switched, `migrate rollback` falls back: every row the new application changed "
                        "since the switch (logged with its before image by the cutover's reverse_capture) is turned into legacy form "
                        "by the reverse models and written into the legacy schema, which stays frozen for everyone else until the "
                        "end. Like the cutover it is a runbook of recorded steps (control tables `runs`, command fallback, and "
                        "`steps`): killed and run again it resumes at the first step that did not succeed, and carrying back twice "
                        "writes the same rows. Writes are unavailable from freeze_target to unfreeze_source."),
              table(("#", "step", "owner", "what it does", "go / no-go", "last fallback"), rows, "rlllll"),
              paragraph((f"The switch-back command of migration.yml: `{switch_back}`." if switch_back else
                         "migration.yml names no switch-back command (cutover.switch_back_command): the switch back writes only "
                         f"the routing file {c['routing_file']}.")
                        + " After the fallback the phase is fallen_back: the legacy application writes the legacy schema again, "
                        "the new side stays frozen, and a second `migrate rollback` is refused.")]
    return blocks


def _reverse_models(f: dict) -> list[Block]:
    reverse, dbt = f["fallback"], f["dbt"]
    blocks = [heading("The reverse models", 3)]
    if not dbt["available"]:
        return blocks + [paragraph(f"The reverse models cannot be listed: {dbt['reason']}.")]
    blocks.append(paragraph("For each legacy table the fallback reads one relation, built by `dbt build --select tag:fallback`: the "
                            "legacy columns, `_fallback_op` (I for a row born in the new system, U, D) and `_fallback_columns` (the "
                            "legacy columns to write); only those columns are written."))
    models = {m["name"]: m for m in dbt["models"]}
    rows = [[x["table"], x["relation"], x["file"] or "", "built by the model " + x["model"] if x["model"] else
             f"missing: the fallback stops before writing anything; add a model {x['relation'].split('.', 1)[1]} (schema "
             f"{x['relation'].split('.', 1)[0]}, tag fallback)"] for x in reverse["tables"]]
    blocks.append(table(("legacy table", "reverse relation", "file", "state"), rows))
    others = [models[name] for name in reverse["models"] if name in models and name not in {x["model"] for x in reverse["tables"]}]
    if others:
        blocks.append(paragraph("Built with them:"))
        blocks.append(table(("model", "file", "purpose"),
                            [[_named(m["name"], m["link"]), m["file"], m["description"] or "no description in the YAML"] for m in others]))
    files = ", ".join(reverse["yaml_files"]) or "no YAML file"
    if reverse["not_carried_back"]:
        blocks.append(paragraph(f"**What is not carried back** (the header of {files}): {reverse['not_carried_back']}"))
    elif reverse["models"]:
        blocks.append(paragraph(f"The header of the reverse models' YAML ({files}) does not say what is not carried back: state it "
                                "there in a line \"Not carried back: ...\", so that the decision authority knows it before deciding."))
    return blocks


def _decommission(f: dict) -> list[Block]:
    s = f["settings"]
    d = f["decommission"]
    required = s["decommission"]["required_approvals"]
    signed = {a["role"]: a for a in f["approvals"] if a["stage"] == "decommission"}
    if required:
        approvals = (f"It needs the sign-off of stage decommission by {', '.join(owner(s, (r,)) for r in required)} "
                     "(migration.yml decommission.required_approvals): "
                     + "; ".join(f"{r}: {signed[r]['name']} at {when(signed[r]['approved_at'])}" if r in signed else f"{r}: not yet"
                                 for r in required) + ".")
    else:
        approvals = "migration.yml requires no sign-off for it (decommission.required_approvals is empty)."
    blocks = [heading("Decommission"),
              paragraph(f"When the rollback window ends, {_window(f)}, `migrate decommission` ends the migration and with it the "
                        "possibility of a fallback. It runs only while the applications are switched (before the switch and after a "
                        "fallback it refuses); inside the window it refuses unless `--force --decided-by NAME --reason TEXT`, which "
                        "are recorded. " + approvals),
              numbered([f"{step}: {step_words(step, DECOMMISSION_STEP_WORDS, 'migrate decommission')}" for step in d["steps"]]),
              paragraph(f"The legacy schema is not made writable again: only `drop schema {d['read_only_schema']} cascade` on the "
                        "source lifts its guards. An interrupted decommission resumes where it stopped.")]
    run = d["last_run"]
    if run is None:
        blocks.append(paragraph(MISSING["decommission"]))
    else:
        detail = run["detail"] or {}
        text = f"Decommission run {run['run_id']} {run['status']}, started {when(run['started_at'])}"
        text += f", finished {when(run['finished_at'])}" if run["finished_at"] else ""
        if detail.get("backup_id"):
            text += f"; archive backup #{detail['backup_id']}" + (f" ({detail['archive']})" if detail.get("archive") else "")
        if detail.get("forced"):
            who, why = detail.get("decided_by") or "someone not recorded", detail.get("reason") or "no reason recorded"
            text += f"; the window was cut short by {who}: {why}"
        blocks.append(paragraph(text + "."))
    return blocks


def _rollback_durations(f: dict) -> list[Block]:
    blocks = [heading("Measured duration")]
    rehearsal = f.get("rehearsal")
    if rehearsal is None:
        blocks.append(paragraph(MISSING["rehearsal"] + " Until one has, the abort is not timed."))
    else:
        seconds, after = _rehearsal_step(f, "rollback"), _rehearsal_step(f, "verify_after_rollback")
        blocks.append(paragraph(
            f"The abort, in rehearsal {rehearsal['rehearsal_id']} ({rehearsal['status']}, {when(rehearsal['finished_at'] or rehearsal['started_at'])}): "
            + (f"the rollback took {duration(seconds)}" if seconds is not None else "the rollback was not reached")
            + (f", and the reconciliation after it {duration(after)}." if after is not None else ".")))
    runs = f["fallback"]["runs"]
    if not runs:
        blocks.append(paragraph("The fallback: not measured, as none has run; the rehearsal stops before the switch and rehearses the abort only."))
    else:
        last = runs[-1]
        unavailable = (last["detail"] or {}).get("write_unavailable_seconds")
        total = sum(x["seconds"] or 0 for x in last["steps"])
        blocks.append(paragraph(f"The fallback, in fallback run {last['run_id']} ({last['status']}): its steps took {duration(total)}"
                                + (f"; writes were unavailable for {duration(unavailable)}." if unavailable is not None else ".")))
    return blocks


def _carried_total(carried: dict) -> str:
    totals = {op: sum(x.get(op) or 0 for x in carried.values()) for op in ("inserted", "updated", "deleted")}
    return ", ".join(f"{count(n)} {op}" for op, n in totals.items()) + f" over {plural(len(carried), 'table')}" if carried else "nothing carried back"


def _rollbacks_so_far(f: dict) -> list[Block]:
    aborts, fallbacks = f["rollbacks"], f["fallback"]["runs"]
    blocks = [heading("Rollbacks so far")]
    if not aborts and not fallbacks:
        return blocks + [paragraph("No rollback has been run on this migration: no abort before the switch, no fallback after it.")]
    if aborts:
        blocks += [paragraph("Aborts before the switch:"),
                   table(("when", "decided by", "reason", "cutover run", "tables unfrozen"), [_rollback_row(r) for r in aborts])]
    else:
        blocks.append(paragraph("No abort before the switch."))
    if not fallbacks:
        return blocks + [paragraph(MISSING["fallback"])]
    rows = []
    for r in fallbacks:
        detail = r["detail"] or {}
        unavailable = detail.get("write_unavailable_seconds")
        rows.append([str(r["run_id"]), when(r["started_at"]), detail.get("decided_by") or "not recorded", detail.get("reason") or "not recorded",
                     r["status"], _carried_total(r["carried"]), duration(unavailable) if unavailable is not None else "not measured"])
    blocks += [paragraph("Fallbacks after the switch (control table `runs`, command fallback):"),
               table(("run", "when", "decided by", "reason", "status", "carried back", "writes unavailable"), rows)]
    order = [t["name"] for t in f["settings"]["tables"]]  # the order of migration.yml, parents first, as carried
    carried = [[str(r["run_id"]), name, c.get("inserted"), c.get("updated"), c.get("deleted")]
               for r in fallbacks
               for name, c in sorted(r["carried"].items(), key=lambda x: order.index(x[0]) if x[0] in order else len(order))]
    if carried:
        blocks += [paragraph("Carried back into the legacy schema, per table:"),
                   table(("run", "legacy table", "inserted", "updated", "deleted"), carried, "llrrr")]
    return blocks


def _rollback_row(run: dict) -> list[str]:
    detail = run["detail"] or {}
    return [when(run["started_at"]), detail.get("decided_by") or "not recorded", detail.get("reason") or "not recorded",
            count(detail.get("cutover_run")) or "none running", count(len(detail.get("unfrozen") or []))]


# --- validation -------------------------------------------------------------------------------


def level_threshold(level: str, settings: dict) -> str:
    words = LEVEL_WORDS.get(level, ("", ""))[1]
    return words.format(sample_size=settings["reconcile"]["sample_size"]) if words else level


def configured_checks(level: str, settings: dict) -> list[tuple[str, str]]:
    """The checks migration.yml defines for a level: (name, threshold)."""
    r = settings["reconcile"]
    if level == "rules":
        return [(x["name"], "figures equal per group" + (f" within {x['tolerance']:g}" if x["tolerance"] else "")) for x in r["rules"]]
    if level == "performance":
        return [(x["name"], f"p95 ≤ {x['p95_ms']:g} ms over {x['runs']} runs" + (", reads an index" if x["require_index"] else ""))
                for x in r["performance_queries"]]
    if level == "smoke":
        return [(x["name"], f"expects {x['expect']}") for x in r["smoke"]]
    return []


def validation(f: dict) -> Doc:
    s = f["settings"]
    levels = f["reconcile"]["levels"]
    blocks = [heading(f"Validation test cases: {f['migration']}", 1), provenance(f),
              paragraph("Every check that `migrate reconcile` and dbt run: what it proves, its threshold, and its last result.")]
    rows = []
    for level, (proves, _) in LEVEL_WORDS.items():
        facts = levels.get(level)
        rows.append([level, proves, level_threshold(level, s),
                     f"#{facts['reconcile_id']} at {when(facts['finished_at'])}" if facts else "not run yet",
                     facts["verdict"] if facts else "not run yet"])
    blocks += [heading("Reconciliation levels"), table(("level", "what it proves", "threshold", "last run", "last result"), rows)]
    if not levels:
        blocks.append(paragraph(MISSING["reconcile"]))
    for level in LEVEL_WORDS:
        facts = levels.get(level)
        blocks.append(heading(f"Level {level}", 3))
        configured = configured_checks(level, s)
        if facts is None:
            blocks.append(paragraph(f"Not run yet (`migrate reconcile --level {level}`)."))
        else:
            blocks.append(paragraph(f"Reconciliation #{facts['reconcile_id']} at {when(facts['finished_at'])}: {facts['verdict']}"
                                    + (f", in {duration(facts['seconds'])}" if facts["seconds"] is not None else "") + "."))
            if facts["notes"]:
                blocks.append(bullets(facts["notes"]))
            if facts["checks"]:
                blocks.append(table(("check", "result", "source", "target", "detail"),
                                    [[x["name"], x["verdict"], x["source"] or "", x["target"] or "", x["detail"] or ""] for x in facts["checks"]]))
        ran = {x["name"] for x in (facts or {}).get("checks", [])}
        pending = [[name, threshold] for name, threshold in configured if name not in ran]
        if pending:
            blocks.append(paragraph("Defined in migration.yml, with no result yet:"))
            blocks.append(table(("check", "threshold"), pending))
        elif not configured and level in ("performance", "smoke"):
            key = "performance_queries" if level == "performance" else "smoke"
            blocks.append(paragraph(f"migration.yml defines no {level} checks (reconcile.{key})."))

    dbt = f["dbt"]
    blocks.append(heading("dbt data tests"))
    if not dbt["available"]:
        blocks.append(paragraph(f"No dbt tests: {dbt['reason']}."))
    else:
        results = dbt.get("run_results")
        if results:
            tally = ", ".join(f"{n} {status}" for status, n in sorted(results["statuses"].items()))
            blocks.append(paragraph(f"Last dbt invocation recorded in target/run_results.json: dbt {dbt_command(results['which'])} "
                                    f"at {when(results['generated_at'])} ({tally})."))
        if dbt["tests"]:
            blocks.append(table(("test", "on", "what it proves", "threshold", "last result", "file"),
                                [[t["name"], t["on"] + (f".{t['column']}" if t["column"] else ""), t["purpose"], t["threshold"],
                                  _result_text(t["last"]), t["file"]] for t in dbt["tests"]]))
        else:
            blocks.append(paragraph("The dbt project defines no data tests."))
        blocks.append(heading("dbt unit tests", 3))
        if dbt["unit_tests"]:
            blocks.append(table(("unit test", "model", "what it proves", "last result", "file"),
                                [[u["name"], u["model"], u["purpose"], _result_text(u["last"]), u["file"]] for u in dbt["unit_tests"]]))
        else:
            blocks.append(paragraph("The dbt project defines no unit tests."))
        targets = [m for m in dbt["models"] if m["is_target"]]
        if targets:
            blocks.append(heading("Constraints the target database enforces", 3))
            blocks.append(table(("target table", "contract", "constraints declared in the database"),
                                [[m["relation"], "enforced" if m["contract_enforced"] else "not enforced",
                                  ", ".join(f"{n} {kind}" for kind, n in sorted(m["constraints"].items()))
                                  or "none (the table is not built yet, or declares none)"]
                                 for m in targets]))

    blocks.append(heading("Cutover final verification"))
    verification = _cutover_step(f, "final_verification")
    blocks.append(paragraph("At the cutover: at catch_up, before the freeze, exact row counts of every listed table, source against "
                            "landing, at one source snapshot (a counts reconciliation); after the freeze and the final sync, every landing "
                            "row written since then compared with its source row; after the switch, every table counted again. "
                            "Threshold: all equal, else the cutover stops before the switch (after it: `migrate rollback --check`)."))
    if verification is None:
        blocks.append(paragraph("Not run yet: it runs inside `migrate cutover`."))
    else:
        detail = verification.get("detail") or {}
        recount = ((_cutover_step(f, "source_read_only") or {}).get("detail") or {}).get("recount")
        counts = recount or detail.get("counts") or {}
        compared = detail.get("changed_rows_compared")
        counted = detail.get("counts_at_catch_up")
        blocks.append(paragraph(f"Cutover run {f['cutover']['last_run']['run_id']}, {when(verification['finished_at'] or verification['started_at'])}: "
                                f"{verification['status']}" + (f"; counts at catch_up: reconciliation #{counted}" if counted else "")
                                + (f"; {count(compared)} changed rows compared" if isinstance(compared, int) else "")
                                + ("; the counts below are the recount after the switch" if recount else "") + "."))
        if counts:
            blocks.append(table(("table", "source rows", "landing rows"),
                                [[name, c.get("source"), c.get("landing")] for name, c in counts.items()], "lrr"))
    blocks += approvals_section(f)
    return Doc("validation", "Validation test cases",
               "every reconciliation check and dbt test: what it proves, its threshold, its last result", blocks)


RESULT_WORDS = {"pass": "passed", "fail": "failed", "warn": "warned", "success": "passed"}


def _result_text(last: dict | None) -> str:
    if last is None:
        return "no result recorded yet"
    status = RESULT_WORDS.get(last["status"], last["status"])
    text = status + (f" ({count(last['failures'])} failing rows)" if isinstance(last.get("failures"), int) and last["failures"] else "")
    return f"{text}, {last['by']} at {when(last['at'])}"


# --- transformations --------------------------------------------------------------------------


TRANSFORMATIONS_SUMMARY = "every model and macro with its purpose and its place in the lineage"


def _named(name: str, link: str | None) -> str:
    return f"[{name}]({link})" if link else name


def _arguments(arguments: list[dict]) -> str:
    return "; ".join(f"{a['name']}: {(a['description'] or a['type'] or 'undocumented').rstrip('.')}" for a in arguments) or "none"


def transformations(f: dict) -> Doc:
    dbt = f["dbt"]
    blocks = [heading(f"Transformation scripts: {f['migration']}", 1), provenance(f)]
    if not dbt["available"]:
        blocks.append(paragraph(f"No transformations to list: {dbt['reason']}."))
        return Doc("transformations", "Transformation scripts", TRANSFORMATIONS_SUMMARY, blocks + approvals_section(f))
    site = dbt["docs_site"]
    if site:
        blocks.append(paragraph(f"dbt docs, with the lineage graph: [{site['link']}]({site['link']}) (generated {when(site['generated_at'])}); "
                                "each name below links to its page there."))
    else:
        blocks.append(paragraph("The dbt docs site with the lineage graph is not generated yet: run "
                                "`eval \"$(migrate env shell)\" && dbt docs generate --profiles-dir profiles`, which writes target/index.html, "
                                "then `migrate docs` again to link it."))
    blocks.append(paragraph(f"dbt project `{dbt['project']}` (dbt {dbt['dbt_version']}, manifest of {when(dbt['manifest_generated_at'])}): "
                            f"{len(dbt['models'])} models, {len(dbt['macros'])} macros, {len(dbt['seeds'])} seeds, {len(dbt['tests'])} data tests, "
                            f"{len(dbt['unit_tests'])} unit tests. Layers, upstream first: {' → '.join(dbt['layers']) or 'none'}."))
    if dbt["sources"]:
        blocks += [heading("Sources"),
                   table(("source", "relation", "what it is", "read by"),
                         [[_named(x["name"], x["link"]), x["relation"], x["description"] or "no description in the YAML",
                           ", ".join(x["referenced_by"]) or "no model"] for x in dbt["sources"]])]
    for layer in dbt["layers"]:
        models = [m for m in dbt["models"] if m["layer"] == layer]
        blocks += [heading(f"Models: {layer}"),
                   table(("model", "file", "materialized", "purpose", "depends on", "referenced by"),
                         [[_named(m["name"], m["link"]) + (" (target table)" if m["is_target"] else ""), m["file"], m["materialized"] or "",
                           m["description"] or "no description in the YAML", ", ".join(m["depends_on"]) or "nothing",
                           ", ".join(m["referenced_by"]) or "no model"] for m in models])]
    if dbt["seeds"]:
        blocks += [heading("Seeds"),
                   table(("seed", "file", "purpose", "referenced by"),
                         [[_named(x["name"], x["link"]), x["file"], x["description"] or "no description in the YAML",
                           ", ".join(x["referenced_by"]) or "no model"] for x in dbt["seeds"]])]
    blocks.append(heading("Macros"))
    if dbt["macros"]:
        blocks.append(table(("macro", "file", "purpose", "arguments", "used by"),
                            [[_named(m["name"], m["link"]), m["file"], m["description"] or "no description in macros YAML",
                              _arguments(m["arguments"]),
                              ", ".join(m["used_by"]) or "no model or macro"] for m in dbt["macros"]]))
    else:
        blocks.append(paragraph("The project defines no macros of its own."))
    blocks += approvals_section(f)
    return Doc("transformations", "Transformation scripts", TRANSFORMATIONS_SUMMARY, blocks)


# --- rendering --------------------------------------------------------------------------------

DOCUMENTS: tuple[Callable[[dict], Doc], ...] = (plan, runbook, rollback, validation, transformations)


def documents(f: dict) -> list[Doc]:
    return [build(f) for build in DOCUMENTS]


def markdown(doc: Doc) -> str:
    out = reports.Document()
    for block in doc.blocks:
        if block.kind == "heading":
            out.heading(block.level, block.content)
        elif block.kind == "paragraph":
            out.paragraph(mask_card_numbers(block.content))
        elif block.kind == "bullets":
            out.bullets(reports.escape(item) for item in block.content)
        elif block.kind == "numbered":
            out.paragraph("\n".join(f"{i}. {reports.escape(item)}" for i, item in enumerate(block.content, start=1)))
        else:
            out.table(block.headers, block.content, block.align)
    return out.render()


def inline(text: str) -> str:
    """Escaped text with `code`, **bold** and [links](href) kept; card numbers masked."""
    out = html.escape(mask_card_numbers(str(text)), quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', out)


NAV_STYLE = "nav { margin-bottom: 1.5em; } nav a { margin-right: 1em; } ol li, ul li { margin: .2em 0; }"


def html_page(doc: Doc, nav: list[tuple[str, str]], migration: str) -> str:
    body = ['<nav>' + "".join(f'<a href="{html.escape(href)}">{html.escape(title)}</a>' for title, href in nav) + "</nav>"]
    for block in doc.blocks:
        if block.kind == "heading":
            body.append(f"<h{block.level}>{inline(block.content)}</h{block.level}>")
        elif block.kind == "paragraph":
            body.append(f"<p>{inline(block.content)}</p>")
        elif block.kind in ("bullets", "numbered"):
            tag = "ul" if block.kind == "bullets" else "ol"
            body.append(f"<{tag}>" + "".join(f"<li>{inline(item)}</li>" for item in block.content) + f"</{tag}>")
        else:
            head = "".join(f"<th>{inline(h)}</th>" for h in block.headers)
            rows = "".join("<tr>" + "".join(f"<td{' class=r' if a == 'r' else ''}>{inline(c)}</td>" for a, c in zip(block.align, row)) + "</tr>"
                           for row in block.content)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    title = html.escape(f"{doc.title}: {migration}")
    return (f"<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>{title}</title><style>{STYLE}{NAV_STYLE}</style></head>\n"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")


def index(f: dict, docs: list[Doc]) -> Doc:
    rows = [[f"[{d.title}]({d.name}.md)", f"[HTML]({d.name}.html)", d.summary] for d in docs]
    rows.append(["[Schema mapping](mapping.xlsx)", "[CSV](mapping.csv)", "legacy table.column → target table.column with types, "
                 "conversion, rule, disposition and the model that implements it; unmapped and dropped legacy columns"])
    rows.append(["[Facts](migration-docs.json)", "", "the JSON every document is rendered from"])
    blocks = [heading(f"Migration documents: {f['migration']}", 1), provenance(f), paragraph(f"**Where it stands:** {standing(f)}"),
              table(("document", "also as", "what it holds"), rows)]
    if f["notes"]:
        blocks += [heading("What the facts could not say"), bullets(f["notes"])]
    return Doc("README", "Migration documents", "", blocks)


def write_text(path: Path, text: str) -> None:
    """Write through a temporary file and rename: a killed command never leaves half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def write_all(f: dict, out_dir: Path) -> list[tuple[str, Path]]:
    """Every document as Markdown and HTML, and the index; returns (title, path) in reading order."""
    docs = documents(f)
    nav = [("Index", "index.html")] + [(d.title, f"{d.name}.html") for d in docs]
    cover = index(f, docs)
    written = []
    for doc in [cover, *docs]:
        md_path, html_path = out_dir / f"{doc.name}.md", out_dir / ("index.html" if doc is cover else f"{doc.name}.html")
        write_text(md_path, markdown(doc))
        write_text(html_path, html_page(doc, nav, f["migration"]))
        written += [(doc.title, md_path), (f"{doc.title} (HTML)", html_path)]
    return written

