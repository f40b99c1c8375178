"""/docs and /redoc in a real browser with no internet: Debian's headless Chromium, driven by
Playwright, against `fluxhost serve` on loopback. A request for another host that reaches the
network is aborted and fails the test; the only ones allowed are those the pages' own
Content-Security-Policy refused before they left (ReDoc's footer logo). Screenshots of both
pages land in the test's tmp dir (the path is printed; run with -s to see it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.harness import Node

if TYPE_CHECKING:
    from playwright.sync_api import Request, Route

pytestmark = [pytest.mark.service, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]
OPERATION = "/v1/flux-pro-finetuned"


class Chromium:
    """A Playwright driver and one headless Chromium; a module's tests can share one (each test
    still gets a fresh context: no cookies, storage or cache carried over), which spares a
    driver and a browser launch per test (~2 CPU-s)."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        if not os.access(CHROMIUM, os.X_OK):
            pytest.skip(f"Chromium not installed at {CHROMIUM}: run scripts/ensure-chromium.sh "
                        "(as root) or `apt-get install chromium` (make test does it)")
        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        except BaseException:
            self._pw.stop()
            raise

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


class Browser:
    """One headless page in a context of its own whose every request is recorded; non-loopback
    ones are aborted."""

    def __init__(self, chromium: Chromium) -> None:
        self.context = chromium.browser.new_context(viewport={"width": 1280, "height": 900})
        self.requests: list[str] = []
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.context.on("request", lambda req: self.requests.append(req.url))
        self.failed: dict[str, str | None] = {}
        self.context.on("requestfailed", lambda req: self.failed.update({req.url: req.failure}))
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.console: list[str] = []
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))

    def _route(self, route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            self.outside.append(request.url)
            route.abort("internetdisconnected")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    chromium = Chromium()
    b = Browser(chromium)
    yield b
    b.close()
    chromium.close()


def test_docs_and_redoc_render_with_no_internet(node: Node, browser: Browser,
                                                tmp_path: Path) -> None:
    node.serve(workers=0)
    op = httpx.get(f"{node.url}/openapi.json", timeout=10).json()["paths"][OPERATION]["post"]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = browser.page

    # Swagger UI: the spec is fetched and parsed, the operations drawn.
    page.goto(f"{node.url}/docs")
    block = page.locator(f'.opblock-summary-path[data-path="{OPERATION}"]')
    block.first.wait_for(state="visible", timeout=30_000)
    assert page.locator(".opblock").count() > 5
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("fluxhost")
    page.screenshot(path=str(shots / "swagger-ui.png"), full_page=True)
    # Try it out works under the pages' Content-Security-Policy: GET /health from the browser.
    page.locator('.opblock-summary-path[data-path="/health"]').first.click()
    page.locator(".try-out__btn").first.click()
    page.locator(".execute").first.click()
    live = page.locator(".live-responses-table tr.response .response-col_status")
    live.first.wait_for(state="visible", timeout=30_000)
    assert live.first.inner_text().strip() == "200"

    # ReDoc: the operation's heading and its menu entry.
    page.goto(f"{node.url}/redoc")
    heading = page.locator("h2", has_text=op["summary"])
    heading.first.wait_for(state="visible", timeout=30_000)
    assert page.locator("h1", has_text="fluxhost").first.is_visible()
    assert page.locator("[role=menuitem], .menu-content li").count() > 5
    page.screenshot(path=str(shots / "redoc.png"))
    # Its search runs in a blob: worker, which the policy allows.
    page.locator('input[placeholder="Search..."]').fill("finetune")
    found = page.locator('[data-role="search:results"] li')
    found.first.wait_for(state="visible", timeout=30_000)

    print(f"\nscreenshots of /docs and /redoc: {shots}")
    assert (shots / "swagger-ui.png").stat().st_size > 10_000
    assert (shots / "redoc.png").stat().st_size > 10_000
    assert any(u.endswith("/openapi.json") for u in browser.requests)
    assert browser.errors == []

    # Nothing left loopback: no request reached the network for another host, and those the
    # bundles asked for (ReDoc's footer logo from cdn.redoc.ly) the page's policy refused.
    assert browser.outside == [], f"the pages reached for other hosts: {browser.outside}"
    elsewhere = [u for u in browser.requests if urlsplit(u).hostname not in LOOPBACK]
    refused = {u: browser.failed.get(u) for u in elsewhere}
    assert all(why in ("csp", "net::ERR_BLOCKED_BY_CSP") for why in refused.values()), refused
    if refused:
        print(f"refused by the pages' Content-Security-Policy: {sorted(refused)}")
    # And the browser said nothing else was wrong (a CSP refusal of our own assets would show).
    complaints = [m for m in browser.console if m.startswith("error")
                  and not ("Content Security Policy" in m and any(u in m for u in refused))]
    assert complaints == []
