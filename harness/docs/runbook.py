"""runbook.md: the cutover runbook, step by step, with owners, planned starts and the real timeline."""

from __future__ import annotations

from harness.assess.estimates import STRATEGY_LABELS
from harness.docs import timeline
from harness.docs.shared import Doc, all_owners, approvals_section, duration, owner, provenance, standing, table, when
from harness.docs.words import GO_NO_GO, MISSING, ROLLBACK_COMMAND, STEP_OWNERS, STEP_WORDS, step_words
from harness.render import Block, charts, heading, numbered, paragraph


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


def document(f: dict) -> Doc:
    s = f["settings"]
    c = s["cutover"]
    steps = f["cutover"]["steps"]
    estimates = f["cutover"]["estimates"]
    blocks = [
        heading(f"Cutover runbook: {f['migration']}", 1),
        provenance(f),
        paragraph(f"**Where it stands:** {standing(f)}"),
        paragraph(
            f"Strategy {STRATEGY_LABELS.get(s['strategy'], s['strategy'])}. `migrate cutover` runs the steps below in order and "
            "records each one's start, end and outcome; run again after an interruption, it resumes at the first step that did "
            "not succeed. Durations are those of the last rehearsal (else of the last cutover); T is the moment preflight starts."
        ),
    ]
    blocks += _gates_section(f)

    approvers = (
        ", ".join(owner(s, (r,)) for r in c["required_approvals"]) or "nobody: migration.yml requires no approval"
    )
    rows = [
        [
            "0",
            "sign-off",
            approvers,
            "before T",
            "",
            "each required role approves the cutover stage",
            "go only with every approval",
        ]
    ]
    for i, (step, seconds, start, before) in enumerate(planned_starts(steps, estimates), start=1):
        planned = f"T+{duration(start)}" + (f" plus {', '.join(before)}" if before else "")
        rows.append(
            [
                str(i),
                step,
                owner(s, STEP_OWNERS.get(step, ())),
                planned,
                duration(seconds, "not measured yet"),
                step_words(step, STEP_WORDS, "migrate cutover"),
                GO_NO_GO.get(step, ""),
            ]
        )
    blocks += [
        heading("Steps"),
        table(("#", "step", "owner", "planned start", "duration", "what it does", "go / no-go"), rows, "rllrrll"),
    ]
    measured, complete = write_window(f)
    if measured is not None:
        blocks.append(
            paragraph(
                f"Writes are unavailable from freeze_source to the switch: {duration(measured)} measured"
                + ("" if complete else ", plus the steps not measured yet")
                + "."
            )
        )

    blocks += [
        heading("Commands"),
        numbered(
            [
                "`migrate status`: load finished, capture running, lag low, the next step named.",
                "`migrate reconcile`: a green reconciliation with the checksums level (counts alone do not open the gate) no older than "
                f"{c['reconcile_max_age_minutes']:g} minutes.",
                "`migrate backup --side source`, then `migrate restore --into SCRATCH_DB`: a verified source backup no older than "
                f"{c['backup_max_age_hours']:g} hours.",
                *(
                    [
                        f"`migrate approve --role {r} --name NAME --stage cutover`, by {owner(s, (r,))}."
                        for r in c["required_approvals"]
                    ]
                ),
                "`migrate cutover --dry-run`: the go / no-go; prints every gate and the planned durations and changes nothing.",
                "`migrate cutover`: the steps above; after an interruption, the same command resumes.",
                "`migrate status` and `migrate reconcile`: the state after the switch.",
                f"To abort before the switch, a decider ({deciders(s)}): `{ROLLBACK_COMMAND}` (rollback.md).",
            ]
        ),
    ]
    blocks += _after_switch(f)
    blocks += _communication(f)
    blocks += _actual(f)
    blocks += approvals_section(f)
    return Doc(
        "runbook",
        "Cutover runbook",
        "the cutover's steps with owners, planned start, measured durations, go / no-go points, "
        "commands, what follows the switch and communication; the last cutover's real timeline",
        blocks,
    )


def deciders(settings: dict) -> str:
    return ", ".join(settings["rollback"]["deciders"]) or "none named in migration.yml rollback.deciders"


def rollback_window_end(f: dict) -> str:
    """When the rollback window ends: the recorded moment, else its length after the switch."""
    phase = f.get("phase") or {}
    hours = f"{f['settings']['cutover']['rollback_window_hours']:g} hours"
    if phase.get("rollback_window_ends"):
        return f"{when(phase['rollback_window_ends'])} ({hours} after the switch)"
    return f"{hours} after the switch (migration.yml cutover.rollback_window_hours)"


