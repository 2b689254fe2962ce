"""What a browser gets beside the API: security headers on every response, and the API docs
(``/docs``, Swagger UI) served from a packaged copy, so they work with no network.

The page loads nothing from elsewhere and has no inline script or style, so one strict Content
Security Policy fits it: everything from this origin (``'self'`` also covers the page's own
``ws://``/``wss://`` socket), ``data:`` images only (the empty favicon, Swagger UI's icons), no
plugins, no ``<base>``, and never inside a frame (``frame-ancestors 'none'``, plus the older
``X-Frame-Options: DENY``). ``/docs`` lives under the same policy: its page has no inline
script (``static/docs.js`` starts Swagger UI), and Swagger UI styles itself through the DOM,
which a CSP allows (tests/web/test_web_security.py records no violation on either page).

Swagger UI comes from the ``swagger-ui-bundle-v2`` package (the assets the connexion project
ships), not from a CDN: a well-kept packaged copy rather than files vendored by hand.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATH = "/docs"
DOCS_ASSETS = "/docs/assets"

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>auctionhouse API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi}"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""


class SecurityHeaders:
    """Pure ASGI: add the security headers and the CSP to every HTTP response, whatever
    produced it (a route, a static file, an error handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", PAGE_CSP)
            await send(message)

        await self.app(scope, receive, with_headers)


def swagger_ui_dir() -> Path | None:
    """The packaged Swagger UI assets, or None when the package is missing."""
    try:
        import swagger_ui_bundle
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    path = Path(str(swagger_ui_bundle.swagger_ui_path))
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the packaged assets (the app is built with ``docs_url=None``
    so FastAPI's CDN page is never served)."""
    assets = swagger_ui_dir()
    if assets is None:  # pragma: no cover
        return
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    page = DOCS_PAGE.format(assets=DOCS_ASSETS, openapi=app.openapi_url or "/openapi.json")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)
