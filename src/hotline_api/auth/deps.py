"""Credential and role dependencies. Deny by default: every router under /api takes one of these.

A request proves who it is with ``Authorization: Bearer <token>`` (API clients) or with the session
cookie (the browser console). A cookie is sent by the browser on its own, so a cookie-authenticated
request that changes state must also carry ``X-CSRF-Token``, which only the page that signed in can
know (double submit, bound to the session token).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from hotline_api.audit.service import Actor
from hotline_api.auth import service
from hotline_api.auth.service import Principal
from hotline_api.config import Settings
from hotline_api.db.session import SessionDep
from hotline_api.errors import Forbidden, PasswordChangeRequired, Unauthorized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# what a user whose password was chosen by someone else may do before changing it
BEFORE_PASSWORD_CHANGE = frozenset(
    {"/api/v1/auth/me", "/api/v1/auth/session", "/api/v1/auth/password", "/api/v1/auth/logout"}
)


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def client_address(request: HTTPConnection) -> str:
    """The client's address; X-Forwarded-For is believed only from a configured proxy."""
    peer = request.client.host if request.client else "unknown"
    settings: Settings = request.app.state.settings
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and settings.trusted_proxies:
        try:
            peer_ip = ipaddress.ip_address(peer)
            if any(peer_ip in ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies):
                return forwarded.split(",")[0].strip()
        except ValueError:
            pass
    return peer


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


async def current_principal(request: Request, session: SessionDep) -> Principal:
    token = bearer_token(request)
    via_cookie = False
    if token is None:
        token = request.cookies.get(request.app.state.settings.cookie_name)
        via_cookie = token is not None
    if not token:
        raise Unauthorized()
    principal = await service.principal_for_token(session, token, via_cookie)
    if via_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent, service.csrf_for(token)):
            raise Forbidden("missing or wrong X-CSRF-Token for a cookie-authenticated request")
    if principal.password_must_change and request.url.path not in BEFORE_PASSWORD_CHANGE:
        raise PasswordChangeRequired(
            "your password was set by someone else: change it first (POST /api/v1/auth/password)"
        )
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits a signed-in user holding any of ``roles``."""

    async def dependency(principal: CurrentUser) -> Principal:
        if not principal.has(*roles):
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return principal

    return dependency


AdminUser = Annotated[Principal, Depends(require_roles("admin"))]
AuditReader = Annotated[Principal, Depends(require_roles("admin", "national_supervisor"))]


def actor_of(principal: Principal, request: Request) -> Actor:
    return Actor(
        label=principal.actor_label, user_id=principal.user_id, client_address=client_address(request)
    )
