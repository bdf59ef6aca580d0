"""plan.md: scope, assessment, strategy, timeline, risks, quality criteria and their evidence."""

from __future__ import annotations

from datetime import datetime

from harness.assess.estimates import STRATEGY_LABELS
from harness.docs import timeline
from harness.docs.rollback import carried_total
from harness.docs.shared import (
    Doc,
    approvals_section,
    count,
    cutover_step,
    dbt_command,
    duration,
    latest_cutover_approvals,
    level_summary,
    plural,
    provenance,
    rehearsal_step,
    standing,
    table,
    when,
)
from harness.docs.words import MISSING, STRATEGY_WORDS
from harness.render import Block, bullets, charts, heading, numbered, paragraph


def document(f: dict) -> Doc:
    s, a = f["settings"], f["assessment"]
    blocks = [
        heading(f"Migration plan: {f['migration']}", 1),
        provenance(f),
        paragraph(f"**Where it stands:** {standing(f)}"),
    ]
    blocks += _scope(f)
    blocks += _assessment_summary(a)
    blocks += _strategy(s, a)
    blocks += _timeline(f)
    blocks += _risks(a)
    blocks += _quality(f)
    blocks += _history(f)
    blocks += approvals_section(f)
    return Doc(
        "plan",
        "Migration plan",
        "scope, assessment, strategy, timeline, risks, quality criteria and their evidence",
        blocks,
    )


def _scope(f: dict) -> list[Block]:
    a, load = f["assessment"], f["load"]
    assessed = {t["name"]: t for t in (a or {}).get("tables") or []}
    loaded = {t["name"]: t for t in (load or {}).get("tables") or []}
    rows = []
    for t in f["settings"]["tables"]:
        at = assessed.get(t["name"])
        rows.append(
            [
                t["name"],
                ", ".join(t["key"]) or "primary key of the source",
                ", ".join(f"{c} ({m})" for c, m in t["masks"].items()) or "none",
                (
                    "does not exist"
                    if not at["exists"]
                    else count(at["rows"]) + ("" if at["rows_exact"] else " (estimate)")
                )
                if at
                else "not assessed",
                count(loaded[t["name"]]["rows"]) if t["name"] in loaded else "not loaded",
            ]
        )
    blocks = [
        heading("Scope"),
        paragraph(f"{len(rows)} legacy tables of schema `{f['source']['schema']}`, listed in migration.yml:"),
        table(
            ("legacy table", "key", "masked columns", "rows at the assessment", "rows copied by the load"),
            rows,
            "lllrr",
        ),
    ]
    facts = []
    if a:
        facts.append(
            f"{count(sum(t['rows'] or 0 for t in a['tables'] if t['exists']))} rows at the assessment of {when(a['assessed_at'])}."
        )
    else:
        facts.append(MISSING["assessment"])
    if load:
        facts.append(
            f"Load {load['load_id']} ({load['status']}) copied {count(load['rows_copied'] or 0)} rows"
            + (
                f" in {duration(load['seconds'])}, finished {when(load['finished_at'])}."
                if load["finished_at"]
                else "."
            )
        )
    else:
        facts.append(MISSING["load"])
    dbt = f["dbt"]
    if dbt["available"]:
        targets = [m for m in dbt["models"] if m["is_target"]]
        facts.append(
            f"The target: {len(targets)} tables built by dbt models: "
            + (", ".join(m["relation"] for m in targets) or "none yet")
            + "."
        )
    else:
        facts.append(f"No target models: {dbt['reason']}.")
    blocks.append(bullets(facts))
    return blocks


def _assessment_summary(a: dict | None) -> list[Block]:
    blocks = [heading("Assessment")]
    if a is None:
        return blocks + [paragraph(MISSING["assessment"])]
    verdict = a["verdict"]
    blocks.append(
        paragraph(
            f"Assessed {when(a['assessed_at'])}: **{verdict.get('headline') or verdict.get('status') or 'no verdict recorded'}.** "
            f"Findings: {a['findings']['blocking']} blocking, {a['findings']['warning']} warnings, {a['findings']['info']} notes "
            "(reports/assessment/latest/assessment.md has them all)."
        )
    )
    limit = a.get("downtime_limit_minutes")
    rows = [
        [
            STRATEGY_LABELS.get(x["name"], x["name"]),
            duration(x["downtime_seconds"]),
            duration(x["total_seconds"]),
            "no limit set" if x["within_limit"] is None else ("yes" if x["within_limit"] else "no"),
            "yes" if x["possible"] else "no: " + "; ".join(x.get("missing") or []),
        ]
        for x in a["strategies"]
    ]
    if rows:
        blocks.append(
            table(
                (
                    "strategy",
                    "downtime",
                    "total duration",
                    f"within the limit ({duration(limit * 60) if limit else 'none set'})",
                    "possible",
                ),
                rows,
                "lrrll",
            )
        )
    return blocks


