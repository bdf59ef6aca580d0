"""The rollback and decommission sections of migration.yml: strict like the rest."""

from pathlib import Path

import pytest

from harness.core.config import load_config
from harness.core.errors import ConfigError

VALID = """
source: {schema: oms, database: legacy}
target: {database: commerce}
tables:
  CUSTOMER: {key: [CUST_ID]}
owners: {migration_lead: Data, business_owner: Orders, dba: DBA}
cutover: {required_approvals: [dba]}
reconcile:
  performance_queries:
    - {name: customer by email, sql: select 1, p95_ms: 20}
"""

ROLLBACK = (
    VALID
    + """
rollback:
  deciders: [migration_lead, business_owner]
  criteria:
    - {name: verification failed, kind: verification}
    - {name: error rate, kind: metric, sql: select 0.01, max: 0.02}
    - {name: health, kind: metric, command: ./health --rate, min: 1, max: 5}
    - {name: latency, kind: latency}
decommission:
  required_approvals: [dba]
"""
)


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "migration.yml").write_text(text)
    return tmp_path


def test_rollback_section_loads_and_always_includes_a_manual_decision(tmp_path):
    config = load_config(write(tmp_path, ROLLBACK))
    assert config.rollback.deciders == ("migration_lead", "business_owner")
    verification, rate, health, latency, manual = config.rollback.criteria
    assert (rate.kind, rate.sql, rate.max, rate.min) == ("metric", "select 0.01", 0.02, None)
    assert (health.command, health.min, health.max) == (("./health", "--rate"), 1.0, 5.0)
    assert (latency.kind, manual.kind, manual.name) == ("latency", "manual", "manual decision")
    assert config.decommission.required_approvals == ("dba",)


def test_without_a_rollback_section_the_cutover_approvers_decide_on_the_default_criteria(tmp_path):
    config = load_config(write(tmp_path, VALID))
    assert config.rollback.deciders == ("dba",)
    assert [c.kind for c in config.rollback.criteria] == ["verification", "data_loss", "manual"]
    assert config.decommission.required_approvals == ()


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "deciders: [migration_lead, business_owner]",
            "deciders: [migration_lead, cfo]",
            "rollback.deciders names cfo, which are not under 'owners'",
        ),
        ("deciders: [migration_lead, business_owner]", "decider: [dba]", "unknown key(s) decider under 'rollback'"),
        ("kind: verification}", "kind: vibes}", "rollback.criteria[0] (verification failed): kind 'vibes' is unknown"),
        ("kind: verification}", "kind: verification, max: 1}", "max is not used by kind verification"),
        ("sql: select 0.01, max: 0.02}", "max: 0.02}", "a metric needs exactly one of sql (on the target) or command"),
        ("sql: select 0.01, max: 0.02}", "sql: select 0.01}", "a metric needs a limit: max, min or both"),
        ("max: 0.02}", "max: lots}", "max must be a number, not 'lots'"),
        ("min: 1, max: 5}", "min: 6, max: 5}", "min 6 is above max 5"),
        ("max: 0.02}", "max: 0.02, limit: 1}", "unknown key(s) limit under rollback.criteria[1]"),
        (
            "{name: latency, kind: latency}",
            "{name: error rate, kind: latency}",
            "the name 'error rate' is used twice under rollback.criteria",
        ),
        (
            "required_approvals: [dba]\n",
            "required_approvals: [janitor]\n",
            "decommission.required_approvals names janitor",
        ),
        ("decommission:\n", "decommision:\n", "unknown key(s) decommision"),
    ],
)
def test_rollback_mistakes_are_named(tmp_path, old, new, message):
    assert old in ROLLBACK
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, ROLLBACK.replace(old, new)))
    assert message in str(raised.value)


def test_a_latency_criterion_needs_performance_queries(tmp_path):
    text = ROLLBACK.replace(
        "  performance_queries:\n    - {name: customer by email, sql: select 1, p95_ms: 20}\n", "  sample_size: 10\n"
    )
    with pytest.raises(
        ConfigError, match="kind latency times reconcile.performance_queries, and migration.yml lists none"
    ):
        load_config(write(tmp_path, text))


def test_the_project_migration_yml_loads():
    config = load_config(Path(__file__).resolve().parents[2])
    assert {c.kind for c in config.rollback.criteria} == {"verification", "data_loss", "metric", "latency", "manual"}
