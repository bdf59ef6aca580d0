"""What every document shares: the formats of facts in words, the blocks with cells so
formatted, the Doc, and the sections more than one document shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness import render
from harness.assess.estimates import format_duration
from harness.docs.words import MISSING
from harness.render import Block, heading, paragraph

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
    return (
        ", ".join(f"{role} ({team})" for role, team in settings["owners"].items())
        or "the migration team (migration.yml names no owners)"
    )


# --- blocks -----------------------------------------------------------------------------------


def table(headers: tuple[str, ...], rows: list[list[Any]], align: str | None = None) -> Block:
    """A table whose cells are facts in words (counts with separators, booleans as yes/no); left-aligned
    unless told."""
    return render.table(headers, [[count(c) for c in row] for row in rows], align or "l" * len(headers))


@dataclass(frozen=True)
class Doc:
    name: str  # file stem
    title: str
    summary: str  # one line for the index
    blocks: list[Block]


# --- shared sections --------------------------------------------------------------------------


def provenance(f: dict) -> Block:
    return paragraph(
        f"Generated {when(f['generated_at'])} by `migrate docs` from the control schema "
        f"`{f['target']['control_schema']}` of {f['target']['database']}, the latest assessment "
        f"(reports/assessment/latest), the dbt artifacts and migration.yml. Source: {f['source']['database']}, schema "
        f"`{f['source']['schema']}`; landing schema `{f['target']['landing_schema']}`. Run `migrate docs` again to "
        "bring every document up to date."
    )


# Where a migration in each of these phases stands; {at} is when it entered the phase.
PHASE_STANDING = {
    "decommissioned": (
        "Decommissioned at {at}: the migration is complete; the legacy schema stays read-only and no fallback is "
        "possible any more."
    ),
    "fallen_back": (
        "Fell back at {at}: the new application's changes were carried back and the applications write to the legacy "
        "system again; the new side stays frozen."
    ),
    "falling_back": (
        "A fallback has been under way since {at}: the new side is frozen; the same `migrate rollback` resumes it."
    ),
    "switching": (
        "A cutover has been switching the applications to the new system since {at}: they may already write there, so "
        "`migrate cutover` finishes it and `migrate rollback` can only fall back."
    ),
    "frozen": "The source is frozen for a cutover since {at}.",
    "syncing": "A cutover was rolled back before the switch at {at}; captured changes are synced again.",
}


def standing(f: dict) -> str:
    """Where the migration stands, in one sentence."""
    phase, load, sync = f.get("phase"), f.get("load"), f.get("sync")
    if phase and phase["phase"] == "switched":
        ends = phase["rollback_window_ends"]
        text = f"Switched at {when(phase['switched_at'])}: the applications write to the new system; "
        if ends and ends <= f["generated_at"]:
            return text + f"the rollback window ended at {when(ends)}: `migrate decommission` is next."
        return text + f"the source stays read-only until {when(ends)} (the rollback window)."
    if phase and phase["phase"] in PHASE_STANDING:
        return PHASE_STANDING[phase["phase"]].format(at=when(phase["changed_at"]))
    if phase:
        return (
            f"In phase {phase['phase'].replace('_', ' ')} since {when(phase['changed_at'])} (`migrate status` tells "
            "the next step)."
        )
    if load is None:
        return MISSING["load"]
    if load["status"] != "succeeded":
        return f"The initial load {load['load_id']} is {load['status']}: running `migrate load` again resumes it."
    text = f"Loaded ({count(load['rows_copied'])} rows, load {load['load_id']} finished {when(load['finished_at'])})"
    if sync and sync["changes_applied"]:
        text += (
            f"; {plural(sync['changes_applied'], 'captured change')} synced since, the last batch at "
            f"{when(sync['applied_at'])}"
        )
    elif sync:
        text += f"; no captured change since (last sync {when(sync['applied_at'])})"
    return text + "."


def approvals_section(f: dict) -> list[Block]:
    blocks = [heading("Sign-off")]
    approvals = f["approvals"]
    required = f["settings"]["cutover"]["required_approvals"]
    owners = f["settings"]["owners"]
    if approvals:
        blocks.append(
            paragraph(
                "Who approved what, when and from which account (control table `approvals`; one sign-off stands "
                "per stage and role, until `migrate approve --revoke` withdraws it):"
            )
        )
        blocks.append(
            table(
                ("stage", "role", "owner", "approved by", "approved at", "run by", "note"),
                [
                    [
                        a["stage"],
                        a["role"],
                        owners.get(a["role"], "not in migration.yml"),
                        a["name"],
                        when(a["approved_at"]),
                        f"{a.get('os_user') or '?'}@{a.get('host') or '?'}",
                        (a["note"] or "")
                        + (f" (revoked {when(a['revoked_at'])} by {a['revoked_by']})" if a.get("revoked_at") else ""),
                    ]
                    for a in approvals
                ],
            )
        )
    else:
        blocks.append(paragraph(MISSING["approvals"]))
    if required:
        given = {a["role"] for a in approvals if a["stage"] == "cutover" and not a.get("revoked_at")}
        missing = [r for r in required if r not in given]
        blocks.append(
            paragraph(
                f"The cutover needs the approval of {', '.join(required)} (migration.yml cutover.required_approvals): "
                + ("all recorded." if not missing else f"missing {', '.join(missing)}.")
            )
        )
    else:
        blocks.append(
            paragraph("migration.yml requires no approval before the cutover (cutover.required_approvals is empty).")
        )
    return blocks


def latest_cutover_approvals(f: dict) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for a in f["approvals"]:
        if a["stage"] == "cutover" and not a.get("revoked_at"):
            latest[a["role"]] = a
    return latest


def rehearsal_step(f: dict, name: str) -> float | None:
    rehearsal = f.get("rehearsal")
    for s in (rehearsal or {}).get("steps") or []:
        if s["step"] == name and s["status"] == "succeeded":
            return s["seconds"]
    return None


def cutover_step(f: dict, name: str) -> dict | None:
    run = f["cutover"]["last_run"]
    return next((s for s in (run or {}).get("steps") or [] if s["step"] == name), None)


def level_summary(level: str, facts: dict | None) -> str:
    if facts is None:
        return f"{level}: not run yet"
    verdicts: dict[str, int] = {}
    for check in facts["checks"]:
        verdicts[check["verdict"]] = verdicts.get(check["verdict"], 0) + 1
    tally = ", ".join(f"{n} {verdict}" for verdict, n in sorted(verdicts.items())) or "no checks"
    return (
        f"{level} {facts['verdict']} in reconciliation #{facts['reconcile_id']} at {when(facts['finished_at'])} "
        f"({tally})"
    )