def _after_switch(f: dict) -> list[Block]:
    s = f["settings"]
    required = s["decommission"]["required_approvals"]
    return [
        heading("After the switch"),
        numbered(
            [
                f"The rollback window: the source stays read-only until {rollback_window_end(f)}; a fallback is possible until the decommission.",
                "`migrate rollback --check`, during the window: evaluates the rollback criteria of migration.yml against the new system "
                "and records the evaluation; exit 1 when one is met, which recommends a rollback (rollback.md lists the criteria with "
                "their latest evaluation).",
                f"If a decider ({deciders(s)}) decides to go back: `{ROLLBACK_COMMAND}` falls back, carrying the new application's "
                "changes into the legacy schema before switching the applications back (rollback.md, the fallback step by step).",
                "When the window has ended: "
                + (
                    f"`migrate approve --stage decommission --role ROLE --name NAME` by {', '.join(owner(s, (r,)) for r in required)}, then "
                    if required
                    else ""
                )
                + "`migrate decommission`: a final verified archive of the source, capture removed, the legacy schema left read-only "
                "(rollback.md, decommission).",
            ]
        ),
    ]


def write_window(f: dict) -> tuple[float | None, bool]:
    """The measured time from the freeze to the switch (None when no step of it is measured), and
    whether every step of it is measured."""
    steps, estimates = f["cutover"]["steps"], f["cutover"]["estimates"]
    if "freeze_source" not in steps or "switch" not in steps:
        return None, False
    window = [estimates.get(x) for x in steps[steps.index("freeze_source") : steps.index("switch") + 1]]
    measured = [x for x in window if x is not None]
    return (sum(measured) if measured else None), len(measured) == len(window)


def gate_thresholds(settings: dict) -> dict[str, str]:
    c = settings["cutover"]
    return {
        "approvals": f"approvals of the cutover by {', '.join(c['required_approvals'])}"
        if c["required_approvals"]
        else "none required",
        "reconcile": f"a green reconciliation with the checksums level no older than {c['reconcile_max_age_minutes']:g} minutes",
        "backup": f"a verified source backup no older than {c['backup_max_age_hours']:g} hours",
        "rehearsal": "a successful rehearsal of the current models"
        if c["require_rehearsal"]
        else "not required by migration.yml",
        "capture_lag": f"capture lag at most {c['max_lag_seconds']:g} s",
    }


def _gates_section(f: dict) -> list[Block]:
    gates = f["gates"]
    thresholds = gate_thresholds(f["settings"])
    blocks = [heading("Go / no-go gates")]
    if gates["error"]:
        return blocks + [paragraph(f"The gates could not be checked at {when(gates['checked_at'])}: {gates['error']}.")]
    rows = [
        [g["name"], thresholds.get(g["name"], g["name"]), "pass" if g["passed"] else "FAIL", g["reason"]]
        for g in gates["gates"]
    ]
    failed = [g["name"] for g in gates["gates"] if not g["passed"]]
    return blocks + [
        paragraph(
            f"Checked at {when(gates['checked_at'])}, as `migrate cutover --dry-run` checks them: "
            + (f"the cutover would be refused ({', '.join(failed)})." if failed else "every gate passes.")
        ),
        table(("gate", "threshold (migration.yml)", "state", "why"), rows),
    ]


def _communication(f: dict) -> list[Block]:
    s = f["settings"]
    c = s["cutover"]
    lead = owner(s, ("migration_lead",))
    dba = owner(s, STEP_OWNERS["switch"])
    legacy_users, new_users = _users(s, "legacy_app_role", "legacy"), _users(s, "app_role", "new")
    measured, _ = write_window(f)
    expected = (
        f"about {duration(measured)} as measured"
        if measured is not None
        else "not measured yet (`migrate rehearse` measures it)"
    )
    rows = [
        [
            "when the window is agreed",
            lead,
            f"{all_owners(s)}; {legacy_users}",
            f"the window, the write unavailability ({expected}), the rollback criteria (rollback.md)",
        ],
        [
            "go / no-go (preflight)",
            lead,
            ", ".join(owner(s, (r,)) for r in c["required_approvals"]) or all_owners(s),
            "the state of every gate (`migrate cutover --dry-run`) and the decision",
        ],
        ["freeze_source", dba, legacy_users, "writes are refused from now until the switch"],
        [
            "final_verification passed",
            lead,
            owner(s, ("business_owner",)),
            "row counts and changed rows verified; last point to abort",
        ],
        [
            "switch",
            dba,
            f"{all_owners(s)}; {new_users}",
            f"the new system is live; the source stays read-only for {c['rollback_window_hours']:g} hours",
        ],
        [
            "a failure or a rollback",
            lead,
            all_owners(s),
            "what failed, who decided and why, when writes resume on the source",
        ],
        [
            "a fallback (after the switch)",
            lead,
            f"{all_owners(s)}; {new_users}; {legacy_users}",
            "who decided and why; writes are refused from freeze_target until unfreeze_source, then the legacy application writes again",
        ],
        [
            f"end of the rollback window ({c['rollback_window_hours']:g} h after the switch)",
            lead,
            all_owners(s),
            "the rollback window is closed; `migrate decommission` is next",
        ],
    ]
    return [heading("Communication plan"), table(("when", "who tells", "whom", "what"), rows)]


