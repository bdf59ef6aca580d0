"""rollback.md: the rollback criteria, who decides, the abort and fallback procedures, the decommission."""

from __future__ import annotations

from harness.docs.runbook import deciders, rollback_window_end
from harness.docs.shared import (
    Doc,
    approvals_section,
    count,
    duration,
    owner,
    plural,
    provenance,
    rehearsal_step,
    standing,
    table,
    when,
)
from harness.docs.transformations import named
from harness.docs.words import (
    CRITERION_WORDS,
    DECOMMISSION_STEP_WORDS,
    FALLBACK_GO_NO_GO,
    FALLBACK_STEP_OWNERS,
    FALLBACK_STEP_WORDS,
    MISSING,
    ROLLBACK_COMMAND,
    step_words,
)
from harness.render import Block, heading, numbered, paragraph


def document(f: dict) -> Doc:
    blocks = [
        heading(f"Rollback procedures: {f['migration']}", 1),
        provenance(f),
        paragraph(f"**Where it stands:** {standing(f)}"),
    ]
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
    return Doc(
        "rollback",
        "Rollback procedures",
        "the criteria with their latest evaluation, the decision authority, the commands, "
        "the abort and the fallback step by step with the reverse models, the decommission, the measured durations, "
        "the rollbacks and fallbacks so far",
        blocks,
    )


def criterion_limit(criterion: dict, settings: dict) -> str:
    """What a rollback criterion is held against, from migration.yml."""
    kind = criterion["kind"]
    if kind == "metric":
        low, high = criterion["min"], criterion["max"]
        bounds = (
            f"between {low:g} and {high:g}"
            if low is not None and high is not None
            else f"≤ {high:g}"
            if high is not None
            else f"≥ {low:g}"
        )
        measured = f"the last line of `{criterion['command']}`" if criterion["command"] else "its SQL on the target"
        return f"{bounds}, measured by {measured}"
    if kind == "latency":
        queries = settings["reconcile"]["performance_queries"]
        return (
            "p95 ≤ " + ", ".join(f"{q['p95_ms']:g} ms ({q['name']})" for q in queries)
            if queries
            else "no query defined"
        )
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
    rows = [
        [
            x["name"],
            x["kind"],
            CRITERION_WORDS.get(x["kind"], x["kind"]),
            criterion_limit(x, s),
            _evaluation(latest.get(x["name"])),
        ]
        for x in criteria
    ]
    blocks = [
        heading("When to roll back"),
        paragraph(
            "The rollback criteria of migration.yml (`rollback.criteria`, else the harness's defaults; a manual "
            "decision is always among them). They look back to the switch. `migrate rollback --check` evaluates each "
            "one now, records the evaluation in the control schema (`runs`, `rollback_checks`) and changes nothing "
            "else; it exits 1 when one is met, which recommends a rollback. Deciding stays with the decision authority "
            "below."
        ),
        table(("criterion", "kind", "met when", "limit (migration.yml)", "latest evaluation"), rows),
    ]
    last = checks["last_run"]
    if last is None:
        blocks.append(paragraph(MISSING["rollback_check"]))
    else:
        detail = last["detail"] or {}
        met = detail.get("met") or []
        blocks.append(
            paragraph(
                f"Last evaluation: check run {last['run_id']} at {when(last['started_at'])}"
                + (f", {detail['since']}" if detail.get("since") else "")
                + (f", in phase {detail['phase']}" if detail.get("phase") else "")
                + ": "
                + (f"met: {', '.join(met)}" if met else "no criterion met")
                + f" ({plural(checks['evaluations'], 'evaluation')} recorded in all)."
            )
        )
    gone = sorted(set(latest) - {x["name"] for x in criteria})
    if gone:
        blocks.append(paragraph(f"Evaluated before, no longer in migration.yml: {', '.join(gone)}."))
    blocks.append(
        paragraph(
            "Before the switch, `migrate cutover` stops by itself when a gate or its final verification fails, and the "
            "decision authority can abort at any step up to the switch (a step that fails and cannot be resumed, the "
            "window over-run)."
        )
    )
    blocks.append(
        paragraph(f"The rollback window: after the switch the source stays read-only until {rollback_window_end(f)}.")
    )
    return blocks


