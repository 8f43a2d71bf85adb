"""The web console: static files served at /console, no build step, no outside resource.

Everything the console shows comes from the REST API and the live stream with the signed-in user's
own credential (the session cookie and its CSRF token); the files themselves hold no data, so they are
served without a credential, like the sign-in form they start with.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


# its Content-Security-Policy and other headers: observability.RequestContextMiddleware
class ConsoleFiles(StaticFiles):
    """Static files that the browser revalidates each time: a new release is seen at once."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount(app: FastAPI) -> None:
    @app.get("/console", include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=308)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    app.mount("/console", ConsoleFiles(directory=STATIC, html=True), name="console")
