"""The dbt project as the documents show it: models, tests, macros and their lineage from
dbt's artifacts, with each test's purpose in words and the reverse models of the fallback."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.core.config import Config
from harness.dbt import artifacts as dbt_artifacts
from harness.dbt import contract as dbt_contract
from harness.docs import mapping


def _display(unique_id: str, manifest: dict) -> str:
    """A node's name as a reader knows it: customer, oms.CUSTOMER, country_codes."""
    for group in ("nodes", "sources", "unit_tests"):
        node = (manifest.get(group) or {}).get(unique_id)
        if node:
            return f"{node['source_name']}.{node['name']}" if group == "sources" else str(node.get("name"))
    macro = (manifest.get("macros") or {}).get(unique_id)
    return str(macro.get("name")) if macro else unique_id.split(".")[-1]


def leading_comment(code: str) -> str:
    """The comment that opens a SQL file (-- lines or a {# #} block): what a singular test proves."""
    text = code.lstrip()
    block = re.match(r"\{#(.*?)#\}", text, re.S)
    if block:
        return " ".join(block.group(1).split())
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        lines.append(stripped.lstrip("-").strip())
    return " ".join(" ".join(lines).split())


def _reference(text: str) -> str:
    """ "ref('category')" → category; "source('oms', 'X')" → oms.X."""
    names = re.findall(r"['\"]([^'\"]+)['\"]", text or "")
    return ".".join(names) if names else str(text)


def test_purpose(node: dict, manifest: dict) -> str:
    """What a dbt data test proves, in words, from its kind and arguments or its own comment."""
    meta = node.get("test_metadata") or {}
    kind = meta.get("name")
    kwargs = meta.get("kwargs") or {}
    attached = node.get("attached_node")
    on = (
        _display(attached, manifest)
        if attached
        else ", ".join(_display(n, manifest) for n in (node.get("depends_on") or {}).get("nodes") or [])
    )
    column = node.get("column_name") or kwargs.get("column_name")
    where = f"{on}.{column}" if column else on
    if node.get("description"):
        return str(node["description"]).strip()
    if kind == "unique":
        return f"no two rows of {on} share the same {column}"
    if kind == "not_null":
        return f"{where} is never NULL"
    if kind == "accepted_values":
        return f"{where} holds only the values {', '.join(map(str, kwargs.get('values') or []))}"
    if kind == "relationships":
        return f"every {where} exists in {_reference(kwargs.get('to'))}.{kwargs.get('field')}"
    if kind:
        namespace = meta.get("namespace") or node.get("package_name")
        macro = (manifest.get("macros") or {}).get(f"macro.{namespace}.test_{kind}") or {}
        described = str(macro.get("description") or "").strip()
        return f"{described} ({on})" if described else f"the {kind} test finds no failing rows in {on}"
    comment = leading_comment(str(node.get("raw_code") or ""))
    return comment or f"the query in {node.get('original_file_path')} returns no rows"


def test_threshold(config: dict) -> str:
    severity = str(config.get("severity") or "error").lower()
    fail_calc = config.get("fail_calc") or "count(*)"
    text = (
        f"warns when {fail_calc} {config.get('warn_if') or '!= 0'}"
        if severity == "warn"
        else f"fails when {fail_calc} {config.get('error_if') or '!= 0'}"
    )
    if config.get("where"):
        text += f", over the rows where {config['where']}"
    return text


def _last_results(artifacts: dbt_artifacts.Artifacts, rules_level: dict | None) -> tuple[dict[str, dict], dict | None]:
    """unique_id → the last result dbt recorded for it, and what the run results file holds."""
    results: dict[str, dict] = {}
    run = artifacts.run_results
    summary = None
    if run:
        which = str((run.get("args") or {}).get("which") or "")
        at = (run.get("metadata") or {}).get("generated_at")
        statuses: dict[str, int] = {}
        for node in run.get("results") or []:
            status = str(node.get("status") or "").lower()
            statuses[status] = statuses.get(status, 0) + 1
            if which not in ("build", "test"):
                continue  # compile, run or docs: no test ran
            message = str(node.get("message") or "").strip().splitlines()
            results[str(node.get("unique_id"))] = {
                "status": status,
                "failures": node.get("failures"),
                "message": message[0] if message else "",
                "at": at,
                "by": f"dbt {which}",
            }
        summary = {"which": which, "generated_at": at, "elapsed_seconds": run.get("elapsed_time"), "statuses": statuses}
    if rules_level:
        summary_check = next((c for c in rules_level["checks"] if c["name"] == "dbt tests"), None)
        if summary_check:
            failing = {
                c["name"] for c in rules_level["checks"] if c["verdict"] == "failed" and c["name"] != "dbt tests"
            }
            by = (
                f"reconciliation #{rules_level['reconcile_id']} "
                f"(dbt tests: {summary_check['target'] or summary_check['verdict']})"
            )
            results["__reconcile__"] = {
                "failing": sorted(failing),
                "by": by,
                "at": rules_level["finished_at"],
                "passed": summary_check["verdict"] == "passed",
            }
    return results, summary


