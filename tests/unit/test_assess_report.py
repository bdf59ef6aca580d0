"""The shared report building blocks: Markdown tables, formats, masking."""

from harness.render import Document, escape
from harness.reports import format_bytes, format_share


def test_tables_escape_pipes_and_newlines_and_align_numbers():
    doc = Document().table(["name", "rows"], [["a|b\nc", 1200]])
    text = doc.render()
    assert "| a\\|b c | 1200 |" in text
    assert "|:---|---:|" in text


def test_an_empty_table_says_none():
    assert "(none)" in Document().table(["x"], []).render()


def test_card_numbers_never_reach_a_report_cell():
    assert escape("4111 1111 1111 1111") == "************1111"


def test_shares_carry_their_margin_in_points():
    assert format_share(0.05) == "5.0%"
    assert format_share(0.05, 0.0031) == "5.0% ± 0.3"
    assert format_share(0.05, 0.0001) == "5.0% ± <0.1"


def test_bytes_are_human_sized():
    assert format_bytes(512) == "512 B"
    assert format_bytes(3 * 1024**3) == "3.0 GB"
