"""Image URLs in the "base64 or URL" fields are fetched at submit, over real loopback HTTP (a
`http.server` in a thread): through the SSRF guard, within a deadline, a byte cap and three
redirects, and then checked and stored exactly as the same image sent base64.

Loopback is private, so most tests allow private addresses; the guard's own tests refuse them,
or stand in a resolver (no DNS traffic) and treat 127.0.0.1 as a public host, to show what a
public name that leads somewhere private gets."""

from __future__ import annotations

import asyncio
import base64
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from fluxhost.api import imagefetch
from fluxhost.api.imagefetch import FetchFailed, content_length, redirect_location
from fluxhost.netguard.guard import BadUrl, IPAddress, address_kind, split_url
from fluxhost.store.tasks import INPUTS_PARAM, get_task
from tests.conftest import Tenant

App = Callable[..., TestClient]
Route = Callable[[BaseHTTPRequestHandler], None]
PRIVATE_OK = {"image_url_allow_private": True}
NOT_FETCHED = "Value error, image URLs are not fetched by this server: send the image " \
    "base64-encoded"


def noise_png(size: tuple[int, int] = (96, 80), seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "PNG")
    return buf.getvalue()


PNG = noise_png()


def reply(status: int, body: bytes = b"", content_type: str = "image/png",
          headers: dict[str, str] | None = None) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    return reply(status, headers={"Location": location})


