"""The web playground: GET / and /playground/<asset>, static files shipped inside the package
(api/playground/: plain ES modules, no build step, nothing from a CDN).

Every URL in the pages is relative (`playground/app.js`, `openapi.json`, `v1/...`), as in
routers/docs.py, so the playground works behind a proxy under a path prefix. The one value the
page cannot learn from the API, the size limits, are written into index.html here: the finetune
upload bounds its ZIP by the request body limit, the LoRA upload its file by
LORA_UPLOAD_MAX_MB, before sending."""

from __future__ import annotations

import functools
import hashlib
from importlib.resources import files
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from fluxhost.services import Services
from fluxhost.settings import Settings

router = APIRouter(include_in_schema=False)

ASSETS_PATH = "/playground"
INDEX = "index.html"
# name → media type; only these are served.
ASSETS = {
    INDEX: "text/html; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "schema.js": "text/javascript; charset=utf-8",
    "form.js": "text/javascript; charset=utf-8",
    "images.js": "text/javascript; charset=utf-8",
    "mask.js": "text/javascript; charset=utf-8",
    "zip.js": "text/javascript; charset=utf-8",
    "generate.js": "text/javascript; charset=utf-8",
    "finetunes.js": "text/javascript; charset=utf-8",
    "loras.js": "text/javascript; charset=utf-8",
}
MAX_BODY_MARK = b"%MAX_BODY_BYTES%"
LORA_MAX_MARK = b"%LORA_UPLOAD_MAX_BYTES%"
# Self only: no inline script or style, nothing from another origin. Images also from blob:
# and data:, the URLs a page gives images it holds itself (a picked file's preview, the image
# a mask is painted on) before anything is uploaded.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
# Revalidated on every load (a 304 while unchanged): an upgrade's new files show at once,
# never mixed with a cached older module.
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_DIR = files("fluxhost.api").joinpath("playground")


def csp(settings: Settings) -> str:
    """CSP, with the origins result images may come from besides this page's: the public base
    URL the server signs delivery URLs with, and, when delivery redirects to presigned object
    store URLs (whose host the store decides), any https origin. Images only: scripts,
    styles and API calls stay on 'self'."""
    extra = []
    if settings.public_base_url:
        url = urlsplit(settings.public_base_url)
        extra.append(f"{url.scheme}://{url.netloc}")
    if settings.delivery_redirect:
        extra.append("https:")
    if not extra:
        return CSP
    return CSP.replace("img-src 'self' data: blob:", "img-src 'self' data: blob: " +
                       " ".join(extra))


def _serve(request: Request, name: str, body: bytes) -> Response:
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    svc: Services = request.app.state.services
    headers = {**_HEADERS, "Content-Security-Policy": csp(svc.settings), "ETag": etag}
    seen = request.headers.get("if-none-match", "")
    if etag in (tag.strip().removeprefix("W/") for tag in seen.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=ASSETS[name], headers=headers)


def _read(name: str) -> bytes:
    body = _load(name) if name in ASSETS else None
    if body is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return body


@functools.cache  # a few small files, read once: no disk read on the event loop after that
def _load(name: str) -> bytes | None:
    path = _DIR.joinpath(name)
    return path.read_bytes() if path.is_file() else None


@router.get("/")
async def index(request: Request) -> Response:
    svc: Services = request.app.state.services
    lora_max = svc.settings.lora_upload_max_mb * 1024 * 1024  # as routers/loras.py counts
    body = (_read(INDEX).replace(MAX_BODY_MARK, str(svc.settings.max_body_bytes).encode())
            .replace(LORA_MAX_MARK, str(lora_max).encode()))
    return _serve(request, INDEX, body)


@router.get(ASSETS_PATH + "/{name}")
async def asset(request: Request, name: str) -> Response:
    if name == INDEX:  # only through `/`, where its relative URLs resolve
        raise HTTPException(status_code=404, detail="Not Found")
    return _serve(request, name, _read(name))
