"""transformations.md: every model and macro with its purpose and its place in the lineage."""

from __future__ import annotations

from harness.docs.shared import Doc, approvals_section, provenance, table, when
from harness.render import heading, paragraph

TRANSFORMATIONS_SUMMARY = "every model and macro with its purpose and its place in the lineage"


def named(name: str, link: str | None) -> str:
    return f"[{name}]({link})" if link else name


def _arguments(arguments: list[dict]) -> str:
    return (
        "; ".join(f"{a['name']}: {(a['description'] or a['type'] or 'undocumented').rstrip('.')}" for a in arguments)
        or "none"
    )


def document(f: dict) -> Doc:
    dbt = f["dbt"]
    blocks = [heading(f"Transformation scripts: {f['migration']}", 1), provenance(f)]
    if not dbt["available"]:
        blocks.append(paragraph(f"No transformations to list: {dbt['reason']}."))
        return Doc("transformations", "Transformation scripts", TRANSFORMATIONS_SUMMARY, blocks + approvals_section(f))
    site = dbt["docs_site"]
    if site:
        blocks.append(
            paragraph(
                f"dbt docs, with the lineage graph: [{site['link']}]({site['link']}) (generated "
                f"{when(site['generated_at'])}); each name below links to its page there."
            )
        )
    else:
        blocks.append(
            paragraph(
                "The dbt docs site with the lineage graph is not generated yet: run "
                '`eval "$(migrate env shell)" && dbt docs generate --profiles-dir profiles`, which writes '
                "target/index.html, then `migrate docs` again to link it."
            )
        )
    blocks.append(
        paragraph(
            f"dbt project `{dbt['project']}` (dbt {dbt['dbt_version']}, manifest of "
            f"{when(dbt['manifest_generated_at'])}): {len(dbt['models'])} models, {len(dbt['macros'])} macros, "
            f"{len(dbt['seeds'])} seeds, {len(dbt['tests'])} data tests, {len(dbt['unit_tests'])} unit tests. Layers, "
            f"upstream first: {' → '.join(dbt['layers']) or 'none'}."
        )
    )
    if dbt["sources"]:
        blocks += [
            heading("Sources"),
            table(
                ("source", "relation", "what it is", "read by"),
                [
                    [
                        named(x["name"], x["link"]),
                        x["relation"],
                        x["description"] or "no description in the YAML",
                        ", ".join(x["referenced_by"]) or "no model",
                    ]
                    for x in dbt["sources"]
                ],
            ),
        ]
    for layer in dbt["layers"]:
        models = [m for m in dbt["models"] if m["layer"] == layer]
        blocks += [
            heading(f"Models: {layer}"),
            table(
                ("model", "file", "materialized", "purpose", "depends on", "referenced by"),
                [
                    [
                        named(m["name"], m["link"]) + (" (target table)" if m["is_target"] else ""),
                        m["file"],
                        m["materialized"] or "",
                        m["description"] or "no description in the YAML",
                        ", ".join(m["depends_on"]) or "nothing",
                        ", ".join(m["referenced_by"]) or "no model",
                    ]
                    for m in models
                ],
            ),
        ]
    if dbt["seeds"]:
        blocks += [
            heading("Seeds"),
            table(
                ("seed", "file", "purpose", "referenced by"),
                [
                    [
                        named(x["name"], x["link"]),
                        x["file"],
                        x["description"] or "no description in the YAML",
                        ", ".join(x["referenced_by"]) or "no model",
                    ]
                    for x in dbt["seeds"]
                ],
            ),
        ]
    blocks.append(heading("Macros"))
    if dbt["macros"]:
        blocks.append(
            table(
                ("macro", "file", "purpose", "arguments", "used by"),
                [
                    [
                        named(m["name"], m["link"]),
                        m["file"],
                        m["description"] or "no description in macros YAML",
                        _arguments(m["arguments"]),
                        ", ".join(m["used_by"]) or "no model or macro",
                    ]
                    for m in dbt["macros"]
                ],
            )
        )
    else:
        blocks.append(paragraph("The project defines no macros of its own."))
    blocks += approvals_section(f)
    return Doc("transformations", "Transformation scripts", TRANSFORMATIONS_SUMMARY, blocks)