def _decision_authority(f: dict) -> list[Block]:
    s = f["settings"]
    deciders = s["rollback"]["deciders"]
    blocks = [heading("Decision authority")]
    if not s["owners"]:
        return blocks + [
            paragraph(
                "migration.yml names no owners: name them under `owners` and list the deciders under "
                "`rollback.deciders`, so that someone holds this decision."
            )
        ]
    carries: dict[str, list[str]] = {}
    for step in f["fallback"]["steps"]:
        carries.setdefault(owner(s, FALLBACK_STEP_OWNERS.get(step, ())).split(" ", 1)[0], []).append(step)
    rows = []
    for role, team in s["owners"].items():
        parts = (["decides (rollback.deciders)"] if role in deciders else []) + (
            [f"carries out the fallback's {', '.join(carries[role])}"] if role in carries else []
        )
        rows.append([role, team, "; ".join(parts) or "is informed"])
    if deciders:
        blocks.append(
            paragraph(
                f"Only a decider decides a rollback: `migrate rollback` is refused unless `--role` names one of "
                f"{', '.join(deciders)} (migration.yml rollback.deciders); who decided (`--decided-by`) and why "
                "(`--reason`) are recorded with the run in the control schema."
            )
        )
    else:
        blocks.append(
            paragraph(
                "migration.yml names no decider (rollback.deciders), so every rollback is refused: list the owner "
                "roles that decide under rollback.deciders."
            )
        )
    blocks.append(table(("role", "owner (migration.yml)", "part"), rows))
    signed = [a for a in f["approvals"] if a["stage"] == "rollback"]
    if signed:
        blocks.append(
            paragraph(
                "Recorded sign-offs of stage rollback (before the switch they approve this procedure; after it, a "
                "decider's sign-off meets the manual criterion): "
                + "; ".join(
                    f"{a['name']} ({a['role']}) at {when(a['approved_at'])}" + (f": {a['note']}" if a["note"] else "")
                    for a in signed
                )
                + "."
            )
        )
    return blocks


def _rollback_commands(f: dict) -> list[Block]:
    s = f["settings"]
    return [
        heading("Commands"),
        numbered(
            [
                "`migrate rollback --check`: evaluates every criterion above now and records it; exit 1 when one is "
                "met (a rollback is recommended), 0 when none is; changes nothing else.",
                "`migrate approve --stage rollback --role ROLE --name NAME --note WHY`: a decider's decision on record "
                "(the manual criterion).",
                f"`{ROLLBACK_COMMAND}`, ROLE one of {deciders(s)}: before the switch aborts the cutover, after it "
                "falls back; interrupted, the same command resumes.",
                "`migrate status`: the phase (syncing after an abort, fallen_back after a fallback).",
            ]
        ),
    ]


def _abort_procedure(f: dict) -> list[Block]:
    tables = ", ".join(t["name"] for t in f["settings"]["tables"])
    return [
        heading("Before the switch: abort the cutover"),
        numbered(
            [
                "The decision authority decides, against the criteria above.",
                f"`{ROLLBACK_COMMAND}`: unfreezes the source tables ({tables}), removes the reverse capture from the "
                "target tables, sets the phase back to syncing, and records the decision; change capture keeps "
                "running, so nothing written before, during or after is lost.",
                "`migrate status`: the source is writable again and the lag is low.",
                "`migrate reconcile`: source, landing and target agree again.",
                "Tell everyone (runbook.md, communication plan); to try again, fix the cause, `migrate rehearse`, "
                "approve again and run `migrate cutover`.",
            ]
        ),
    ]


def _fallback_procedure(f: dict) -> list[Block]:
    s = f["settings"]
    c = s["cutover"]
    last = f["fallback"]["runs"][-1] if f["fallback"]["runs"] else None
    measured = {x["step"]: x for x in (last or {}).get("steps") or []}
    rows = []
    for i, step in enumerate(f["fallback"]["steps"], start=1):
        done = measured.get(step)
        rows.append(
            [
                str(i),
                step,
                owner(s, FALLBACK_STEP_OWNERS.get(step, ())),
                step_words(step, FALLBACK_STEP_WORDS, "migrate rollback"),
                FALLBACK_GO_NO_GO.get(step, ""),
                duration(done["seconds"], done["status"])
                + ("" if done["status"] == "succeeded" else f" ({done['status']})")
                if done
                else "not run yet",
            ]
        )
    switch_back = c["switch_back_command"]
    blocks = [
        heading("After the switch: the fallback"),
        paragraph(
            "Once the applications are switched, `migrate rollback` falls back: every row the new application changed "
            "since the switch (logged with its before image by the cutover's reverse_capture) is turned into legacy "
            "form by the reverse models and written into the legacy schema, which stays frozen for everyone else until "
            "the end. Like the cutover it is a runbook of recorded steps (control tables `runs`, command fallback, and "
            "`steps`): killed and run again it resumes at the first step that did not succeed, and carrying back twice "
            "writes the same rows. Writes are unavailable from freeze_target to unfreeze_source."
        ),
        table(("#", "step", "owner", "what it does", "go / no-go", "last fallback"), rows, "rlllll"),
        paragraph(
            (
                f"The switch-back command of migration.yml: `{switch_back}`."
                if switch_back
                else "migration.yml names no switch-back command (cutover.switch_back_command): the switch back "
                f"writes only the routing file {c['routing_file']}."
            )
            + " After the fallback the phase is fallen_back: the legacy application writes the legacy schema again, "
            "the new side stays frozen, and a second `migrate rollback` is refused."
        ),
    ]
    return blocks