class ImageServer:
    """A loopback HTTP server; `routes` maps a path to what it answers, `seen` records each
    request's (path, Host header)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str | None]] = []
        self.stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.seen.append((self.path, self.headers.get("Host")))
                owner.routes.get(self.path, reply(404, b"no such image", "text/plain"))(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def trickle(self, handler: BaseHTTPRequestHandler) -> None:
        """Headers at once, then the body one byte every 0.1 s."""
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(len(PNG)))
        handler.end_headers()
        for byte in PNG:
            if self.stopping.wait(0.1):
                return
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:  # the fetch gave up and closed
                return


@pytest.fixture
def server() -> Iterator[ImageServer]:
    srv = ImageServer()
    srv.routes["/cat.png"] = reply(200, PNG)
    srv.thread.start()
    yield srv
    srv.stopping.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


# Any: TestClient answers with httpx2's Response (starlette's own httpx), not httpx's.
def post(client: TestClient, tenant: Tenant, endpoint: str, **images: str) -> Any:
    return client.post(f"/v1/{endpoint}", headers=tenant.headers,
                       json={"prompt": "a cat", **images})


def refusal(r: Any) -> tuple[str, str]:
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["type"] == "value_error"
    return error["loc"][1], error["msg"]


def stored_inputs(client: TestClient, answer: dict[str, Any]) -> dict[str, bytes]:
    svc = client.app.state.services  # type: ignore[attr-defined]
    task = get_task(svc.store, answer["id"])
    assert task is not None
    return {name: svc.blobs.get(key) for name, key in task.params[INPUTS_PARAM].items()}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- fetched and accepted ---------------------------------------------------------------------

@pytest.mark.parametrize(("endpoint", "field"), [
    ("flux-kontext-pro", "input_image"), ("flux-kontext-max", "input_image_4"),
    ("flux-2-pro", "input_image_2"), ("flux-2-flex", "input_image_8"),
    ("flux-2-klein-4b", "input_image_3")])
def test_a_url_is_fetched_and_stored_as_its_base64_would_be(
        app_with: App, tenant: Tenant, server: ImageServer, endpoint: str, field: str) -> None:
    client = app_with(**PRIVATE_OK)
    by_url = post(client, tenant, endpoint, **{field: server.url("/cat.png")})
    assert by_url.status_code == 200, by_url.text
    assert stored_inputs(client, by_url.json()) == {field: PNG}  # the served bytes, as served
    by_b64 = post(client, tenant, endpoint, **{field: b64(PNG)})
    figures = ("input_mp", "output_mp", "cost")
    assert [by_url.json()[k] for k in figures] == [by_b64.json()[k] for k in figures]
    assert server.seen == [("/cat.png", f"127.0.0.1:{server.port}")]


def test_urls_and_base64_mix_in_one_request(app_with: App, tenant: Tenant,
                                             server: ImageServer) -> None:
    other = noise_png((64, 64), seed=1)
    server.routes["/other.png"] = reply(200, other)
    client = app_with(**PRIVATE_OK)
    r = post(client, tenant, "flux-2-pro", input_image=server.url("/cat.png"),
             input_image_2=b64(other), input_image_3=server.url("/other.png"))
    assert r.status_code == 200, r.text
    assert stored_inputs(client, r.json()) == {"input_image": PNG, "input_image_2": other,
                                               "input_image_3": other}


def test_redirects_are_followed_three_times_not_four(app_with: App, tenant: Tenant,
                                                     server: ImageServer) -> None:
    server.routes.update({"/r1": redirect("/r2", 301), "/r2": redirect("/r3", 307),
                          "/r3": redirect(server.url("/cat.png"), 308), "/r0": redirect("/r1")})
    client = app_with(**PRIVATE_OK)
    r = post(client, tenant, "flux-kontext-pro", input_image=server.url("/r1"))
    assert r.status_code == 200, r.text
    assert stored_inputs(client, r.json()) == {"input_image": PNG}
    assert refusal(post(client, tenant, "flux-kontext-pro", input_image=server.url("/r0"))) \
        == ("input_image", "Value error, could not fetch input_image: more than 3 redirects")


def test_fetches_run_off_the_event_loop(app_with: App, tenant: Tenant, server: ImageServer,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    on_loop: list[bool] = []
    fetch = imagefetch.ImageFetcher.fetch

    def spying_fetch(self: imagefetch.ImageFetcher, url: str) -> bytes:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return fetch(self, url)

    monkeypatch.setattr(imagefetch.ImageFetcher, "fetch", spying_fetch)
    r = post(app_with(**PRIVATE_OK), tenant, "flux-2-pro", input_image=server.url("/cat.png"),
             input_image_2=server.url("/cat.png"))
    assert r.status_code == 200, r.text
    assert on_loop == [False, False]


def test_a_fetched_reference_reaches_the_worker(app_with: App, tenant: Tenant,
                                               server: ImageServer) -> None:
    """Through an embedded worker on the dev set's klein: Ready, at the size of the fetched
    reference (the output follows the first reference when no size is given)."""
    client = app_with(workers=1, **PRIVATE_OK)
    answer = post(client, tenant, "flux-2-klein-4b", input_image=server.url("/cat.png")).json()
    deadline = time.monotonic() + 300
    while (result := client.get("/v1/get_result", params={"id": answer["id"]}).json())[
            "status"] == "Pending":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert result["status"] == "Ready", result
    image = Image.open(io.BytesIO(client.get(result["result"]["sample"]).content))
    assert round(image.width * image.height / 1e6, 2) == answer["output_mp"]
    assert answer["input_mp"] == round(96 * 80 / 1e6, 2)


# --- the guard --------------------------------------------------------------------------------

def test_a_loopback_url_is_refused_unless_private_is_allowed(app_with: App, tenant: Tenant,
                                                             server: ImageServer) -> None:
    r = post(app_with(), tenant, "flux-2-pro", input_image_2=server.url("/cat.png"))
    assert refusal(r) == ("input_image_2", "Value error, could not fetch input_image_2: the "
                          "host is a loopback address; only public addresses are fetched")
    assert server.seen == []  # refused before any connection
    r = post(app_with(), tenant, "flux-2-pro", input_image=server.url("/cat.png", "localhost"))
    assert "the host is the local host" in refusal(r)[1]


@pytest.mark.parametrize(("url", "kind"), [
    ("http://10.1.2.3/a.png", "a private address"),
    ("http://169.254.169.254/latest/meta-data", "a link-local address"),
    ("http://[::ffff:192.168.0.1]/a.png", "a private address"),
    ("http://2130706433/a.png", "a loopback address")])
def test_private_literals_are_refused_without_a_connection(client: TestClient, tenant: Tenant,
                                                           url: str, kind: str) -> None:
    _, msg = refusal(post(client, tenant, "flux-kontext-pro", input_image=url))
    assert msg == f"Value error, could not fetch input_image: the host is {kind}; only " \
        "public addresses are fetched"


def fake_resolver(monkeypatch: pytest.MonkeyPatch,
                  answers: dict[str, list[str]]) -> list[str]:
    """Names resolved from `answers` (no DNS traffic); the names asked, in order."""
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, port, 0, 0) if ":" in ip else (ip, port)) for ip in answers[host]]

    monkeypatch.setattr(imagefetch, "_getaddrinfo", getaddrinfo)
    return asked


def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 stands in for a public host: the server under test is there."""
    def kind(addr: IPAddress) -> str | None:
        return None if str(addr) == "127.0.0.1" else address_kind(addr)

    monkeypatch.setattr(imagefetch, "address_kind", kind)