def _strategy(s: dict, a: dict | None) -> list[Block]:
    chosen = s["strategy"]
    blocks = [
        heading("Strategy"),
        paragraph(
            f"migration.yml chooses **{STRATEGY_LABELS.get(chosen, chosen)}**: {STRATEGY_WORDS.get(chosen, chosen)}."
        ),
    ]
    recommendation = (a or {}).get("recommendation") or {}
    if a is None:
        blocks.append(paragraph("No assessment has recommended a strategy yet (`migrate assess`)."))
    elif recommendation.get("strategy"):
        recommended = recommendation["strategy"]
        agree = "agrees" if recommended == chosen else "differs"
        label = STRATEGY_LABELS.get(recommended, recommended)
        blocks.append(
            paragraph(
                f"The assessment of {when(a['assessed_at'])} recommends **{label}** (the choice {agree}), because:"
            )
        )
        blocks.append(bullets(recommendation.get("reasons") or ["the assessment gave no reason"]))
    else:
        reasons = recommendation.get("reasons") or ["no table could be measured"]
        blocks.append(paragraph("The assessment could not recommend a strategy: " + "; ".join(reasons) + "."))
    if chosen == "phased" and s["cutover"]["waves"]:
        blocks.append(paragraph("Waves (migration.yml cutover.waves):"))
        blocks.append(numbered([", ".join(w) for w in s["cutover"]["waves"]]))
    capture = s["capture"]
    how = (
        "triggers on the source tables"
        if capture["method"] == "trigger"
        else f"the timestamp column {capture['column']}"
    )
    blocks.append(paragraph(f"Change capture: {how}."))
    return blocks


# The plan's phases in the timeline chart: (label, the assessment's estimate, the rehearsal's steps;
# FROZEN: the cutover's steps from freeze_source to the switch, which the rehearsal runs up to it).
FROZEN = "frozen"
PHASES = (
    ("initial load", "initial_load", ("load",)),
    ("dbt build", "build", ("build",)),
    ("validation (reconcile)", "validation", ("reconcile",)),
    ("final sync", "final_sync", ("final_sync",)),
    ("freeze to switch (writes unavailable)", "freeze", FROZEN),
    ("rollback before the switch (abort)", None, ("rollback",)),
    ("fallback after the switch (writes unavailable)", None, ()),
)


def _frozen_steps(f: dict) -> list[str]:
    steps = f["cutover"]["steps"]
    return (
        steps[steps.index("freeze_source") : steps.index("switch")] if {"freeze_source", "switch"} <= set(steps) else []
    )


def _rehearsed_seconds(f: dict, steps: tuple[str, ...] | list[str]) -> float | None:
    found = [x for x in (rehearsal_step(f, s) for s in steps) if x is not None]
    return sum(found) if found else None


def _real_seconds(f: dict) -> dict[str, float | None]:
    """Each phase's real duration where the control schema and dbt's artifacts hold one."""
    load, run, fallbacks = f["load"], f["cutover"]["last_run"], f["fallback"]["runs"]
    results = (f["dbt"].get("run_results") or {}) if f["dbt"]["available"] else {}
    final_sync = cutover_step(f, "final_sync")
    last_reconcile = next((r for r in f["reconcile"]["runs"] if r["finished_at"]), None)
    return {
        "initial load": load["seconds"] if load else None,
        "dbt build": results.get("elapsed_seconds") if results.get("which") in ("build", "run") else None,
        "validation (reconcile)": _seconds_between(last_reconcile["started_at"], last_reconcile["finished_at"])
        if last_reconcile
        else None,
        "final sync": final_sync["seconds"] if final_sync else None,
        "freeze to switch (writes unavailable)": ((run or {}).get("detail") or {}).get("write_unavailable_seconds"),
        "rollback before the switch (abort)": None,
        "fallback after the switch (writes unavailable)": (fallbacks[-1]["detail"] or {}).get(
            "write_unavailable_seconds"
        )
        if fallbacks
        else None,
    }


