"""The documents written to a folder: the facts saved as JSON, every document rendered from
that JSON alone as Markdown and HTML, the index, and the mapping spreadsheet."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import dbt, render
from harness.core.config import Config
from harness.core.connections import Database
from harness.docs import mapping, plan, rollback, runbook, transformations, validation
from harness.docs.facts import collect
from harness.docs.shared import Doc, provenance, standing, table
from harness.render import bullets, heading, paragraph

DOCS_JSON = "migration-docs.json"


@dataclass(frozen=True)
class DocsResult:
    out_dir: Path
    files: list[tuple[str, Path]]  # (what, path), in reading order
    facts: dict[str, Any]
    parsed: bool  # `dbt parse` ran first because target/manifest.json was missing


def generate(config: Config, source: Database, target: Database, out_dir: Path) -> DocsResult:
    """Collect the facts, save them as JSON, render every document from that JSON."""
    parsed = ensure_manifest(config, target)
    facts = collect(config, source, target, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DOCS_JSON
    render.write_atomic(path, json.dumps(facts, indent=2, ensure_ascii=False) + "\n")
    facts = json.loads(path.read_text())
    files = write_all(facts, out_dir)
    files.append(("mapping spreadsheet", mapping.write_xlsx(facts, out_dir / "mapping.xlsx")))
    files.append(("mapping, one row per column pair", mapping.write_csv(facts["mapping"], out_dir / "mapping.csv")))
    files.append(("the facts every document is rendered from", path))
    return DocsResult(out_dir, files, facts, parsed)


def ensure_manifest(config: Config, target: Database) -> bool:
    """Run `dbt parse` when the project has no target/manifest.json yet; True when it ran."""
    if (
        not (config.project_dir / "dbt_project.yml").exists()
        or (config.project_dir / "target" / "manifest.json").exists()
    ):
        return False
    dbt.run(config, target, ["parse"], quiet=True)
    return True


# Each document's layout, in reading order.
DOCUMENTS: tuple[Callable[[dict], Doc], ...] = (
    plan.document,
    runbook.document,
    rollback.document,
    validation.document,
    transformations.document,
)


def documents(f: dict) -> list[Doc]:
    return [build(f) for build in DOCUMENTS]


def markdown(doc: Doc) -> str:
    return render.markdown(doc.blocks)


def html_page(doc: Doc, nav: list[tuple[str, str]], migration: str) -> str:
    return render.html_page(doc.blocks, f"{doc.title}: {migration}", nav)


def index(f: dict, docs: list[Doc]) -> Doc:
    rows = [[f"[{d.title}]({d.name}.md)", f"[HTML]({d.name}.html)", d.summary] for d in docs]
    rows.append(
        [
            "[Schema mapping](mapping.xlsx)",
            "[CSV](mapping.csv)",
            "legacy table.column → target table.column with types, "
            "conversion, rule, disposition and the model that implements it; unmapped and dropped legacy columns",
        ]
    )
    rows.append(["[Facts](migration-docs.json)", "", "the JSON every document is rendered from"])
    blocks = [
        heading(f"Migration documents: {f['migration']}", 1),
        provenance(f),
        paragraph(f"**Where it stands:** {standing(f)}"),
        table(("document", "also as", "what it holds"), rows),
    ]
    if f["notes"]:
        blocks += [heading("What the facts could not say"), bullets(f["notes"])]
    return Doc("README", "Migration documents", "", blocks)


def write_all(f: dict, out_dir: Path) -> list[tuple[str, Path]]:
    """Every document as Markdown and HTML, and the index; returns (title, path) in reading order."""
    docs = documents(f)
    nav = [("Index", "index.html")] + [(d.title, f"{d.name}.html") for d in docs]
    cover = index(f, docs)
    written = []
    for doc in [cover, *docs]:
        md_path, html_path = (
            out_dir / f"{doc.name}.md",
            out_dir / ("index.html" if doc is cover else f"{doc.name}.html"),
        )
        render.write_atomic(md_path, markdown(doc))
        render.write_atomic(html_path, html_page(doc, nav, f["migration"]))
        written += [(doc.title, md_path), (f"{doc.title} (HTML)", html_path)]
    return written
