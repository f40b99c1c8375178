"""GET /docs (Swagger UI) and /redoc (ReDoc) that render with no internet.

FastAPI's own pages load their scripts, styles, icon and fonts from CDNs, so they are blank
offline. These serve the same pages with every asset from the installed fastapi-offline
package (MIT; it ships Swagger UI 5, ReDoc 2 and the FastAPI icon) under /docs-assets/, and
ReDoc's Google fonts off.

Every URL in the pages is relative (`docs-assets/...`, `openapi.json`): the browser resolves it
against the address it used, so the pages work behind a proxy under a path prefix
(X-Forwarded-Prefix, uvicorn's --root-path) with no configuration and no trust decisions.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

ASSETS_PATH = "/docs-assets"
# name → media type; only these are served.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_ASSET_DIR = Path(str(files("fastapi_offline") / "static"))
# The files change only when the package is upgraded; a day's caching spares reloads.
_ASSET_HEADERS = {"Cache-Control": "public, max-age=86400"}
# The pages may load nothing from another origin, whatever the bundles ask for: ReDoc's footer,
# for one, shows a logo from cdn.redoc.ly (the browser refuses it and ReDoc drops the image).
# Inline: the page's own startup script, and the styles both libraries inject; blob: workers
# and data: images are ReDoc's search and Swagger UI's icons.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:")
_PAGE_HEADERS = {"Content-Security-Policy": CSP}


def _asset(name: str) -> str:
    return f"{ASSETS_PATH.lstrip('/')}/{name}"


def _openapi_url(request: Request) -> str:
    return str(request.app.openapi_url).lstrip("/")


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    page = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=_asset("swagger-ui-bundle.js"),
        swagger_css_url=_asset("swagger-ui.css"),
        swagger_favicon_url=_asset("favicon.png"),
        oauth2_redirect_url=None,  # API keys only: no OAuth2 flow to come back to
        # No badge from the online validator (validator.swagger.io).
        swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
    )
    page.headers.update(_PAGE_HEADERS)
    return page


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=_asset("redoc.standalone.js"),
        redoc_favicon_url=_asset("favicon.png"),
        with_google_fonts=False,
    )
    page.headers.update(_PAGE_HEADERS)
    return page


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    path = _ASSET_DIR / name
    if media_type is None or not path.is_file():
        raise HTTPException(status_code=404, detail="Not Found")
    return FileResponse(path, media_type=media_type, headers=_ASSET_HEADERS)
