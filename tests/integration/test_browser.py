"""The pages the kit writes, opened in a real browser (Debian's headless Chromium): the dashboard,
the reconciliation report and dbt's documentation site. Each chart rendered as an SVG of the size it
was drawn at, and no request left the machine (Chromium's network log lists every request)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import dashboard, dbt, load, reconcile
from harness.core import connections
from harness.core.config import load_config
from harness.dbt import docs_site
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium: `apt-get install -y chromium` installs Debian's", allow_module_level=True)

# Appended to a copy of the page: each chart's drawn size, written into the DOM that --dump-dom prints.
MEASURE = """<script>
addEventListener('load', () => {
  const found = [...document.querySelectorAll('figure.chart')].map(f => {
    const svg = f.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    return {name: f.dataset.chart, width: box.width, height: box.height, expected: [+f.dataset.width, +f.dataset.height],
            shapes: svg ? svg.querySelectorAll('path, rect, text').length : 0};
  });
  const out = document.createElement('pre'); out.id = 'measured'; out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


def open_in_chromium(page: Path, tmp_path: Path, budget_ms: int = 3000) -> tuple[str, list[str]]:
    """The page's DOM after it loaded, and every URL Chromium requested."""
    netlog = tmp_path / f"{page.stem}.netlog.json"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,2000",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--log-net-log={netlog}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = netlog.read_text().rstrip().rstrip(",")
    log = json.loads(text if text.endswith("}") else text + "]}")  # a log cut at exit lacks its end
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    # The page's requests, not the browser's own (updates, time, accounts: their initiator is "not an origin").
    urls = sorted(
        {
            e["params"]["url"]
            for e in log["events"]
            if e["type"] == start and "url" in e["params"] and e["params"].get("initiator") != "not an origin"
        }
    )
    return done.stdout, urls


def measured(dom: str) -> list[dict]:
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def with_measure(page: Path, tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    copy = tmp_path / page.name
    copy.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    return copy


def assert_local(urls: list[str]) -> None:
    outside = [u for u in urls if not u.startswith(("file:", "data:", "about:", "chrome:", "blob:"))]
    assert outside == [], f"requests left the machine: {outside}"


def assert_charts_rendered(dom: str, names: set[str]) -> None:
    charts = {c["name"]: c for c in measured(dom)}
    assert names <= set(charts), sorted(charts)
    for chart in charts.values():
        assert chart["shapes"] > 5, chart
        assert (round(chart["width"]), round(chart["height"])) == tuple(chart["expected"]), chart


def test_the_network_log_sees_a_page_that_fetches(tmp_path):
    page = tmp_path / "fetches.html"
    page.write_text('<!doctype html><html><body><img src="http://example.invalid/x.png">x</body></html>')
    _, urls = open_in_chromium(page, tmp_path)
    assert urls == ["http://example.invalid/x.png"]


def test_dashboard_report_and_dbt_docs_render_offline_in_chromium(shop, tmp_path):
    config, source, target, migration, project = shop
    load.load(config, source, target)
    result = reconcile.reconcile(config, source, target, ["counts", "checksums"], build=False)
    written = dashboard.write(config, source, target)

    dom, urls = open_in_chromium(with_measure(written.html, tmp_path / "d"), tmp_path / "d")
    assert_charts_rendered(dom, {"throughput", "verdicts"})
    assert_local(urls)

    report = Path(result.files["html"])
    dom, urls = open_in_chromium(with_measure(report, tmp_path / "r"), tmp_path / "r")
    assert_charts_rendered(dom, {"levels"})
    assert '<span class="verdict passed">passed</span>' in dom
    assert_local(urls)


def test_dbt_docs_site_shows_the_overview_and_the_mapping_offline(tmp_path, migration, monkeypatch):
    for name in ("models", "macros", "kit", "seeds", "profiles"):
        shutil.copytree(PROJECT_DIR / name, tmp_path / name)
    for name in ("dbt_project.yml", "packages.yml", "migration.yml", "selectors.yml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    monkeypatch.setenv("MIGRATE_SOURCE_URL", migration.source_url)
    monkeypatch.setenv("MIGRATE_TARGET_URL", migration.target_url)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    config = load_config(tmp_path)
    target = connections.Database("target", migration.target_url, "MIGRATE_TARGET_URL", False)
    dbt.run(config, target, ["docs", "generate", "--empty-catalog"], quiet=True)
    site = docs_site.build_page(tmp_path)
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert any(
        d["name"] == "__overview__" and "what is migrated where" in d["block_contents"]
        for d in manifest["docs"].values()
    )
    app = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["path"].startswith("app/")]
    assert app and all("Mapping: " in c["description"] for n in app for c in n["columns"].values() if c.get("meta")), (
        "every app column with mapping metadata says where it comes from"
    )
    address = next(n for n in app if n["name"] == "address")
    assert address["columns"]["line1"]["description"].startswith(
        "Mapping: from legacy `CUSTOMER.ADDR1`, `ORDER_HDR.SHIP_ADDR1`. Rule: Upper case"
    )
    staging = [
        n for n in manifest["nodes"].values() if n["resource_type"] == "model" and "/staging/" in f"/{n['path']}"
    ]
    assert staging and all("Mapping: " in c["description"] for n in staging for c in n["columns"].values()), (
        "every staging column says which legacy column it reads and what was done to it"
    )
    customers = next(n for n in staging if n["name"] == "stg_oms__customers")["columns"]
    assert (
        "Mapping: from legacy `CUSTOMER.EMAIL_ADDR`, through macro `clean_email`. "
        "Legacy `CUSTOMER.EMAIL_ADDR`: mapped → `app.customer.email`"
    ) in customers["email"]["description"]
    assert customers["synced_at"]["description"].endswith(
        "Mapping: from the loader's `_migrate_synced_at` (when load or sync last wrote the landing row), copied as is."
    )
    card = next(s for s in manifest["sources"].values() if s["name"] == "PAYMENT")["columns"]["CARD_NO"]
    assert "Mapping: " in card["description"]
    assert site.described > 100

    dom, urls = open_in_chromium(site.page, tmp_path, budget_ms=8000)
    assert "what is migrated where" in dom, "the overview page opens first"
    assert_local(urls)
