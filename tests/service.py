"""The whole service over real HTTP with its own committed database, as `hotline-api serve` runs it:
its own engine and pools, the LISTEN connection behind the live stream, the sweeper and the report
rollups. For the browser tests (tests/console) and the checks that need data really written
(tests/security). Each test makes its own users: the data is shared by the session."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from hotline_api.app import create_app
from hotline_api.auth.models import User, UserExtension, UserRole
from hotline_api.config import Settings
from hotline_api.db import migrate
from hotline_api.db.embedded import EmbeddedPostgres
from hotline_api.routing import engine as routing_engine
from hotline_api.telephony import credentials
from tests import factories

CONSOLE_DB = "hotline_console"
ALL_DAY = {str(d): ["00:00", "23:59"] for d in range(1, 8)}
_seq = itertools.count(1)


@asynccontextmanager
async def served(app: Any, proxy_headers: bool = True) -> AsyncIterator[str]:
    """The whole app (lifespan included: its pools, the live stream, the sweeper) behind uvicorn on a
    loopback port, in the running event loop; its address."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=proxy_headers,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    else:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    from tests.conftest import free_port as port

    return port()


@dataclass
class ConsoleService:
    url: str
    engine: AsyncEngine
    settings: Settings

    async def session(self) -> AsyncSession:
        return AsyncSession(self.engine, expire_on_commit=False)

    async def user(
        self, *roles: str, switchboard: str = "hanoi", extension: str | None = None, name: str | None = None
    ) -> User:
        """A committed user with the test password (factories.PASSWORD)."""
        n = next(_seq)
        async with await self.session() as s:
            user = User(
                username=f"{roles[0].replace('_', '-')}-{os.getpid()}-{n}",
                display_name=name or f"Nguyễn Thị Thử {n}",
                password_hash=factories._PASSWORD_HASH,
                home_switchboard=switchboard,
                languages=["vi"],
                is_active=True,
                roles=[UserRole(role=r) for r in roles],
                extensions=[UserExtension(switchboard_code=switchboard, extension=extension)]
                if extension
                else [],
            )
            s.add(user)
            await s.commit()
            return user

    async def switchboard_secret(self, switchboard: str = "hanoi") -> str:
        """A committed webhook credential for a switchboard (the simulator's)."""
        async with await self.session() as s:
            secret = await factories.switchboard_secret(s, switchboard, f"browser-test-{next(_seq)}")
            await s.commit()
        credentials.clear_cache()
        return secret

    async def token(self, user: User) -> dict[str, str]:
        """Bearer headers for the API as ``user`` (to prepare data the way a client would)."""
        from hotline_api.auth import service as auth

        async with await self.session() as s:
            token, _ = await auth.issue_token(s, user, self.settings, "127.0.0.1")
            await s.commit()
        return {"Authorization": f"Bearer {token}"}

    async def execute(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        async with self.engine.begin() as conn:
            result = await conn.execute(text(sql), params or {})
            return result.all() if result.returns_rows else result.rowcount


@pytest.fixture(scope="session")
def console_database_url(pg_server: EmbeddedPostgres) -> str:
    pg_server.drop_database(CONSOLE_DB)
    pg_server.ensure_database(CONSOLE_DB)
    url = pg_server.url(CONSOLE_DB)
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
async def console(console_database_url: str) -> AsyncIterator[ConsoleService]:
    settings = Settings(
        database_url=console_database_url, data_dir=Path("/nonexistent-test-data"), _env_file=None
    )
    eng = create_async_engine(console_database_url, poolclass=NullPool)
    async with eng.begin() as conn:
        # open around the clock: the tests must not depend on the hour they run at
        await conn.execute(
            text("UPDATE routing_settings SET opening_hours = CAST(:h AS jsonb)"), {"h": json.dumps(ALL_DAY)}
        )
    routing_engine.clear_cache()
    credentials.clear_cache()
    app = create_app(settings, keyring=factories.KEYRING)  # its own engine and pools: the real service
    try:
        async with served(app) as url:
            yield ConsoleService(url, eng, settings)
    finally:
        await eng.dispose()
