"""Small factories for test data."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.auth import passwords
from hotline_api.auth import service as auth
from hotline_api.auth.models import User, UserExtension, UserRole
from hotline_api.config import Settings
from hotline_api.privacy.crypto import Keyring

PASSWORD = "mật-khẩu-thử-nghiệm-2026"
# hashed once: Argon2 is slow on purpose
_PASSWORD_HASH = passwords.hash_password(PASSWORD)

KEYRING = Keyring(
    keys={"test-2026a": bytes(range(32)), "test-2026b": bytes(range(1, 33))},
    active_key_id="test-2026b",
    hash_key=bytes(range(2, 34)),
)

_seq = itertools.count(1)


@dataclass
class SignedIn:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_user(
    session: AsyncSession,
    *roles: str,
    switchboard: str = "hanoi",
    username: str | None = None,
    extension: str | None = None,
    active: bool = True,
) -> User:
    n = next(_seq)
    user = User(
        username=username or f"user{n}",
        display_name=f"Nguyễn Văn Thử {n}",
        password_hash=_PASSWORD_HASH,
        home_switchboard=switchboard,
        languages=["vi"],
        is_active=active,
        roles=[UserRole(role=r) for r in (roles or ("counsellor",))],
        extensions=[UserExtension(switchboard_code=switchboard, extension=extension)] if extension else [],
    )
    session.add(user)
    await session.flush()
    return user


async def signed_in(session: AsyncSession, *roles: str, switchboard: str = "hanoi") -> SignedIn:
    user = await make_user(session, *roles, switchboard=switchboard)
    token, _ = await auth.issue_token(session, user, Settings(_env_file=None), "127.0.0.1")
    await session.flush()
    return SignedIn(user=user, token=token)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"username": username, "password": password})


# ---- switchboards ------------------------------------------------------------------------------


async def switchboard_secret(session: AsyncSession, switchboard: str = "hanoi", label: str = "test") -> str:
    from hotline_api.telephony import credentials

    _, secret = await credentials.issue(session, KEYRING, switchboard, label, "system:test")
    await session.flush()
    return secret


def basic_auth(switchboard: str, secret: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{switchboard}:{secret}".encode()).decode()}


def signed(secret: str, body: bytes, msg_id: str = "msg_1", timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers for ``body``."""
    import base64
    import hashlib
    import hmac
    import time

    stamp = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    sig = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": f"v1,{sig}"}


# ---- a database that does not answer -----------------------------------------------------------


@asynccontextmanager
async def dead_database_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app whose database cannot be reached (no lifespan: it would fail on it)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from hotline_api.app import create_app
    from hotline_api.db.session import engine_raw_connection_factory, make_sessionmaker

    dead = create_async_engine(
        "postgresql+psycopg://postgres@/hotline?host=/nonexistent&port=5432",
        connect_args={"connect_timeout": 1},
    )
    app = create_app(settings, engine=dead, keyring=KEYRING)
    app.state.engine = dead
    app.state.sessionmaker = make_sessionmaker(dead)
    app.state.keyring = KEYRING
    app.state.raw_connection = engine_raw_connection_factory(dead)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c
    finally:
        await dead.dispose()