def _reverse_models(f: dict) -> list[Block]:
    reverse, dbt = f["fallback"], f["dbt"]
    blocks = [heading("The reverse models", 3)]
    if not dbt["available"]:
        return blocks + [paragraph(f"The reverse models cannot be listed: {dbt['reason']}.")]
    blocks.append(
        paragraph(
            "For each legacy table the fallback reads one relation, built by `dbt build --select tag:fallback`: the "
            "legacy columns, `_fallback_op` (I for a row born in the new system, U, D) and `_fallback_columns` (the "
            "legacy columns to write); only those columns are written."
        )
    )
    models = {m["name"]: m for m in dbt["models"]}
    rows = [
        [
            x["table"],
            x["relation"],
            x["file"] or "",
            "built by the model " + x["model"]
            if x["model"]
            else f"missing: the fallback stops before writing anything; add a model {x['relation'].split('.', 1)[1]} "
            f"(schema {x['relation'].split('.', 1)[0]}, tag fallback)",
        ]
        for x in reverse["tables"]
    ]
    blocks.append(table(("legacy table", "reverse relation", "file", "state"), rows))
    others = [
        models[name]
        for name in reverse["models"]
        if name in models and name not in {x["model"] for x in reverse["tables"]}
    ]
    if others:
        blocks.append(paragraph("Built with them:"))
        blocks.append(
            table(
                ("model", "file", "purpose"),
                [
                    [named(m["name"], m["link"]), m["file"], m["description"] or "no description in the YAML"]
                    for m in others
                ],
            )
        )
    files = ", ".join(reverse["yaml_files"]) or "no YAML file"
    if reverse["not_carried_back"]:
        blocks.append(paragraph(f"**What is not carried back** (the header of {files}): {reverse['not_carried_back']}"))
    elif reverse["models"]:
        blocks.append(
            paragraph(
                f"The header of the reverse models' YAML ({files}) does not say what is not carried back: state it "
                'there in a line "Not carried back: ...", so that the decision authority knows it before deciding.'
            )
        )
    return blocks


