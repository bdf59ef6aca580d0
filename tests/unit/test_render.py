"""The one rendering layer: blocks rendered to Markdown, HTML and JSON, and the atomic write."""

from __future__ import annotations

from harness import render

BLOCKS = [
    render.heading("Report", 1),
    render.paragraph("It **passed**; see `x`."),
    render.bullets(["one | two", "card 4111 1111 1111 1111"]),
    render.numbered(["first", "second"]),
    render.table(("name", "rows"), [["a", 1200]]),
    render.key_value([("user", "migrate"), ("superuser", "no")], headers=("check", "result")),
]


def test_markdown_escapes_list_items_and_cells_and_masks_card_numbers():
    text = render.markdown(BLOCKS)
    assert text.startswith(
        "# Report\n\nIt **passed**; see `x`.\n\n- one \\| two\n- card ************1111\n\n1. first\n2. second\n"
    )
    assert "| name | rows |\n|:---|---:|\n| a | 1200 |" in text
    assert "| check | result |\n|:---|:---|\n| user | migrate |" in text
    assert "4111 1111" not in text


def test_html_and_markdown_render_the_same_blocks():
    page = render.html_page(BLOCKS, "Report <1>")
    assert page.startswith("<!doctype html>") and "<title>Report &lt;1&gt;</title>" in page and "<nav>" not in page
    assert "<p>It <strong>passed</strong>; see <code>x</code>.</p>" in page
    assert "<ol><li>first</li><li>second</li></ol>" in page
    assert "<td class=r>1200</td>" in page and "4111 1111" not in page
    assert "<tbody><tr><td>(none)</td></tr></tbody>" in render.html_page([render.table(("x",), [])], "empty")


def test_a_masked_card_number_keeps_its_stars_in_html():
    assert render.inline("key=************1111") == "key=************1111"
    assert render.inline("**bold** and **more**") == "<strong>bold</strong> and <strong>more</strong>"


def test_blocks_as_json_are_plain_data():
    data = render.as_json(BLOCKS)
    assert data[0] == {"kind": "heading", "level": 1, "text": "Report"}
    assert data[4] == {"kind": "table", "headers": ["name", "rows"], "rows": [["a", 1200]]}
    assert data[5] == {"kind": "key_value", "values": {"user": "migrate", "superuser": "no"}}


def test_an_atomic_write_leaves_the_whole_file_and_no_temporary(tmp_path):
    path = render.write_atomic(tmp_path / "deep" / "file.json", "new")
    render.write_atomic(path, b"bytes")
    assert path.read_bytes() == b"bytes" and [p.name for p in path.parent.iterdir()] == ["file.json"]


def test_a_chart_is_inline_svg_in_html_and_its_figures_everywhere():
    from harness.render import charts

    chart = charts.stacked_bars(
        "d", "Dispositions", ["CUSTOMER", "ORDER_HDR"], {"migrated": [90, 200], "merged": [5, 0]}
    )
    page = render.html_page([chart], "charts")
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert '<svg id="chart-d"' in svg and 'width="576pt"' in svg  # 8 inches: 576 pt, 768 CSS pixels
    assert ">CUSTOMER<" in svg, "labels stay text: the browser draws them with its own fonts"
    assert "<script" not in page and 'href="http' not in page and "@font-face" not in svg
    assert 'data-width="768"' in page and "<td>ORDER_HDR</td><td class=r>200</td>" in page
    assert "| ORDER_HDR | 200 | 0 |" in render.markdown([chart])
    assert render.as_json([chart])[0] == {
        "kind": "chart",
        "name": "d",
        "title": "Dispositions",
        "headers": ["", "migrated", "merged"],
        "rows": [["CUSTOMER", 90, 5], ["ORDER_HDR", 200, 0]],
    }


def test_a_kept_chart_asked_for_again_with_the_same_figures_is_read_back_not_drawn(tmp_path, monkeypatch):
    """The dashboard drew every chart again at each command's refresh (0.75 s of a 2.9 s reconcile)
    though a command changes one chart at most."""
    from harness.render import charts

    drawn = []
    draw = charts._svg
    monkeypatch.setattr(charts, "_svg", lambda figure: drawn.append(1) or draw(figure))
    figures = {"migrated": [90, 200], "merged": [5, 0]}
    with charts.kept_in(tmp_path):
        first = charts.stacked_bars("d", "Dispositions", ["CUSTOMER", "ORDER_HDR"], figures)
        charts.stacked_bars("d", "Dispositions", ["CUSTOMER"], {"migrated": [1]})
    with charts.kept_in(tmp_path):  # the next refresh, in another process as far as the folder goes
        again = charts.stacked_bars("d", "Dispositions", ["CUSTOMER", "ORDER_HDR"], figures)
        changed = charts.stacked_bars("d", "Dispositions", ["CUSTOMER", "ORDER_HDR"], {"migrated": [91, 200]})
    assert again == first and changed != first
    assert len(drawn) == 3, "the same figures read back, changed ones drawn"
    assert len(list(tmp_path.glob("*.pickle"))) == 2, "the chart no refresh asked for any more is gone"
    charts.stacked_bars("d", "Dispositions", ["CUSTOMER", "ORDER_HDR"], figures)  # outside: drawn, not kept
    assert len(drawn) == 4


def test_a_verdict_is_a_word_on_its_colour_in_html_never_a_symbol_alone():
    assert render.inline("✅ passed") == '<span class="verdict passed">passed</span>'
    assert render.inline("❌ counts") == '<span class="verdict failed">failed</span> counts'
