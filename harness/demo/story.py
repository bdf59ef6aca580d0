"""The demo's parallel-run story, end to end on the embedded server, with its timeline.
With a MySQL-family source (`--source-engine mysql`) the legacy database is a MariaDB (or MySQL) and
the target the embedded PostgreSQL; the dbt models are the same.

Seed the legacy source; start the legacy application's traffic; load under it; build; sync;
reconcile; cut over (the applications follow the routing file to the new system); let the new
application write; fall back (its changes carried into the legacy schema); let the legacy
application write again; then check the one ledger of both applications against the legacy
database. The cutover's gates are skipped: approvals are people's decisions, not the demo's.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import cutover, load, reconcile, rollback, sync
from harness.core import connections
from harness.core.config import CaptureConfig, Config, Endpoint
from harness.core.connections import Database
from harness.core.errors import CheckFailed, ConfigError
from harness.demo import run as demo
from harness.demo.dialects import MysqlDialect
from harness.demo.ledger import LedgerCheck
from harness.demo.traffic import TrafficReport, run_traffic, verify_after_fallback


@dataclass
class Story:
    started: float = field(default_factory=time.time)
    timeline: list[tuple[float, str, str]] = field(default_factory=list)  # seconds since start, event, figures
    traffic: TrafficReport | None = None
    ledger_check: LedgerCheck | None = None
    dispositions: list[tuple] = field(default_factory=list)


def mysql_source_config(config: Config, source: Database) -> Config:
    """The demo's migration.yml with a MySQL-family source: its database is the legacy schema, read
    by the binary log."""
    return dataclasses.replace(
        config,
        source=Endpoint("mysql", source.name, source.url, source.setting),
        source_schema=source.name,
        capture=CaptureConfig(method="binlog"),
    )


def run_story(
    config: Config,
    source: Database,
    target: Database,
    *,
    scale: int,
    seed: int,
    rate: float = 50.0,
    jobs: int = 2,
    on_event: Callable[[float, str, str], None] | None = None,
) -> Story:
    mysql = source.engine == "mysql"  # a MySQL-family source: config from mysql_source_config
    if not target.embedded or not (source.embedded or mysql):
        raise ConfigError(
            "the demo story drops and recreates its databases, so it runs only on the embedded server: "
            "unset MIGRATE_SOURCE_URL and MIGRATE_TARGET_URL"
        )
    story = Story()
    routing = config.project_dir / config.cutover.routing_file
    ledger_path = config.project_dir / ".migrate" / "ledger" / "demo-story.jsonl"
    config = dataclasses.replace(
        config, cutover=dataclasses.replace(config.cutover, switch_command=None, switch_back_command=None)
    )

    def event(what: str, figures: str = "") -> None:
        story.timeline.append((time.time() - story.started, what, figures))
        if on_event:
            on_event(*story.timeline[-1])

    admin = connections.with_database(target.url, "postgres")
    # A fresh start: the control schema remembers earlier runs. A MySQL source is recreated by its seed.
    for db in (target,) if mysql else (source, target):
        connections.drop_database(admin, db.name)
        connections.create_database(admin, db.name)
    routing.unlink(missing_ok=True)
    ledger_path.unlink(missing_ok=True)
    seeded = demo.seed(source, scale, seed, scratch_admin_url=admin)
    planted = "".join(f"; {count:,} {name.removeprefix('mysql.')}" for name, count in seeded.defects.items())
    event("legacy source seeded", f"{seeded.total:,} rows{planted}")
    masks = {t.name: dict(t.masks) for t in config.tables if t.masks}

    stop = threading.Event()
    traffic = threading.Thread(
        target=lambda: setattr(
            story,
            "traffic",
            run_traffic(
                source,
                config.source_schema,
                ledger_path,
                rate=rate,
                duration=24 * 3600,
                stop=stop,
                new_db=target,
                routing_file=routing,
                masks=masks,
            ),
        )
    )
    traffic.start()
    event("legacy application writing", f"{rate:g} transactions/s, every acknowledged write in {ledger_path.name}")
    try:
        loaded = load.load(config, source, target, jobs=jobs)
        event("initial load under traffic", f"{loaded.rows:,} rows in {loaded.seconds:.1f} s; capture running")
        built = sync.build(config, target, ("build", "--full-refresh"))
        event("dbt build", f"{built.succeeded} nodes passed")
        # Followed as `sync --follow` does, for a few batches: each records a lag sample (the dashboard's lag chart).
        followed = time.monotonic()
        changes = sync.follow(
            config, source, target, interval=0.5, run_dbt=False, until=lambda: time.monotonic() - followed > 3
        ).changes
        sync.build(config, target)
        event("sync", f"{changes:,} changes made during the load and build applied, app rebuilt incrementally")
        checked = reconcile.reconcile(config, source, target, ["counts"])
        event(
            "reconcile (counts)", "passed" if checked.passed else "FAILED under traffic: see reports/reconciliation.md"
        )
        # As reconciled: from the cutover on, the new application's rows (and a fallback's) change them.
        story.dispositions = demo.read_dispositions(target)
        result = cutover.run(config, source, target, skip_gates=True)
        event(
            "cutover: applications switched to the new system",
            f"writes unavailable {result.write_unavailable_seconds:.1f} s (freeze to switch)",
        )
        time.sleep(10)
        event("new application writing app", "10 s")
        fell_back = rollback.rollback(config, source, target, decided_by="demo", reason="the demo shows the fallback")
        carried = sum(sum(c.values()) for c in fell_back.carried.values())
        event(
            "fallback: new application's changes carried back, applications switched back",
            f"{carried:,} legacy rows written; writes unavailable {fell_back.write_unavailable_seconds:.1f} s",
        )
        time.sleep(5)
        event("legacy application writing the legacy schema again", "5 s")
    finally:
        stop.set()
        traffic.join()
    t = story.traffic
    event(
        "traffic stopped",
        f"{t.by_side.get('legacy', 0):,} legacy and {t.by_side.get('new', 0):,} new-application transactions "
        f"acknowledged; {t.refused:,} writes refused by a freeze and retried; longest wait "
        f"{t.longest_outage or 0:.1f} s",
    )
    with connections.connection(source, command="demo") as src, connections.connection(target, command="demo") as dst:
        dialect = MysqlDialect(masks) if mysql else None
        story.ledger_check = verify_after_fallback(src, config.source_schema, dst, ledger_path, dialect)
    where = f"the legacy {'MySQL-family ' if mysql else ''}database"
    event(f"ledger of both applications checked against {where}", story.ledger_check.describe())
    if not story.ledger_check.ok:
        raise CheckFailed(f"the demo lost writes: {story.ledger_check.describe()}")
    return story