def _decommission(f: dict) -> list[Block]:
    s = f["settings"]
    d = f["decommission"]
    required = s["decommission"]["required_approvals"]
    signed = {a["role"]: a for a in f["approvals"] if a["stage"] == "decommission"}
    if required:
        approvals = (
            f"It needs the sign-off of stage decommission by {', '.join(owner(s, (r,)) for r in required)} "
            "(migration.yml decommission.required_approvals): "
            + "; ".join(
                f"{r}: {signed[r]['name']} at {when(signed[r]['approved_at'])}" if r in signed else f"{r}: not yet"
                for r in required
            )
            + "."
        )
    else:
        approvals = "migration.yml requires no sign-off for it (decommission.required_approvals is empty)."
    blocks = [
        heading("Decommission"),
        paragraph(
            f"When the rollback window ends, {rollback_window_end(f)}, `migrate decommission` ends the migration and "
            "with it the possibility of a fallback. It runs only while the applications are switched (before the "
            "switch and after a fallback it refuses); inside the window it refuses unless `--force --decided-by NAME "
            "--reason TEXT`, which are recorded. " + approvals
        ),
        numbered(
            [f"{step}: {step_words(step, DECOMMISSION_STEP_WORDS, 'migrate decommission')}" for step in d["steps"]]
        ),
        paragraph(
            f"The legacy schema is not made writable again: only `drop schema {d['read_only_schema']} cascade` on the "
            "source lifts its guards. An interrupted decommission resumes where it stopped."
        ),
    ]
    run = d["last_run"]
    if run is None:
        blocks.append(paragraph(MISSING["decommission"]))
    else:
        detail = run["detail"] or {}
        text = f"Decommission run {run['run_id']} {run['status']}, started {when(run['started_at'])}"
        text += f", finished {when(run['finished_at'])}" if run["finished_at"] else ""
        if detail.get("backup_id"):
            text += f"; archive backup #{detail['backup_id']}" + (
                f" ({detail['archive']})" if detail.get("archive") else ""
            )
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
        seconds, after = rehearsal_step(f, "rollback"), rehearsal_step(f, "verify_after_rollback")
        blocks.append(
            paragraph(
                f"The abort, in rehearsal {rehearsal['rehearsal_id']} ({rehearsal['status']}, "
                f"{when(rehearsal['finished_at'] or rehearsal['started_at'])}): "
                + (f"the rollback took {duration(seconds)}" if seconds is not None else "the rollback was not reached")
                + (f", and the reconciliation after it {duration(after)}." if after is not None else ".")
            )
        )
    runs = f["fallback"]["runs"]
    if not runs:
        blocks.append(
            paragraph(
                "The fallback: not measured, as none has run; the rehearsal stops before the switch and rehearses the "
                "abort only."
            )
        )
    else:
        last = runs[-1]
        unavailable = (last["detail"] or {}).get("write_unavailable_seconds")
        total = sum(x["seconds"] or 0 for x in last["steps"])
        blocks.append(
            paragraph(
                f"The fallback, in fallback run {last['run_id']} ({last['status']}): its steps took {duration(total)}"
                + (f"; writes were unavailable for {duration(unavailable)}." if unavailable is not None else ".")
            )
        )
    return blocks


def carried_total(carried: dict) -> str:
    totals = {op: sum(x.get(op) or 0 for x in carried.values()) for op in ("inserted", "updated", "deleted")}
    return (
        ", ".join(f"{count(n)} {op}" for op, n in totals.items()) + f" over {plural(len(carried), 'table')}"
        if carried
        else "nothing carried back"
    )


def _rollbacks_so_far(f: dict) -> list[Block]:
    aborts, fallbacks = f["rollbacks"], f["fallback"]["runs"]
    blocks = [heading("Rollbacks so far")]
    if not aborts and not fallbacks:
        return blocks + [
            paragraph("No rollback has been run on this migration: no abort before the switch, no fallback after it.")
        ]
    if aborts:
        blocks += [
            paragraph("Aborts before the switch:"),
            table(
                ("when", "decided by", "reason", "cutover run", "tables unfrozen"), [_rollback_row(r) for r in aborts]
            ),
        ]
    else:
        blocks.append(paragraph("No abort before the switch."))
    if not fallbacks:
        return blocks + [paragraph(MISSING["fallback"])]
    rows = []
    for r in fallbacks:
        detail = r["detail"] or {}
        unavailable = detail.get("write_unavailable_seconds")
        rows.append(
            [
                str(r["run_id"]),
                when(r["started_at"]),
                detail.get("decided_by") or "not recorded",
                detail.get("reason") or "not recorded",
                r["status"],
                carried_total(r["carried"]),
                duration(unavailable) if unavailable is not None else "not measured",
            ]
        )
    blocks += [
        paragraph("Fallbacks after the switch (control table `runs`, command fallback):"),
        table(("run", "when", "decided by", "reason", "status", "carried back", "writes unavailable"), rows),
    ]
    order = [t["name"] for t in f["settings"]["tables"]]  # the order of migration.yml, parents first, as carried
    carried = [
        [str(r["run_id"]), name, c.get("inserted"), c.get("updated"), c.get("deleted")]
        for r in fallbacks
        for name, c in sorted(r["carried"].items(), key=lambda x: order.index(x[0]) if x[0] in order else len(order))
    ]
    if carried:
        blocks += [
            paragraph("Carried back into the legacy schema, per table:"),
            table(("run", "legacy table", "inserted", "updated", "deleted"), carried, "llrrr"),
        ]
    return blocks


def _rollback_row(run: dict) -> list[str]:
    detail = run["detail"] or {}
    return [
        when(run["started_at"]),
        detail.get("decided_by") or "not recorded",
        detail.get("reason") or "not recorded",
        count(detail.get("cutover_run")) or "none running",
        count(len(detail.get("unfrozen") or [])),
    ]
