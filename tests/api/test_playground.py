"""The playground's files as the server serves them, without a browser: `/` and every module
it loads, their content types, the Content-Security-Policy, caching, and that a wheel ships them.
(tests/e2e/test_playground_browser.py drives the page in a real browser.)"""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from fluxhost.api.routers import playground
from fluxhost.settings import Settings
from tests.api.test_docs_offline import references

ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND_DIR = ROOT / "src" / "fluxhost" / "api" / "playground"
# "" is the link to /docs, a page.
CONTENT_TYPES = {"": "text/html", ".js": "text/javascript", ".css": "text/css",
                 ".png": "image/png"}
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+["'](\./[\w.-]+)["']""", re.M)


def csp_directives(header: str) -> dict[str, list[str]]:
    parts = (d.split() for d in header.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def test_root_serves_the_playground_under_a_strict_policy(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-cache"
    csp = csp_directives(r.headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert sorted(csp["img-src"]) == sorted(["'self'", "data:", "blob:"])
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    assert "<title>fluxhost playground</title>" in r.text


def test_the_page_states_the_servers_size_limits(client: TestClient, settings: Settings) -> None:
    html = client.get("/").text
    limit = settings.max_body_bytes
    assert f'name="fluxhost-max-body-bytes" content="{limit}"' in html
    assert "%MAX_BODY_BYTES%" not in html
    lora_limit = settings.lora_upload_max_mb * 1024 * 1024  # the LoRA upload's own bound
    assert f'name="fluxhost-lora-upload-max-bytes" content="{lora_limit}"' in html
    assert "%LORA_UPLOAD_MAX_BYTES%" not in html


def test_every_reference_is_relative_and_served(client: TestClient) -> None:
    html = client.get("/").text
    assert re.search(r"(https?:)?//", html) is None  # nothing absolute, no CDN
    assert "<script>" not in html and "style=" not in html  # nothing inline: the CSP refuses it
    refs = references(html)
    assert "playground/app.js" in refs and "playground/style.css" in refs
    for ref in refs:
        url = urljoin("http://testserver/", ref)
        assert urlsplit(url).netloc == "testserver", ref
        asset = client.get(url)
        assert asset.status_code == 200, ref
        suffix = Path(urlsplit(url).path).suffix
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[suffix]), ref


def test_every_module_import_is_served_with_the_policy(client: TestClient) -> None:
    seen: set[str] = set()
    todo = ["app.js"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        r = client.get(f"/playground/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert r.headers["content-security-policy"] == playground.CSP
        todo += [m.removeprefix("./") for m in IMPORT.findall(r.text)]
    # Every module on disk is reachable from app.js, and the served list is what is on disk.
    assert seen == {p.name for p in PLAYGROUND_DIR.glob("*.js")}
    assert set(playground.ASSETS) == {p.name for p in PLAYGROUND_DIR.iterdir()}


def test_unchanged_files_revalidate_with_304(client: TestClient) -> None:
    for path in ("/", "/playground/app.js"):
        first = client.get(path)
        etag = first.headers["etag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("path", ["/playground/nope.js", "/playground/index.html",
                                  "/playground/..%2Frouters%2Fplayground.py",
                                  "/playground/__init__.py", "/playground/"])
def test_only_the_listed_files_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_root_is_not_a_submit_route(client: TestClient) -> None:
    # The submit fast path takes POSTs to the generation paths only; `/` is FastAPI's.
    r = client.post("/", json={})
    assert r.status_code == 405
    assert r.json() == {"detail": "Method Not Allowed"}


def test_playground_stays_out_of_the_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/playground")]


def test_a_wheel_ships_the_playground_files() -> None:
    # Without package-data a non-editable install would serve 404s at `/`.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["fluxhost"]
    package = ROOT / "src" / "fluxhost"
    for path in PLAYGROUND_DIR.iterdir():
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch(relative, p) for p in patterns), relative


def test_images_may_come_from_where_delivery_urls_point(make_settings: object,
                                                        services: object) -> None:
    """Delivery URLs signed for FLUXHOST_PUBLIC_BASE_URL, and presigned object-store URLs a
    redirecting delivery sends the browser to, are image sources; scripts stay on 'self'."""
    from fluxhost.api.app import create_app

    settings = make_settings(public_base_url="https://images.example.com/api",  # type: ignore[operator]
                             delivery_redirect=True)
    with TestClient(create_app(settings, services)) as c:  # type: ignore[arg-type]
        csp = csp_directives(c.get("/").headers["content-security-policy"])
    assert sorted(csp["img-src"]) == sorted(["'self'", "data:", "blob:",
                                             "https://images.example.com", "https:"])
    assert csp["script-src"] == ["'self'"] and csp["connect-src"] == ["'self'"]
