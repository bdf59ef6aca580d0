"""Constraints on the migration outside the data: how sync can capture changes with the
privileges the user has, keys nothing keeps unique, triggers and rules that write, and where the
target database differs from the source in version, encoding or locale."""

from __future__ import annotations

from harness.assess.model import BLOCKING, INFO, WARNING, Finding, TableAssessment
from harness.core.config import Config
from harness.engines.postgres import assess as pg
from harness.engines.postgres.capture import CAPTURE_SCHEMA
from harness.engines.postgres.capture import TRIGGER as CAPTURE_TRIGGER


def capture_paths(
    config: Config,
    server: pg.ServerInfo,
    privileges: dict,
    tables: list[TableAssessment],
    columns: dict[str, list[pg.ColumnInfo]],
) -> dict:
    """Whether sync can capture changes the way migration.yml says (capture.method), and what is missing.

    Trigger capture (harness/engines/postgres/capture.py) creates schema _migrate and a trigger per table: CREATE on
    the database and TRIGGER on the tables. Timestamp capture needs capture.column on every table.
    """
    existing = [t for t in tables if t.exists]
    trigger_missing = []
    if not (privileges.get("database_create") or privileges.get("capture_schema_create")):
        trigger_missing.append(f'CREATE on database "{server.database}" (for the change-log schema {CAPTURE_SCHEMA})')
    no_trigger = [t.name for t in existing if not t.can_trigger]
    if no_trigger:
        trigger_missing.append(f"TRIGGER on {', '.join(no_trigger)}")
    stamp = config.capture.column
    no_stamp = [t.name for t in existing if stamp not in {c.name for c in columns.get(t.name, [])}]
    if not stamp:
        timestamp_missing = ["capture.column (the last-updated column) in migration.yml"]
    else:
        timestamp_missing = [f"column {stamp!r} on {', '.join(no_stamp)}"] if no_stamp else []
    chosen = {"trigger": trigger_missing, "timestamp": timestamp_missing}.get(
        config.capture.method, privileges.get("capture_missing", [])
    )  # another method (binlog): what the source engine found missing
    missing = [f"{config.capture.method} change capture: " + " and ".join(chosen)] if chosen else []
    keyless = [t.name for t in existing if not t.key]
    if keyless:
        missing.append(f"a key on every table to apply changes by ({', '.join(keyless)} has none)")
    return {
        "capture_method": config.capture.method,
        "capture_trigger": not trigger_missing,
        "capture_trigger_missing": trigger_missing,
        "capture_timestamp": not timestamp_missing,
        "capture_timestamp_missing": timestamp_missing,
        "logical_decoding": server.settings.get("wal_level") == "logical" and (server.superuser or server.replication),
        "missing": missing,
    }


def constraint_findings(
    config: Config, privileges: dict, tables: list[TableAssessment], findings: list[Finding]
) -> None:
    for table in tables:
        if not table.exists:
            continue
        primary = any(k["primary"] for k in table.unique_keys)
        if table.key and not primary and not any(set(k["columns"]) == set(table.key) for k in table.unique_keys):
            findings.append(
                Finding(
                    WARNING,
                    "keys",
                    f"{table.name} has no primary key; migration.yml names ({', '.join(table.key)}), "
                    "which nothing in the source keeps unique",
                    "add a unique index on those columns at the source if the owners allow; until then a duplicate "
                    "written by the legacy application stops load or sync",
                    table=table.name,
                )
            )
        for trigger in table.triggers:
            if trigger["name"].startswith(CAPTURE_TRIGGER):
                continue  # the harness's own change capture, installed by sync
            findings.append(
                Finding(
                    WARNING,
                    "triggers",
                    f"{table.name} has trigger {trigger['name']} ({trigger['enabled']}): {trigger['definition']}",
                    "check what it writes: the target must reproduce it or the new application must own it",
                    table=table.name,
                )
            )
        for rule in table.rules:
            findings.append(
                Finding(
                    WARNING,
                    "triggers",
                    f"{table.name} has rule {rule['name']}: writes may be rewritten",
                    "reproduce or retire the rule's effect in the target",
                    table=table.name,
                )
            )
    if privileges.get("schema_exists") and not privileges.get("schema_usage"):
        findings.append(
            Finding(
                BLOCKING,
                "privileges",
                f'the migration user may not use schema "{config.source_schema}" (no USAGE)',
                f'grant usage on schema "{config.source_schema}" to the migration user',
            )
        )


