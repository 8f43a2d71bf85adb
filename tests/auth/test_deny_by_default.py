"""Walk every route of the app: each must refuse a request without a credential, apart from the
short allow-list in hotline_api.app.PUBLIC_PATHS."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute, Route

from hotline_api.app import PUBLIC_PATHS

# plausible values for path parameters, so that the request reaches the credential check
SAMPLES = {"switchboard": "hanoi", "source": "ari"}


def _concrete(path: str) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: SAMPLES.get(m.group(1), "1"), path)


def websocket_paths(routes: list[BaseRoute]) -> list[str]:
    found: list[str] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += websocket_paths(inner.routes)
        elif isinstance(route, APIWebSocketRoute):
            found.append(route.path)
    return found


def all_routes(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every route, descending into included routers. FastAPI keeps an included
    router as one node (its routes under ``original_router``); ours carry their prefix themselves."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += all_routes(inner.routes)
        elif isinstance(route, Route | APIRoute):
            found += [(m, route.path) for m in sorted(route.methods or []) if m not in {"HEAD", "OPTIONS"}]
    return found


async def test_every_route_requires_a_credential(app, client):
    routes = all_routes(app.routes)
    # the walk sees everything the API documents (and the undocumented routes besides)
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= set(routes)
    checked = 0
    for method, path in routes:
        if path in PUBLIC_PATHS:
            continue
        r = await client.request(method, _concrete(path), json={})
        assert r.status_code == 401, f"{method} {path} answered {r.status_code} without a credential"
        if path.endswith("/route"):
            # the dialplan's dialogue answers in its own form, always with an action to follow
            assert "action=queue" in r.text and "reason=unauthorized" in r.text
        else:
            assert r.json()["error"]["code"] == "unauthorized"
        checked += 1
    assert checked >= 15
    # the allow-list names only routes that exist
    assert {p for _, p in routes} >= PUBLIC_PATHS


async def test_allow_list_is_short_and_harmless(client):
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200
    # the login endpoint answers, but only to a correct credential
    assert (
        await client.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
    ).status_code == 401


async def test_a_signed_in_user_without_the_role_is_refused(client, session):
    from tests.factories import signed_in

    analyst = await signed_in(session, "analyst")
    r = await client.get("/api/v1/users", headers=analyst.headers)
    assert r.status_code == 403
    assert "admin" in r.json()["error"]["message"]


async def test_every_websocket_refuses_a_handshake_without_a_credential(app, client, server_url):
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    paths = websocket_paths(app.routes)
    assert paths  # Asterisk's outbound ARI WebSocket at least
    for path in paths:
        url = server_url.replace("http://", "ws://") + _concrete(path)
        try:
            async with connect(url):
                raise AssertionError(f"{path} accepted a WebSocket without a credential")
        except InvalidStatus as refused:
            assert refused.response.status_code == 401, path