def _users(settings: dict, role: str, which: str) -> str:
    name = settings["roles"].get(role)
    return f"users of the {which} application" + (f" (database role {name})" if name else "")


def _actual(f: dict) -> list[Block]:
    run = f["cutover"]["last_run"]
    blocks = [heading("Last cutover: planned against real")]
    if run is None:
        return (
            blocks
            + [paragraph(MISSING["cutover"] + " The real timeline appears here after `migrate cutover`.")]
            + _gantt(f)
        )
    estimates = f["cutover"]["estimates"]
    done = {s["step"]: s for s in run["steps"]}
    rows = []
    for step, seconds, start, _ in planned_starts(f["cutover"]["steps"], estimates):
        real = done.get(step)
        if real is None:
            rows.append([step, f"T+{duration(start)}", duration(seconds, "not measured"), "not reached", "", ""])
            continue
        difference = (
            f"{round(real['seconds'] - seconds, 1) + 0.0:+.1f} s"
            if seconds is not None and real["seconds"] is not None
            else ""
        )
        rows.append(
            [
                step,
                f"T+{duration(start)}",
                duration(seconds, "not measured"),
                when(real["started_at"]),
                duration(real["seconds"], real["status"])
                + ("" if real["status"] == "succeeded" else f" ({real['status']})"),
                difference,
            ]
        )
    detail = run["detail"] or {}
    text = f"Cutover run {run['run_id']} {run['status']}, started {when(run['started_at'])}"
    text += f", finished {when(run['finished_at'])}" if run["finished_at"] else ""
    if detail.get("write_unavailable_seconds") is not None:
        text += f"; writes were unavailable for {duration(detail['write_unavailable_seconds'])}"
    if detail.get("rolled_back"):
        text += f"; rolled back, decided by {detail.get('decided_by') or 'someone not recorded'}: {detail.get('reason') or 'no reason recorded'}"
    return (
        blocks
        + [
            paragraph(text + "."),
            table(
                ("step", "planned start", "planned duration", "real start", "real duration", "difference"),
                rows,
                "lrrlrr",
            ),
        ]
        + _gantt(f)
    )


def _gantt(f: dict) -> list[Block]:
    """The steps as a Gantt chart: planned (the durations above, one after the other), the last
    rehearsal's, and the last cutover's as they really ran; shaded, the time writes were unavailable
    (really, else as planned). Nothing when no step has a duration yet."""
    steps, run, rehearsal = f["cutover"]["steps"], f["cutover"]["last_run"], f.get("rehearsal")
    bars = timeline.in_sequence(steps, f["cutover"]["estimates"], "planned")
    planned = timeline.planned_window(bars, "freeze_source", "switch")
    real = None
    if rehearsal:
        rehearsed = {s["step"]: s["seconds"] for s in rehearsal["steps"] if s["status"] == "succeeded"}
        bars += timeline.in_sequence(steps, rehearsed, "rehearsed")
    if run:
        start = timeline.origin(run)
        bars += timeline.recorded(run, start, "real")
        real = timeline.window(run, start, "freeze_source", "switch", "frozen_at", "switched_at")
    windows = [real or planned] if real or planned else []
    if not bars:
        return [paragraph("No step has a duration yet: `migrate rehearse` measures them, `migrate cutover` runs them.")]
    shaded = (
        f" Shaded: writes unavailable, from the freeze of the source to the switch "
        f"({'as it really was in the last cutover' if real else 'as planned'})."
        if windows
        else ""
    )
    return [
        paragraph(
            "The steps as a chart: **planned** (the durations above, one after the other), **rehearsed** (the last "
            "rehearsal's, one after the other), **real** (where and how long each step of the last cutover ran)."
            + shaded
        ),
        charts.gantt(
            "runbook-timeline",
            "The cutover's steps: planned, rehearsed and real (seconds after T)",
            steps,
            bars,
            windows,
            "seconds after T (the first step's start)",
        ),
    ]
