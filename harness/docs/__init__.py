"""`migrate docs`: the migration documents, generated from facts so that they never go stale.

The facts come only from what the harness and dbt hold: the control schema (loads, syncs,
backups, reconciliations, rehearsals, cutovers, rollbacks and fallbacks, rollback checks,
decommissions, approvals, the phase),
reports/assessment/latest/assessment.json, dbt's artifacts (manifest, run results, catalog), migration.yml and the
catalogs of the two databases. `collect` gathers them into one JSON document model, written as
<out>/migration-docs.json; every document is rendered from that JSON alone, so no document can
say more than the facts. Nothing here is specific to one migration: tables, models, owners and
checks are all read. Where a fact does not exist yet the documents say so in words, and which
command creates it; they never print a placeholder.

The package, one role a module:
- facts, dbt_facts: the facts gathered into the document model;
- words, shared: what the harness does in words, the formats and the sections documents share;
- plan, runbook, rollback, validation, transformations: one document each, laid out as blocks
  (harness.render renders them to Markdown and HTML);
- mapping: the schema mapping rows, as XLSX and CSV;
- writing: `generate`, the facts saved as JSON and every document written from it.
"""

from harness.docs.dbt_facts import test_purpose, test_threshold
from harness.docs.facts import collect, merged_steps, plain, settings
from harness.docs.writing import DOCS_JSON, DocsResult, generate

__all__ = [
    "DOCS_JSON",
    "DocsResult",
    "collect",
    "generate",
    "merged_steps",
    "plain",
    "settings",
    "test_purpose",
    "test_threshold",
]
