"""/docs and /redoc use no CDN: every URL in them is same-origin and answers with its asset.
(tests/e2e/test_docs_browser.py renders them in a real browser with the network cut.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

PAGES = ["/docs", "/redoc"]
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


class _Refs(HTMLParser):
    """Every URL-bearing attribute of a page (src, href, spec-url), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]


def references(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    # Swagger UI is given its spec in the inline script: `url: '...'`.
    return parser.urls + re.findall(r"\burl:\s*['\"]([^'\"]*)['\"]", html)


@pytest.mark.parametrize("page", PAGES)
def test_page_references_only_same_origin_assets(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    # And the browser is told to load nothing from elsewhere, whatever the bundles ask for.
    assert "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    # Nothing absolute anywhere in the page: no scheme, no protocol-relative //host.
    assert re.search(r"(https?:)?//", html) is None, html
    assert "fonts.googleapis" not in html and "cdn." not in html

    refs = references(html)
    kinds = {urlsplit(u).path.rsplit(".", 1)[-1] for u in refs}
    assert {"js", "png", "json"} <= kinds, refs  # script, icon and spec are all there
    base = f"http://testserver{page}"
    for ref in refs:
        url = urljoin(base, ref)
        assert urlsplit(url).netloc == "testserver", ref
        asset = client.get(url)
        assert asset.status_code == 200, (ref, asset.status_code)
        suffix = "." + urlsplit(url).path.rsplit(".", 1)[-1]
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[suffix]), (
            ref, asset.headers["content-type"])
        assert len(asset.content) > 1000, ref


def test_assets_are_the_real_bundles(client: TestClient) -> None:
    assert "SwaggerUIBundle" in client.get("/docs-assets/swagger-ui-bundle.js").text
    assert ".swagger-ui" in client.get("/docs-assets/swagger-ui.css").text
    assert "Redoc" in client.get("/docs-assets/redoc.standalone.js").text
    assert client.get("/docs-assets/favicon.png").content.startswith(b"\x89PNG")


@pytest.mark.parametrize("name", ["nope.js", "..%2Fcore.py", "__init__.py"])
def test_only_the_listed_assets_are_served(client: TestClient, name: str) -> None:
    assert client.get(f"/docs-assets/{name}").status_code == 404


def test_docs_routes_stay_out_of_the_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/flux-pro-finetuned" in paths
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


@pytest.mark.parametrize("page", PAGES)
def test_relative_urls_follow_a_proxy_prefix(client: TestClient, page: str) -> None:
    # Behind a proxy at /fluxhost/ (X-Forwarded-Prefix or --root-path), the browser resolves
    # the page's URLs under that prefix, where the proxy maps them back to us.
    refs = references(client.get(page).text)
    for ref in refs:
        assert urljoin(f"https://proxy.example/fluxhost{page}", ref).startswith(
            "https://proxy.example/fluxhost/"), ref