def database_findings(source: pg.DatabaseLocale, target: pg.DatabaseLocale) -> list[Finding]:
    """Where the target database differs from the source in server version, encoding or default
    locale, and what follows from it. (Provision creates the target with the source's encoding and
    locale; a target made otherwise, or target.database_options, differs.)"""
    findings = []
    remedy = (
        "let `migrate provision` create the target database (it takes the source's encoding and locale), "
        "or set target.database_options in migration.yml; keep the difference only if the new application needs it"
    )
    s, t = source.options, target.options
    if s.encoding != t.encoding:
        findings.append(
            Finding(
                WARNING,
                "settings",
                f"the source database is encoded {s.encoding}, the target {t.encoding}: text is converted on its way "
                f"into landing, a character {t.encoding} cannot hold stops the load, lengths in bytes change, and the "
                "checksums hash every row as UTF-8 with md5 (portable, slower)",
                remedy,
            )
        )
    locale = _locale_finding(source, target, remedy)
    if locale:
        findings.append(locale)
    if source.major != target.major:
        newer = target.major > source.major
        findings.append(
            Finding(
                INFO if newer else WARNING,
                "settings",
                f"the source runs PostgreSQL {source.version}, the target {target.version}: "
                + (
                    "the models run on the newer server, whose planner, defaults and functions differ in places; "
                    "its ICU or C library may sort some text differently; a rehearsal on the "
                    "target's version shows both"
                    if newer
                    else "the target is older: a source backup cannot be restored onto its server, "
                    "and features the source uses may be missing there"
                ),
                "rehearse on the target's server version"
                if newer
                else "use a target server at least as new as the source's",
            )
        )
    return findings


def _locale_finding(source: pg.DatabaseLocale, target: pg.DatabaseLocale, remedy: str) -> Finding | None:
    """A warning when text sorts differently on the target, a note when it may beyond ASCII."""
    s, t = source.options, target.options
    differing = [
        name
        for name in ("lc_collate", "lc_ctype", "locale_provider", "icu_locale", "icu_rules", "builtin_locale")
        if getattr(s, name) != getattr(t, name)
    ]
    if not differing:
        return None
    options = "; ".join(
        f"{name} {getattr(s, name) or 'unset'} on the source, {getattr(t, name) or 'unset'} on the target"
        for name in differing
    )
    if source.sort_order != target.sort_order:
        consequence = (
            f"text sorts differently: {', '.join(pg.SORT_SAMPLE)} sort as {' < '.join(source.sort_order)} on the "
            "source "
            f"and as {' < '.join(target.sort_order)} on the target, so `order by`, <, >, min, max, between and "
            "unique indexes over text without a collation of its own give other results on the target"
        )
    else:
        consequence = (
            "text may sort differently beyond plain ASCII (accents, other scripts): `order by`, <, >, min and max "
            "over text without a collation of its own may give other results on the target"
        )
    if s.lc_ctype != t.lc_ctype:
        consequence += "; upper, lower, ILIKE and regular-expression classes may treat non-ASCII letters differently"
    # The harness's own key ranges, checksum segments and hashes do not depend on the default collation.
    return Finding(
        WARNING if source.sort_order != target.sort_order else INFO,
        "settings",
        f"the target database's default locale differs from the source's ({options}): {consequence}",
        remedy,
    )
