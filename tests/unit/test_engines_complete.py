"""Every source engine implements the whole interface: an abstract method left out would only fail
when a command first reaches that engine (a MySQL source running a PostgreSQL-only change)."""

from __future__ import annotations

import pytest

from harness.engines.mysql.engine import MysqlEngine
from harness.engines.postgres.engine import PostgresEngine


@pytest.mark.parametrize("engine", [PostgresEngine, MysqlEngine])
def test_each_engine_implements_every_method_of_the_interface(engine):
    assert not engine.__abstractmethods__, sorted(engine.__abstractmethods__)
    engine()
