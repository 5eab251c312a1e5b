"""The dashboard in a real headless browser (Playwright driving Debian's chromium) against a sandbox store.

The store is small and built once for the module: two sandbox accounts (a drifting Walmart seller and a critical
Mercado Libre one) synced through the real connectors, plus three backfilled days of history. The test writes a
screenshot into its tmp folder for people to look at (the README's picture comes from scripts/dashboard-pictures).
"""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sellerguard.clock import FixedClock

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ACCOUNTS = [("walmart-us", "walmart", "drifting", "US", "USD", 3, 0.3),
            ("mercadolibre-br", "mercadolibre", "critical", "MLB", "BRL", 3, 0.25)]
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A running dashboard on 127.0.0.1 over the sandbox store: (url, report, token)."""
    from werkzeug.serving import make_server

    from sellerguard.demo import demo_config
    from sellerguard.history.backfill import backfill
    from sellerguard.sandbox import Sandbox, World
    from sellerguard.status import build_status
    from sellerguard.store import Store
    from sellerguard.sync import sync_accounts
    from sellerguard.web.app import create_app

    clock = FixedClock(NOW)
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'sandbox.db'}")
    with Sandbox(World(NOW, accounts=ACCOUNTS, days=32), clock=clock) as box:
        config = demo_config(box)
        assert all(o.ok for o in sync_accounts(config, store, clock=clock))
    backfill(config, store, days=3, now=NOW)
    report = build_status(config, store, clock)
    app = create_app(store, lambda: report, token="s3cret")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", report, "s3cret"
    server.shutdown()
    store.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"playwright is not installed ({exc}); `pip install -e '.[test]'`")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=BROWSER, headless=True,
                                  args=["--disable-gpu", "--disable-extensions", "--no-first-run"])
        except Exception as exc:  # no browser on this machine: the only reason to skip
            pytest.skip(f"cannot launch a headless chromium at {BROWSER}: {str(exc).splitlines()[0]}")
        yield b
        b.close()


def test_dashboard_in_a_real_browser(browser, site, tmp_path):  # browser first: no sync when it skips
    url, report, token = site
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, java_script_enabled=False)
    assert page.goto(url + "/", timeout=120_000).status == 401  # a token is required when one is set
    response = page.goto(f"{url}/?token={token}", timeout=120_000)  # a loaded CI machine draws slowly
    assert response.status == 200 and "token=" not in page.url  # kept in a cookie, cleaned from the address
    # every account, with its level and marketplace
    rows = page.locator("tr.account-row")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.account)")) == sorted(a[0] for a in ACCOUNTS)
    for acc in report.accounts:
        row = page.locator(f'tr.account-row[data-account="{acc.account}"]')
        assert acc.level.upper() in row.inner_text() and acc.marketplace in row.inner_text()
    # a chart per metric, with a threshold line where the metric has a threshold
    metrics = [(a.account, m) for a in report.accounts for m in a.metrics]
    assert page.locator("tr.metric td.chart svg").count() == len(metrics)
    with_threshold = sum(1 for _, m in metrics if m.threshold is not None)
    assert with_threshold and page.locator('td.chart svg g[id$="-threshold"]').count() == with_threshold
    # the deadline queue, overdue items first
    states = page.locator("#deadlines tr.deadline").evaluate_all("rs => rs.map(r => r.classList.contains('overdue'))")
    overdue = [d for a in report.accounts for d in a.deadlines if d.due <= report.as_of]
    assert overdue and states[:len(overdue)] == [True] * len(overdue) and not any(states[len(overdue):])
    # stream freshness and drift columns are there; nothing writes
    assert page.locator("details.streams tr").count() > 2
    assert "drift" in page.locator("table.metrics").first.inner_text()
    assert page.request.post(url + "/", headers={"Authorization": f"Bearer {token}"}).status == 405
    shot = Path(tmp_path) / "dashboard.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
    page.close()