def _result_for(unique_id: str, results: dict[str, dict]) -> dict | None:
    if unique_id in results:
        return results[unique_id]
    reconciled = results.get("__reconcile__")
    if reconciled is None:
        return None
    failed = unique_id.split(".", 2)[-1] in reconciled["failing"]
    if not failed and not reconciled["passed"] and not reconciled["failing"]:
        return None  # dbt test itself could not run: nothing is known of this test
    return {
        "status": "fail" if failed else "pass",
        "failures": None,
        "message": "",
        "at": reconciled["at"],
        "by": reconciled["by"],
    }


def collect_dbt(
    config: Config, artifacts: dbt_artifacts.Artifacts, out_dir: Path, rules_level: dict | None
) -> dict[str, Any]:
    project = config.project_dir
    if not (project / "dbt_project.yml").exists():
        return {
            "available": False,
            "reason": "the project folder has no dbt_project.yml, so there are no models to document",
        }
    manifest = artifacts.manifest
    if manifest is None:
        return {"available": False, "reason": "target/manifest.json is missing or unreadable: run `dbt parse`"}
    nodes = manifest.get("nodes") or {}
    children = manifest.get("child_map") or {}
    depth = mapping.node_depths(manifest)
    targets = {m.unique_id: m for m in dbt_artifacts.models(artifacts)}
    site = project / "target" / "index.html"
    site_link = os.path.relpath(site, out_dir) if site.exists() else None
    results, run_summary = _last_results(artifacts, rules_level)

    def names(ids: list[str], prefixes: tuple[str, ...]) -> list[str]:
        return sorted({_display(i, manifest) for i in ids if i.startswith(prefixes)})

    def link(unique_id: str) -> str | None:
        kind = unique_id.split(".", 1)[0]
        return f"{site_link}#!/{kind}/{unique_id}" if site_link else None

    models = []
    for unique_id, node in nodes.items():
        if node.get("resource_type") != "model":
            continue
        fqn = node.get("fqn") or []
        model = targets.get(unique_id)
        models.append(
            {
                "name": node.get("name"),
                "unique_id": unique_id,
                "layer": str(fqn[1]) if len(fqn) > 2 else "models",
                "relation": model.relation
                if model
                else f"{node.get('schema')}.{node.get('alias') or node.get('name')}",
                "file": node.get("original_file_path"),
                "materialized": (node.get("config") or {}).get("materialized"),
                "description": str(node.get("description") or "").strip(),
                "depends_on": names(
                    (node.get("depends_on") or {}).get("nodes") or [], ("model.", "source.", "seed.", "snapshot.")
                ),
                "referenced_by": names(children.get(unique_id) or [], ("model.", "snapshot.")),
                "tests": len([c for c in children.get(unique_id) or [] if c.startswith("test.")]),
                "tags": list(node.get("tags") or []),
                "yaml_file": str(node.get("patch_path") or "").split("://", 1)[-1] or None,
                "contract_enforced": bool(model and model.contract_enforced),
                "is_target": bool(model and model.is_target),
                "depth": depth.get(unique_id, 0),
                "link": link(unique_id),
            }
        )
    models.sort(key=lambda m: (m["depth"], m["name"]))
    layer_depth: dict[str, int] = {}
    for m in models:
        layer_depth[m["layer"]] = min(layer_depth.get(m["layer"], m["depth"]), m["depth"])

    package = artifacts.project_name
    macro_users: dict[str, set[str]] = {}
    for group in ("nodes", "macros"):
        for unique_id, node in (manifest.get(group) or {}).items():
            if group == "nodes" and node.get("resource_type") == "test":
                continue
            for used in (node.get("depends_on") or {}).get("macros") or []:
                macro_users.setdefault(used, set()).add(_display(unique_id, manifest))
    macros = [
        {
            "name": m.get("name"),
            "file": m.get("original_file_path"),
            "description": str(m.get("description") or "").strip(),
            "arguments": [
                {"name": a.get("name"), "type": a.get("type"), "description": a.get("description")}
                for a in m.get("arguments") or []
            ],
            "used_by": sorted(macro_users.get(unique_id, set())),
            "link": link(unique_id),
        }
        for unique_id, m in sorted((manifest.get("macros") or {}).items())
        if m.get("package_name") == package
    ]
    tests = []
    for unique_id, node in sorted(nodes.items()):
        if node.get("resource_type") != "test":
            continue
        attached = node.get("attached_node")
        tests.append(
            {
                "name": node.get("name"),
                "unique_id": unique_id,
                "kind": (node.get("test_metadata") or {}).get("name") or "singular",
                "on": _display(attached, manifest)
                if attached
                else ", ".join(
                    names(
                        (node.get("depends_on") or {}).get("nodes") or [], ("model.", "source.", "seed.", "snapshot.")
                    )
                ),
                "column": node.get("column_name"),
                "file": node.get("original_file_path"),
                "purpose": test_purpose(node, manifest),
                "threshold": test_threshold(node.get("config") or {}),
                "last": _result_for(unique_id, results),
            }
        )
    unit_tests = [
        {
            "name": u.get("name"),
            "model": u.get("model"),
            "file": u.get("original_file_path"),
            "purpose": str(u.get("description") or "").strip()
            or f"the model {u.get('model')} turns the given rows into the expected rows",
            "last": _result_for(unique_id, results),
        }
        for unique_id, u in sorted((manifest.get("unit_tests") or {}).items())
    ]
    seeds = [
        {
            "name": n.get("name"),
            "file": n.get("original_file_path"),
            "description": str(n.get("description") or "").strip(),
            "referenced_by": names(children.get(unique_id) or [], ("model.",)),
            "link": link(unique_id),
        }
        for unique_id, n in sorted(nodes.items())
        if n.get("resource_type") == "seed"
    ]
    sources = [
        {
            "name": f"{s.get('source_name')}.{s.get('name')}",
            "relation": f"{s.get('schema')}.{s.get('identifier') or s.get('name')}",
            "description": str(s.get("description") or "").strip(),
            "referenced_by": names(children.get(unique_id) or [], ("model.",)),
            "link": link(unique_id),
        }
        for unique_id, s in sorted((manifest.get("sources") or {}).items())
    ]
    metadata = manifest.get("metadata") or {}
    return {
        "available": True,
        "project": package,
        "dbt_version": metadata.get("dbt_version"),
        "manifest_generated_at": metadata.get("generated_at"),
        "docs_site": {"link": site_link, "generated_at": datetime.fromtimestamp(site.stat().st_mtime, UTC)}
        if site_link
        else None,
        "run_results": run_summary,
        "layers": sorted(layer_depth, key=lambda layer: (layer_depth[layer], layer)),
        "models": models,
        "sources": sources,
        "seeds": seeds,
        "macros": macros,
        "tests": tests,
        "unit_tests": unit_tests,
    }


