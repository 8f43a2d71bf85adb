"""The interactive API documentation (/docs, Swagger UI) served from this service.

FastAPI's own page loads its script from a CDN, which an isolated network cannot reach and which
would run a third party's script on this service's origin — where the console keeps its session.
Here the script comes from the fastapi-offline package (the Swagger UI bundle it ships), the page is
plain HTML with no inline script, and it carries a Content-Security-Policy of its own
(observability.RequestContextMiddleware): scripts, styles and images from this origin only.

There is no /redoc: ReDoc fetches its logo from redoc.ly and needs inline styles and a blob: worker,
and it shows nothing /docs does not (the description itself is /openapi.json, for any other viewer).
"""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

OURS = Path(__file__).parent / "static"
BUNDLES = Path(fastapi_offline.__file__).parent / "static"
ASSETS = "/docs/assets"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body data-openapi="{openapi}">
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/local/swagger.js"></script>
</body>
</html>
"""


def mount(app: FastAPI) -> None:
    """Add /docs and its files; the app must be made with docs_url=None (and redoc_url=None)."""
    page = _PAGE.format(
        title=html.escape(app.title), assets=ASSETS, openapi=app.openapi_url or "/openapi.json"
    )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(page)

    # the page's own starter script first (a Mount matches by prefix), then the bundle
    app.mount(f"{ASSETS}/local", StaticFiles(directory=OURS), name="apidocs-local")
    app.mount(ASSETS, StaticFiles(directory=BUNDLES), name="apidocs-bundles")