def test_a_name_resolving_to_a_private_address_is_refused_without_saying_which(
        client: TestClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_resolver(monkeypatch, {"intranet.example": ["10.0.0.7"],
                                "mixed.example": ["93.184.216.34", "fd00::7"]})
    for host in ("intranet.example", "mixed.example"):  # any one private address refuses
        _, msg = refusal(post(client, tenant, "flux-2-pro", input_image=f"http://{host}/a.png"))
        assert msg == "Value error, could not fetch input_image: the host resolves to a " \
            "private address; only public addresses are fetched"
        assert "10.0.0.7" not in msg and "fd00" not in msg  # the internal network stays unseen


def test_a_name_that_does_not_resolve(client: TestClient, tenant: Tenant,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fake_resolver(monkeypatch, {})
    r = post(client, tenant, "flux-2-pro", input_image="https://nowhere.example/a.png")
    assert refusal(r)[1] == "Value error, could not fetch input_image: the host name does not " \
        "resolve"


@pytest.mark.parametrize(("location", "kind", "verb"), [
    ("http://169.254.169.254/latest/meta-data", "a link-local address", "is"),
    ("http://internal.example/a.png", "a private address", "resolves to"),
    ("http://localhost/a.png", "the local host", "is")])
def test_a_redirect_to_a_private_address_is_refused(
        app_with: App, tenant: Tenant, server: ImageServer, monkeypatch: pytest.MonkeyPatch,
        location: str, kind: str, verb: str) -> None:
    loopback_is_public(monkeypatch)
    fake_resolver(monkeypatch, {"images.example": ["127.0.0.1"], "internal.example": ["10.9.8.7"]})
    server.routes["/away"] = redirect(location)
    r = post(app_with(), tenant, "flux-2-pro",
             input_image=server.url("/away", "images.example"))
    assert refusal(r)[1] == f"Value error, could not fetch input_image: the host {verb} {kind}; " \
        "only public addresses are fetched"
    assert [path for path, _ in server.seen] == ["/away"]


def test_the_connection_is_pinned_to_the_checked_address(
        app_with: App, tenant: Tenant, server: ImageServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is resolved once, by the guard; a rebinding DNS server's second answer (a
    private address) is never asked for, and the server still sees the name in Host."""
    loopback_is_public(monkeypatch)
    asked = fake_resolver(monkeypatch, {"images.example": ["127.0.0.1"]})
    r = post(app_with(), tenant, "flux-2-pro",
             input_image=server.url("/cat.png", "images.example"))
    assert r.status_code == 200, r.text
    assert asked == ["images.example"]
    assert server.seen == [("/cat.png", f"images.example:{server.port}")]


# --- what comes back --------------------------------------------------------------------------

@pytest.mark.parametrize(("route", "why"), [
    (reply(404, b"gone", "text/plain"), "HTTP 404"),
    (reply(500, b"", "text/plain"), "HTTP 500"),
    (reply(204), "HTTP 204"),
    (reply(302), "HTTP 302 without a Location"),
    (reply(200, b"<html>a cat</html>", "text/html"), "not an image (png, jpeg or webp)"),
    (reply(200, PNG[: len(PNG) // 2]), None)])  # truncated: the decode's own 422
def test_anything_but_a_200_image_is_422(app_with: App, tenant: Tenant, server: ImageServer,
                                         route: Route, why: str | None) -> None:
    server.routes["/x"] = route
    r = post(app_with(**PRIVATE_OK), tenant, "flux-kontext-pro",
             input_image_2=server.url("/x"))
    field, msg = refusal(r)
    assert field == "input_image_2"
    assert msg == (f"Value error, could not fetch input_image_2: {why}" if why else
                   "Value error, not a decodable image: the data is truncated or corrupt")


def test_fetched_images_get_the_base64_checks(app_with: App, tenant: Tenant,
                                              server: ImageServer) -> None:
    buf = io.BytesIO()
    Image.new("P", (64, 64)).save(buf, "GIF")
    server.routes["/a.gif"] = reply(200, buf.getvalue(), "image/gif")
    server.routes["/small.png"] = reply(200, noise_png((32, 32)))
    client = app_with(max_image_pixels=96 * 80 - 1, **PRIVATE_OK)
    assert refusal(post(client, tenant, "flux-kontext-pro", input_image=server.url("/a.gif"))) \
        == ("input_image", "Value error, unsupported image format GIF")
    assert "more than the limit of 7679" in refusal(
        post(client, tenant, "flux-kontext-pro", input_image=server.url("/cat.png")))[1]
    assert "FLUX.2 takes both sides at least 64 px" in refusal(
        post(client, tenant, "flux-2-pro", input_image=server.url("/small.png")))[1]


def test_request_pixels_count_fetched_images(app_with: App, tenant: Tenant,
                                             server: ImageServer) -> None:
    client = app_with(max_request_pixels=2 * 96 * 80 - 1, **PRIVATE_OK)
    r = post(client, tenant, "flux-kontext-pro", input_image=b64(PNG),
             input_image_2=server.url("/cat.png"))
    assert "pixels together, more than the limit" in refusal(r)[1]


def test_a_body_over_the_base64_cap_is_refused(app_with: App, tenant: Tenant,
                                               server: ImageServer) -> None:
    """MAX_BODY_BYTES 4096: a base64 image could carry 3072 bytes, and so may a URL, whether
    the server declares more or sends more than it declares."""
    def undeclared(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.end_headers()  # no length: the body ends when the connection does
        handler.wfile.write(PNG[:8] + bytes(5000))
        handler.close_connection = True

    server.routes["/declared"] = reply(200, bytes(3073))
    server.routes["/undeclared"] = undeclared
    client = app_with(max_body_bytes=4096, **PRIVATE_OK)
    for path in ("/declared", "/undeclared"):
        r = post(client, tenant, "flux-2-pro", input_image=server.url(path))
        assert refusal(r) == ("input_image", "Value error, could not fetch input_image: larger "
                              "than 3072 bytes")


def test_a_requests_fetched_images_together_are_capped(app_with: App, tenant: Tenant,
                                                       server: ImageServer) -> None:
    small = noise_png((24, 24))
    assert 1536 < len(small) <= 3072
    server.routes["/small.png"] = reply(200, small)
    client = app_with(max_body_bytes=4096, **PRIVATE_OK)
    assert post(client, tenant, "flux-kontext-pro",
                input_image=server.url("/small.png")).status_code == 200
    r = post(client, tenant, "flux-kontext-pro", input_image=server.url("/small.png"),
             input_image_2=server.url("/small.png"))
    assert refusal(r) == ("input_image_2", "Value error, the request's fetched images "
                          f"(input_image, input_image_2) are {2 * len(small)} bytes together, "
                          "more than the limit of 3072")


def test_a_refused_connection(app_with: App, tenant: Tenant) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = post(app_with(**PRIVATE_OK), tenant, "flux-2-pro",
             input_image=f"http://127.0.0.1:{port}/a.png")
    assert refusal(r)[1] == "Value error, could not fetch input_image: could not connect"


def test_a_trickling_server_is_cut_at_the_deadline_and_blocks_nobody(
        app_with: App, tenant: Tenant, server: ImageServer) -> None:
    server.routes["/slow"] = server.trickle
    client = app_with(image_url_timeout_seconds=1, **PRIVATE_OK)
    answer: list[Any] = []
    took: list[float] = []

    def submit() -> None:
        started = time.monotonic()
        answer.append(post(client, tenant, "flux-2-pro", input_image=server.url("/slow")))
        took.append(time.monotonic() - started)

    assert client.get("/health").status_code == 200  # warm: its first answer costs more
    slow = threading.Thread(target=submit)
    slow.start()
    time.sleep(0.2)  # the fetch is under way
    health = []
    while slow.is_alive():
        started = time.monotonic()
        assert client.get("/health").status_code == 200
        health.append(time.monotonic() - started)
        time.sleep(0.05)
    slow.join()
    assert refusal(answer[0]) == ("input_image", "Value error, could not fetch input_image: "
                                  "timed out after 1 s")
    assert 1.0 <= took[0] < 3.0
    assert health and max(health) < 0.5, health


def test_fetching_off_keeps_the_old_refusal(app_with: App, tenant: Tenant,
                                            server: ImageServer) -> None:
    client = app_with(image_url_fetch=False, **PRIVATE_OK)
    for endpoint, field in (("flux-kontext-pro", "input_image_3"), ("flux-2-pro", "input_image_8")):
        r = post(client, tenant, endpoint, **{field: server.url("/cat.png")})
        assert refusal(r) == (field, NOT_FETCHED)
        assert r.json()["detail"][0]["input"] == server.url("/cat.png")[:50]
    assert server.seen == []


# --- parsing ----------------------------------------------------------------------------------

@given(st.text(max_size=30))
def test_content_length_is_a_plain_number_or_nothing(value: str) -> None:
    parsed = content_length(value)
    if parsed is not None:
        number = value.strip()
        assert number.isascii() and number.isdigit() and parsed == int(number)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
       st.sampled_from([301, 302, 303, 307, 308]))
def test_a_redirect_is_a_refusal_or_a_url_the_guard_can_judge(location: str,
                                                               status: int) -> None:
    """Whatever a server says in Location, the next hop is a refusal or a URL that the guard
    accepts as http(s) to a host or refuses as such: nothing else escapes."""
    response = httpx.Response(status, headers={"Location": location})
    try:
        target = redirect_location(response, "https://images.example/a/b.png?x=1")
    except FetchFailed as exc:
        assert exc.reason in ("the redirect's Location is not a valid URL",
                              f"HTTP {status} without a Location")
        return
    assert target is not None
    try:
        scheme, host, _port = split_url(target)
    except BadUrl:
        return
    assert scheme in ("http", "https") and host