def _seconds_between(started: str, finished: str) -> float:
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


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
        return duration(_rehearsed_seconds(f, steps), "not reached in the rehearsal")

    def real_step(name: str) -> str:
        step = cutover_step(f, name)
        return duration(step["seconds"], step["status"]) if step else "not run yet"

    unavailable = ((run or {}).get("detail") or {}).get("write_unavailable_seconds")
    frozen = _frozen_steps(f)
    fallbacks = f["fallback"]["runs"]
    fell_back = fallbacks[-1]["detail"].get("write_unavailable_seconds") if fallbacks else None
    rows = [
        ["initial load", estimate("initial_load"), rehearsed("load"), _real_load(f["load"])],
        ["dbt build", estimate("build"), rehearsed("build"), _real_build(f["dbt"])],
        [
            "validation (reconcile)",
            estimate("validation"),
            rehearsed("reconcile"),
            _real_reconcile(f["reconcile"]["runs"]),
        ],
        ["final sync", estimate("final_sync"), rehearsed("final_sync"), real_step("final_sync")],
        [
            "freeze to switch (writes unavailable)",
            estimate("freeze"),
            rehearsed(*frozen),
            duration(unavailable) if unavailable is not None else ("not run yet" if run is None else "not measured"),
        ],
        [
            "rollback before the switch (abort)",
            "not estimated by the assessment",
            rehearsed("rollback"),
            plural(len(f["rollbacks"]), "abort") + " run" if f["rollbacks"] else "none run",
        ],
        [
            "fallback after the switch (writes unavailable)",
            "not estimated by the assessment",
            "not rehearsed: the rehearsal stops before the switch",
            (
                duration(fell_back) + f" (fallback run {fallbacks[-1]['run_id']})"
                if fell_back is not None
                else "not measured"
            )
            if fallbacks
            else "none run",
        ],
    ]
    blocks = [
        heading("Timeline"),
        paragraph(
            "Each phase as the assessment estimated it, as the last rehearsal measured it on disposable copies, and as it "
            "really took. The rehearsal stops before the switch, so its freeze figure covers the steps up to it."
        ),
        table(("phase", "estimated", "last rehearsal", "real"), rows, "lrrr"),
        *_timeline_chart(f),
    ]
    planned = sum(f["cutover"]["estimates"].get(step, 0.0) for step in f["cutover"]["steps"])
    unmeasured = [step for step in f["cutover"]["steps"] if step not in f["cutover"]["estimates"]]
    if not f["cutover"]["estimates"]:
        blocks.append(
            paragraph(
                "The cutover runbook's steps (runbook.md) are not measured yet: `migrate rehearse` measures them."
            )
        )
    else:
        blocks.append(
            paragraph(
                f"The cutover runbook (runbook.md) plans {duration(planned)} for its measured steps"
                + (f"; not measured yet: {', '.join(unmeasured)}." if unmeasured else ".")
            )
        )
    return blocks


def _timeline_chart(f: dict) -> list[Block]:
    """The table above as a Gantt chart: each kind's phases laid end to end (planned = the
    assessment's estimate), the write-unavailable phases shaded as they really were, else as estimated."""
    estimates = (f["assessment"] or {}).get("estimates") or {}
    real = _real_seconds(f)
    figures = {"planned": {}, "rehearsed": {}, "real": {}}
    for label, estimate_key, rehearsal_steps in PHASES:
        if estimate_key:
            figures["planned"][label] = (estimates.get(estimate_key) or {}).get("seconds")
        if f.get("rehearsal") is not None:
            steps = _frozen_steps(f) if rehearsal_steps == FROZEN else rehearsal_steps
            figures["rehearsed"][label] = _rehearsed_seconds(f, steps)
        figures["real"][label] = real[label]
    labels = [label for label, _, _ in PHASES]
    bars = [bar for kind, seconds in figures.items() for bar in timeline.in_sequence(labels, seconds, kind)]
    if not bars:
        return []
    windows = []
    for label in (label for label in labels if "writes unavailable" in label):
        shown = {b.kind: b for b in bars if b.step == label}
        bar = shown.get("real") or shown.get("planned")
        if bar:
            windows.append((bar.start, bar.start + bar.seconds))
    return [
        paragraph(
            "The same figures as a chart, each kind's phases laid end to end (the real load and the real cutover may "
            "be days apart: the chart shows how long each took, not when): **planned** is the assessment's "
            "estimate. Shaded: the phases during which writes are unavailable (as they really were, else as "
            "estimated)."
        ),
        charts.gantt(
            "plan-timeline",
            "The migration's phases: estimated, rehearsed and real durations",
            labels,
            bars,
            windows,
            "seconds, each phase after the one before",
        ),
    ]


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
    seconds = _seconds_between(last["started_at"], last["finished_at"])
    return f"{duration(seconds)} (reconciliation #{last['reconcile_id']})"


