"""Trigger capture's positions on MySQL: what they hold applied, and how the gaps are kept."""

from __future__ import annotations

import pytest

from harness.core.errors import ConfigError
from harness.engines.mysql.trigger import Position, _without


def test_a_position_reads_back_from_its_text_and_from_a_load_snapshots_position():
    position = Position(42, ((10, 10, 1700000000), (20, 25, 1700000001)))
    assert Position.parse(position.text()) == position
    assert Position.parse("binlog.000003:1234|" + position.text()) == position
    assert Position.parse("changes:7") == Position(7)


def test_a_position_holds_every_id_up_to_high_but_its_gaps():
    position = Position(42, ((10, 10, 0), (20, 25, 0)))
    assert [i for i in range(1, 45) if not position.holds(i)] == [10, *range(20, 26), 43, 44]
    assert position.floor == 9
    assert position.unapplied_sql() == "(change_id > 42 or change_id between 10 and 10 or change_id between 20 and 25)"


def test_the_ids_seen_are_taken_out_of_a_gap():
    assert _without(10, 20, [9, 10, 12, 13, 20, 21]) == [(11, 11), (14, 19)]
    assert _without(5, 6, []) == [(5, 6)]
    assert _without(5, 6, [5, 6]) == []


def test_a_binlog_position_is_refused_by_trigger_capture_with_one_line():
    with pytest.raises(ConfigError, match="was not recorded by trigger capture"):
        Position.parse("binlog.000003:1234")
