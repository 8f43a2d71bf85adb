"""Test fixtures: a real PostgreSQL (the embedded server, started here), migrated by Alembic; the app
served over real HTTP by uvicorn on a loopback port; every test inside a transaction rolled back.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from hotline_api.app import create_app
from hotline_api.config import Settings
from hotline_api.db import migrate
from hotline_api.db.embedded import EmbeddedPostgres
from hotline_api.db.session import get_session
from hotline_api.privacy.crypto import Keyring
from hotline_api.telephony.batcher import IntakeBatcher
from tests import factories
from tests.service import console, console_database_url, served  # noqa: F401 - fixtures for the whole suite

TEST_DB = "hotline_test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def short_tempdir(prefix: str) -> Path:
    """A throwaway folder with a short path (Unix socket paths are limited), reachable by the
    PostgreSQL user when the tests run as root. It is ours, so opening it to traversal is fine."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o711)  # noqa: S103
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    base = short_tempdir("hl-test-")
    server = EmbeddedPostgres(base / "data")
    server.acquire()
    try:
        yield server
    finally:
        server.release()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(pg_server: EmbeddedPostgres) -> str:
    pg_server.drop_database(TEST_DB)
    pg_server.ensure_database(TEST_DB)
    url = pg_server.url(TEST_DB)
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    return factories.KEYRING


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, data_dir=Path("/nonexistent-test-data"), _env_file=None)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url, poolclass=NullPool)
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            yield conn
        finally:
            await trans.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    s = AsyncSession(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(scope="session")
async def app(settings: Settings, engine: AsyncEngine, keyring: Keyring) -> AsyncIterator[FastAPI]:
    application = create_app(settings, engine=engine, keyring=keyring)
    yield application


@pytest.fixture(scope="session")
async def server_url(app: FastAPI) -> AsyncIterator[str]:
    """The app behind uvicorn on a loopback port, in the tests' own event loop, proxy headers off."""
    async with served(app, proxy_headers=False) as url:
        yield url


@pytest.fixture
async def client(
    app: FastAPI, server_url: str, connection: AsyncConnection
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests run inside the test's transaction."""

    async def test_session() -> AsyncIterator[AsyncSession]:
        s = AsyncSession(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield s
            await s.commit()
        except BaseException:
            await s.rollback()
            raise
        finally:
            await s.close()

    # the hot paths (webhooks) speak psycopg directly: give them the same connection; their
    # transaction blocks become savepoints inside the test's transaction
    await connection.execute(text("SELECT 1"))  # the transaction has begun on the server
    driver = (await connection.get_raw_connection()).driver_connection

    @asynccontextmanager
    async def test_raw_connection() -> AsyncIterator[Any]:
        yield driver

    app.dependency_overrides[get_session] = test_session
    original_raw = app.state.raw_connection
    original_batcher = app.state.intake_batcher
    app.state.raw_connection = test_raw_connection
    # one write at a time: every write shares the test's one connection
    app.state.intake_batcher = IntakeBatcher(
        lambda: app.state.raw_connection, app.state.keyring, max_in_flight=1
    )
    try:
        async with httpx.AsyncClient(base_url=server_url, timeout=10) as c:
            yield c
    finally:
        app.dependency_overrides.pop(get_session, None)
        await app.state.intake_batcher.close()
        app.state.raw_connection = original_raw
        app.state.intake_batcher = original_batcher