def _risks(a: dict | None) -> list[Block]:
    blocks = [heading("Risks and mitigations")]
    if a is None:
        return blocks + [paragraph("No assessment has run yet, so no risk has been measured (`migrate assess`).")]
    if not a["risks"]:
        return blocks + [
            paragraph(f"The assessment of {when(a['assessed_at'])} found no blocking problem and no warning.")
        ]
    blocks.append(
        paragraph(f"Every blocking problem and warning of the assessment of {when(a['assessed_at'])}, with its fix:")
    )
    blocks.append(
        table(
            ("severity", "area", "risk", "mitigation"),
            [
                [r["severity"], r["area"], r["message"], r["fix"] or "no fix recorded: decide it in the mapping"]
                for r in a["risks"]
            ],
        )
    )
    return blocks


def _from_levels(f: dict, names: tuple[str, ...]) -> tuple[str, str]:
    """Evidence and state from the latest run of each reconciliation level named."""
    found = [f["reconcile"]["levels"].get(n) for n in names]
    ran = [x for x in found if x]
    if not ran:
        return "No reconciliation has run yet.", "not checked yet"
    evidence = "; ".join(level_summary(n, x) for n, x in zip(names, found))
    if any(x["verdict"] == "failed" for x in ran):
        return evidence, "not met"
    return evidence, "met" if len(ran) == len(names) and all(
        x["verdict"] == "passed" for x in ran
    ) else "partly checked"


def _data_loss(f: dict) -> dict[str, str]:
    evidence, state = _from_levels(f, ("counts", "checksums"))
    verification = cutover_step(f, "final_verification")
    if verification:
        compared = (verification.get("detail") or {}).get("changed_rows_compared")
        evidence += f"; cutover run {f['cutover']['last_run']['run_id']}: final verification {verification['status']}"
        evidence += f", {count(compared)} changed rows compared" if isinstance(compared, int) else ""
        state = "not met" if verification["status"] == "failed" else state
    return {
        "criterion": "Zero data loss, every row accounted for",
        "how": "`migrate reconcile` levels counts (source = landing; source rows = migrated + merged + quarantined) and "
        "checksums (every row compared), as of one source snapshot; at cutover the final verification",
        "evidence": evidence,
        "state": state,
    }


def _integrity(f: dict) -> dict[str, str]:
    dbt = f["dbt"]
    targets = [m for m in dbt.get("models", []) if m["is_target"]]
    foreign = sum(m["constraints"].get("foreign key", 0) for m in targets)
    relationship_tests = [t for t in dbt.get("tests", []) if t["kind"] == "relationships"]
    failing = [t for t in dbt.get("tests", []) if t["last"] and t["last"]["status"] in ("fail", "error")]
    parts = [
        f"{plural(foreign, 'foreign key')} declared in the target database on {plural(len(targets), 'target table')}"
    ]
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
    return {
        "criterion": "Referential integrity",
        "how": "foreign keys declared in the target (enforced dbt contracts), so the database refuses an orphan on every "
        "write; dbt relationships tests",
        "evidence": "; ".join(parts) + ".",
        "state": state,
    }


def _mapping_checked(f: dict) -> dict[str, str]:
    evidence, state = _from_levels(f, ("sample", "rules"))
    return {
        "criterion": "The mapping does what it says",
        "how": "`migrate reconcile` levels sample (app rows against the mapping's expected values) and rules (dbt tests, "
        "business-rule figures of both sides)",
        "evidence": evidence,
        "state": state,
    }


def _performance(f: dict) -> dict[str, str]:
    queries = f["settings"]["reconcile"]["performance_queries"]
    if queries:
        evidence, state = _from_levels(f, ("performance",))
        limits = ", ".join(f"{q['name']} p95 ≤ {q['p95_ms']:g} ms over {q['runs']} runs" for q in queries)
    else:
        evidence = "migration.yml names no performance query (reconcile.performance_queries), so target performance is not checked."
        state, limits = (
            "not checked: no query defined",
            "each query of reconcile.performance_queries timed against its p95 limit",
        )
    return {
        "criterion": "Performance",
        "how": f"`migrate reconcile --level performance`: {limits}",
        "evidence": evidence,
        "state": state,
    }