# --- the reverse models of the fallback ----------------------------------------------------------


def reverse_models(config: Config, dbt_facts: dict[str, Any]) -> dict[str, Any]:
    """The relation the fallback reads for each legacy table (fallback.reverse_relation's
    convention) and the model that builds it, the models `migrate rollback` builds (tag
    fallback), and what their YAML's header says is not carried back."""
    models = dbt_facts.get("models", [])
    by_relation = {m["relation"]: m for m in models}
    tables = []
    for table in config.tables:
        relation = f"{dbt_contract.FALLBACK_SCHEMA}.{dbt_contract.fallback_relation_name(table.name)}"
        model = by_relation.get(relation)
        tables.append(
            {
                "table": table.name,
                "relation": relation,
                "model": model["name"] if model else None,
                "file": model["file"] if model else None,
            }
        )
    built = [m for m in models if dbt_contract.FALLBACK_TAG in m["tags"]]
    files = sorted({m["yaml_file"] for m in built if m["yaml_file"]})
    header = "\n\n".join(h for h in (yaml_header(config.project_dir / f) for f in files) if h)
    return {
        "tables": tables,
        "models": [m["name"] for m in built],
        "yaml_files": files,
        "header": header or None,
        "not_carried_back": not_carried_back(header),
    }


def yaml_header(path: Path) -> str:
    """The comment that opens a YAML file, its lines without the leading `#`."""
    try:
        text = path.read_text()
    except OSError:
        return ""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return "\n".join(lines).strip()


def not_carried_back(header: str) -> str | None:
    """The sentence of a header that starts "Not carried back", to the end of its paragraph."""
    found = re.search(r"not carried back\b.*?(?=\n\s*\n|\n\s*- |\Z)", header or "", re.I | re.S)
    return " ".join(found.group(0).split()) if found else None
