"""validation.md: the test cases of every reconciliation level, with their last results."""

from __future__ import annotations

from harness.docs.shared import (
    Doc,
    approvals_section,
    count,
    cutover_step,
    dbt_command,
    duration,
    provenance,
    table,
    when,
)
from harness.docs.words import LEVEL_WORDS, MISSING
from harness.render import bullets, heading, paragraph


def level_threshold(level: str, settings: dict) -> str:
    words = LEVEL_WORDS.get(level, ("", ""))[1]
    return words.format(sample_size=settings["reconcile"]["sample_size"]) if words else level


def configured_checks(level: str, settings: dict) -> list[tuple[str, str]]:
    """The checks migration.yml defines for a level: (name, threshold)."""
    r = settings["reconcile"]
    if level == "rules":
        return [
            (x["name"], "figures equal per group" + (f" within {x['tolerance']:g}" if x["tolerance"] else ""))
            for x in r["rules"]
        ]
    if level == "performance":
        return [
            (
                x["name"],
                f"p95 ≤ {x['p95_ms']:g} ms over {x['runs']} runs" + (", reads an index" if x["require_index"] else ""),
            )
            for x in r["performance_queries"]
        ]
    if level == "smoke":
        return [(x["name"], f"expects {x['expect']}") for x in r["smoke"]]
    return []


def document(f: dict) -> Doc:
    s = f["settings"]
    levels = f["reconcile"]["levels"]
    blocks = [
        heading(f"Validation test cases: {f['migration']}", 1),
        provenance(f),
        paragraph(
            "Every check that `migrate reconcile` and dbt run: what it proves, its threshold, and its last result."
        ),
    ]
    rows = []
    for level, (proves, _) in LEVEL_WORDS.items():
        facts = levels.get(level)
        rows.append(
            [
                level,
                proves,
                level_threshold(level, s),
                f"#{facts['reconcile_id']} at {when(facts['finished_at'])}" if facts else "not run yet",
                facts["verdict"] if facts else "not run yet",
            ]
        )
    blocks += [
        heading("Reconciliation levels"),
        table(("level", "what it proves", "threshold", "last run", "last result"), rows),
    ]
    if not levels:
        blocks.append(paragraph(MISSING["reconcile"]))
    for level in LEVEL_WORDS:
        facts = levels.get(level)
        blocks.append(heading(f"Level {level}", 3))
        configured = configured_checks(level, s)
        if facts is None:
            blocks.append(paragraph(f"Not run yet (`migrate reconcile --level {level}`)."))
        else:
            blocks.append(
                paragraph(
                    f"Reconciliation #{facts['reconcile_id']} at {when(facts['finished_at'])}: {facts['verdict']}"
                    + (f", in {duration(facts['seconds'])}" if facts["seconds"] is not None else "")
                    + "."
                )
            )
            if facts["notes"]:
                blocks.append(bullets(facts["notes"]))
            if facts["checks"]:
                blocks.append(
                    table(
                        ("check", "result", "source", "target", "detail"),
                        [
                            [x["name"], x["verdict"], x["source"] or "", x["target"] or "", x["detail"] or ""]
                            for x in facts["checks"]
                        ],
                    )
                )
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
            blocks.append(
                paragraph(
                    f"Last dbt invocation recorded in target/run_results.json: dbt {dbt_command(results['which'])} "
                    f"at {when(results['generated_at'])} ({tally})."
                )
            )
        if dbt["tests"]:
            blocks.append(
                table(
                    ("test", "on", "what it proves", "threshold", "last result", "file"),
                    [
                        [
                            t["name"],
                            t["on"] + (f".{t['column']}" if t["column"] else ""),
                            t["purpose"],
                            t["threshold"],
                            _result_text(t["last"]),
                            t["file"],
                        ]
                        for t in dbt["tests"]
                    ],
                )
            )
        else:
            blocks.append(paragraph("The dbt project defines no data tests."))
        blocks.append(heading("dbt unit tests", 3))
        if dbt["unit_tests"]:
            blocks.append(
                table(
                    ("unit test", "model", "what it proves", "last result", "file"),
                    [
                        [u["name"], u["model"], u["purpose"], _result_text(u["last"]), u["file"]]
                        for u in dbt["unit_tests"]
                    ],
                )
            )
        else:
            blocks.append(paragraph("The dbt project defines no unit tests."))
        targets = [m for m in dbt["models"] if m["is_target"]]
        if targets:
            blocks.append(heading("Constraints the target database enforces", 3))
            blocks.append(
                table(
                    ("target table", "contract", "constraints declared in the database"),
                    [
                        [
                            m["relation"],
                            "enforced" if m["contract_enforced"] else "not enforced",
                            ", ".join(f"{n} {kind}" for kind, n in sorted(m["constraints"].items()))
                            or "none (the table is not built yet, or declares none)",
                        ]
                        for m in targets
                    ],
                )
            )

    blocks.append(heading("Cutover final verification"))
    verification = cutover_step(f, "final_verification")
    blocks.append(
        paragraph(
            "At the cutover: at catch_up, before the freeze, exact row counts of every listed table, source against "
            "landing, at one source snapshot (a counts reconciliation); after the freeze and the final sync, every "
            "landing row written since then compared with its source row; after the switch, every table counted again. "
            "Threshold: all equal, else the cutover stops before the switch (after it: `migrate rollback --check`)."
        )
    )
    if verification is None:
        blocks.append(paragraph("Not run yet: it runs inside `migrate cutover`."))
    else:
        detail = verification.get("detail") or {}
        recount = ((cutover_step(f, "source_read_only") or {}).get("detail") or {}).get("recount")
        counts = recount or detail.get("counts") or {}
        compared = detail.get("changed_rows_compared")
        counted = detail.get("counts_at_catch_up")
        blocks.append(
            paragraph(
                f"Cutover run {f['cutover']['last_run']['run_id']}, "
                f"{when(verification['finished_at'] or verification['started_at'])}: {verification['status']}"
                + (f"; counts at catch_up: reconciliation #{counted}" if counted else "")
                + (f"; {count(compared)} changed rows compared" if isinstance(compared, int) else "")
                + ("; the counts below are the recount after the switch" if recount else "")
                + "."
            )
        )
        if counts:
            blocks.append(
                table(
                    ("table", "source rows", "landing rows"),
                    [[name, c.get("source"), c.get("landing")] for name, c in counts.items()],
                    "lrr",
                )
            )
    blocks += approvals_section(f)
    return Doc(
        "validation",
        "Validation test cases",
        "every reconciliation check and dbt test: what it proves, its threshold, its last result",
        blocks,
    )


RESULT_WORDS = {"pass": "passed", "fail": "failed", "warn": "warned", "success": "passed"}


def _result_text(last: dict | None) -> str:
    if last is None:
        return "no result recorded yet"
    status = RESULT_WORDS.get(last["status"], last["status"])
    text = status + (
        f" ({count(last['failures'])} failing rows)"
        if isinstance(last.get("failures"), int) and last["failures"]
        else ""
    )
    return f"{text}, {last['by']} at {when(last['at'])}"