def _rollback_tested(f: dict) -> dict[str, str]:
    rehearsal = f.get("rehearsal")
    if rehearsal is None:
        evidence, state = MISSING["rehearsal"], "not checked yet"
    else:
        rollback_seconds = rehearsal_step(f, "rollback")
        evidence = f"rehearsal {rehearsal['rehearsal_id']} {rehearsal['status']} at {when(rehearsal['finished_at'] or rehearsal['started_at'])}"
        evidence += f", in {duration(rehearsal['seconds'])}" if rehearsal["seconds"] is not None else ""
        evidence += (
            f"; rollback took {duration(rollback_seconds)}"
            if rollback_seconds is not None
            else "; the rollback was not reached"
        )
        evidence += (
            "; the reconciliation after it passed" if rehearsal_step(f, "verify_after_rollback") is not None else ""
        )
        evidence += (
            "; it rehearsed the current models" if rehearsal.get("current_models") else "; the models changed since"
        )
        state = "met" if rehearsal["status"] == "succeeded" and rehearsal.get("current_models") else "not met"
    return {
        "criterion": "Rollback tested",
        "how": "`migrate rehearse`: backup, restore, load, build, sync, reconcile, cutover to the switch, rollback (the abort "
        "before the switch) and a second reconciliation, on disposable copies; the fallback after the switch is not rehearsed",
        "evidence": evidence,
        "state": state,
    }


def _approved(f: dict) -> dict[str, str]:
    required = f["settings"]["cutover"]["required_approvals"]
    latest = latest_cutover_approvals(f)
    if required:
        evidence = "; ".join(
            f"{r}: {latest[r]['name']} at {when(latest[r]['approved_at'])}" if r in latest else f"{r}: not yet"
            for r in required
        )
        state = "met" if all(r in latest for r in required) else "not met"
    else:
        evidence, state = "migration.yml requires no approval (cutover.required_approvals is empty).", "met"
    return {
        "criterion": "Approvals",
        "how": "`migrate approve`; the cutover refuses to start without the approvals migration.yml requires",
        "evidence": evidence,
        "state": state,
    }


CRITERIA = (_data_loss, _integrity, _mapping_checked, _performance, _rollback_tested, _approved)


def quality_criteria(f: dict) -> list[dict[str, str]]:
    """Each quality criterion: how it is checked, its latest evidence, and whether it is met."""
    return [criterion(f) for criterion in CRITERIA]


def _quality(f: dict) -> list[Block]:
    rows = [[c["criterion"], c["how"], c["evidence"], c["state"]] for c in quality_criteria(f)]
    return [
        heading("Quality criteria"),
        paragraph(
            "How each criterion is checked, and its latest evidence from the control schema and the dbt artifacts:"
        ),
        table(("criterion", "how it is checked", "latest evidence", "state"), rows),
    ]


def _history(f: dict) -> list[Block]:
    events: list[tuple[str, str]] = []
    a = f["assessment"]
    if a:
        events.append((a["assessed_at"], f"assessment: {a['verdict'].get('headline') or 'done'}"))
    if f["load"]:
        load = f["load"]
        events.append((load["started_at"], f"load {load['load_id']} started"))
        if load["finished_at"]:
            events.append(
                (
                    load["finished_at"],
                    f"load {load['load_id']} {load['status']}: {count(load['rows_copied'] or 0)} rows",
                )
            )
    for b in f["backups"]:
        events.append(
            (
                b["taken_at"],
                f"{b['side']} backup {b['backup_id']}: {count(b['rows'])} rows"
                + (f", verified by a restore into {b['verified_into']}" if b["verified_at"] else ", not verified yet"),
            )
        )
    for r in f["reconcile"]["runs"]:
        events.append(
            (
                r["finished_at"] or r["started_at"],
                f"reconciliation #{r['reconcile_id']} {r['status']} ({', '.join(r['levels'])})",
            )
        )
    rehearsal = f.get("rehearsal")
    if rehearsal:
        events.append(
            (
                rehearsal["finished_at"] or rehearsal["started_at"],
                f"rehearsal {rehearsal['rehearsal_id']} {rehearsal['status']}",
            )
        )
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
            events.append(
                (r["finished_at"], f"fallback run {r['run_id']} {r['status']}: {carried_total(r['carried'])}")
            )
    check = f["rollback_checks"]["last_run"]
    if check:
        met = (check["detail"] or {}).get("met") or []
        events.append(
            (
                check["started_at"],
                f"rollback criteria checked (the last of {plural(f['rollback_checks']['evaluations'], 'evaluation')}): "
                + (f"met: {', '.join(met)}" if met else "none met"),
            )
        )
    done = f["decommission"]["last_run"]
    if done:
        events.append(
            (done["finished_at"] or done["started_at"], f"decommission run {done['run_id']} {done['status']}")
        )
    events.sort(key=lambda e: e[0] or "")
    blocks = [heading("History")]
    if not events:
        return blocks + [
            paragraph("Nothing has been recorded yet: the history starts with `migrate assess` and `migrate load`.")
        ]
    return blocks + [table(("when", "what"), [[when(at), what] for at, what in events])]
