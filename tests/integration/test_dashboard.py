"""The dashboard on real runs: lag samples recorded by `sync --follow`, the page refreshed by the
commands that change the state, `status --watch`, and the demo story's dashboard carrying the
story's own figures (the Gantt's steps and durations are the control schema's)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from harness import dashboard, load, render
from harness.core import connections
from harness.core.config import load_config
from harness.demo.story import run_story
from harness.target import lag_samples
from tests.conftest import PROJECT_DIR, run_migrate
from tests.integration.conftest import rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHARTS = ("dispositions", "throughput", "lag", "timeline", "verdicts")


def samples(url: str, schema: str) -> int:
    with psycopg.connect(url) as conn:
        return len(lag_samples.newest(conn, schema))


def charts_of(facts: dict) -> dict[str, dict]:
    return {b["name"]: b for b in render.as_json(dashboard.blocks(facts)) if b["kind"] == "chart"}


def test_sync_follow_records_lag_samples_and_the_dashboard_refreshes(shop):
    config, source, target, migration, tmp_path = shop
    env = {**migration.env, "MIGRATE_PROJECT_DIR": str(tmp_path)}
    load.load(config, source, target)
    assert samples(migration.target_url, config.control_schema) == 0
    page = tmp_path / "reports" / "dashboard.html"
    assert not page.exists()

    run_migrate("sync", "--follow", "--duration", "2", "--interval", "0.2", "--no-build", env=env)
    recorded = rows(
        migration.target_url,
        "select landing_seconds, app_seconds, changes_behind from migrate_control.lag_samples order by sampled_at",
    )
    assert len(recorded) >= 3, recorded
    assert all(landing >= 0 and app >= landing and behind == 0 for landing, app, behind in recorded)

    # The command that changed the state wrote the dashboard when it finished; it draws those samples.
    html = page.read_text()
    assert 'id="chart-lag"' in html and 'id="chart-throughput"' in html
    facts = dashboard.collect(config, source, target)
    lag = charts_of(facts)["lag"]
    assert len(lag["rows"]) == 2 * len(recorded)
    assert [r[2] for r in lag["rows"] if r[0] == "landing"] == [r[0] for r in recorded]
    throughput = charts_of(facts)["throughput"]
    for table, count in (("Client", 5000), ("Basket", 6000), ("Tag", 2)):
        assert max(r[2] for r in throughput["rows"] if r[0] == table) == count

    # status --watch redraws until Ctrl-C, then exits 0.
    watcher = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "status", "--watch", "--interval", "0.3"],
        cwd=PROJECT_DIR,
        env={**os.environ, "COLUMNS": "200", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)  # started, read and drawn more than once, on a busy machine too
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert "landing lag, last samples" in out and "key ranges" in out and "next" in out
    assert "Traceback" not in err


def test_the_dashboard_after_the_demo_story_carries_its_figures(tmp_path, migration, monkeypatch):
    for name in ("models", "macros", "kit", "seeds", "profiles"):
        shutil.copytree(PROJECT_DIR / name, tmp_path / name)
    for name in ("dbt_project.yml", "packages.yml", "migration.yml", "selectors.yml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    config = load_config(tmp_path)
    # The story recreates its two databases: here, the test's own (dropped after it).
    source = connections.Database("source", migration.source_url, "MIGRATE_SOURCE_URL", True)
    target = connections.Database("target", migration.target_url, "MIGRATE_TARGET_URL", True)
    story = run_story(
        config, source, target, scale=300, seed=3, rate=5, on_event=lambda at, what, _: print(f"T+{at:.0f} s {what}")
    )
    assert story.ledger_check.ok

    written = dashboard.write(config, dataclasses.replace(source, embedded=False), target)
    html = written.html.read_text()
    for name in CHARTS:
        svg = re.search(rf'<svg id="chart-{name}".*?</svg>', html, re.S)
        assert svg and "<path" in svg.group(0), name
    assert "<script" not in html and "https://" not in html
    charts = charts_of(written.facts)

    # The Gantt: the cutover's and the fallback's steps, each for the seconds the control schema recorded.
    recorded = rows(
        migration.target_url,
        "select case when r.command = 'fallback' then 'fallback ' else '' end || s.step, "
        "extract(epoch from s.finished_at - s.started_at)::float8 from migrate_control.steps s "
        "join migrate_control.runs r using (run_id) "
        "where r.command in ('cutover', 'fallback') order by s.started_at",
    )
    real = [(r[0], r[3]) for r in charts["timeline"]["rows"] if r[1] == "real"]
    assert [step for step, _ in real] == [step for step, _ in recorded]
    assert real == [(step, round(seconds, 3)) for step, seconds in recorded]
    timeline_svg = re.search(r'<svg id="chart-timeline".*?</svg>', html, re.S).group(0)
    assert all(f">{step}<" in timeline_svg for step, _ in recorded)
    assert "writes unavailable" in timeline_svg

    dispositions = rows(
        migration.target_url,
        "select source_table, migrated, merged, quarantined from quarantine.dispositions order by source_table",
    )
    assert [tuple(r) for r in charts["dispositions"]["rows"]] == dispositions
    copied = dict(
        rows(
            migration.target_url,
            "select table_name, sum(rows_copied)::bigint from migrate_control.load_ranges "
            "where load_id = (select max(load_id) from migrate_control.load_runs) group by table_name",
        )
    )
    assert {t: max(r[2] for r in charts["throughput"]["rows"] if r[0] == t) for t in copied} == copied
    assert len(charts["lag"]["rows"]) >= 4, "the story's follow recorded lag samples"
    verdicts = rows(
        migration.target_url,
        "select '#' || reconcile_id, level_verdicts ->> 'counts' "
        "from migrate_control.reconcile_runs order by reconcile_id",
    )
    assert [(r[0], r[1]) for r in charts["verdicts"]["rows"]] == verdicts, "the story's and its cutover's"
    assert '<span class="verdict passed">passed</span>' in html
