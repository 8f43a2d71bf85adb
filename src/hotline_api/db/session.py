"""Engine and the request-scoped session.

The request owns the transaction: services flush, never commit; the session dependency commits when
the endpoint returns and before the response leaves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from hotline_api.config import Settings

RawConnectionFactory = Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]


def make_engine(url: str, settings: Settings | None = None) -> AsyncEngine:
    pool_size = settings.db_pool_size if settings else 5
    overflow = settings.db_max_overflow if settings else 5
    lifetime = settings.db_connection_lifetime if settings else 600
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_pre_ping=True,
        # replaced after a while: see Settings.db_connection_lifetime
        pool_recycle=lifetime,
        # a stuck database must not hold requests for ever: fail fast and answer 503
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


async def driver_connection(session: AsyncSession) -> AsyncConnection[Any]:
    """The psycopg connection under a session, inside the session's transaction (for hot paths
    written in plain SQL)."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, AsyncConnection)
    return driver


def make_raw_pool(url: str, settings: Settings | None = None, size: int | None = None) -> AsyncConnectionPool:
    """A psycopg pool for the hot paths (webhooks, routing), beside SQLAlchemy's."""
    if size is None:
        size = (settings.db_pool_size + settings.db_max_overflow) if settings else 10
    return AsyncConnectionPool(
        url.replace("postgresql+psycopg://", "postgresql://", 1),
        min_size=min(2, size),
        max_size=size,
        open=False,
        timeout=5,
        # replaced after a while (psycopg_pool adds a jitter): see Settings.db_connection_lifetime
        max_lifetime=settings.db_connection_lifetime if settings else 600,
        # psycopg_pool retries a failed connection with a doubling delay (1, 2, 4, 8, 16, 32 s …)
        # until reconnect_timeout: after a 40 s outage the next attempt came 20 s after the database
        # was back (benchmarks/faults.py). A short series, given up after 5 s, is started again by
        # the next request that finds no connection, so the pool reconnects within ~2 s of the end.
        reconnect_timeout=5,
        # autocommit: the intake's one statement is its own transaction (one round trip); work of
        # several statements opens conn.transaction() explicitly
        kwargs={"connect_timeout": 5, "autocommit": True},
    )


def raw_connection_factory(pool: AsyncConnectionPool) -> RawConnectionFactory:
    @asynccontextmanager
    async def factory() -> AsyncIterator[AsyncConnection[Any]]:
        async with pool.connection() as conn:
            yield conn

    return factory


def engine_raw_connection_factory(engine: AsyncEngine) -> RawConnectionFactory:
    """Raw connections borrowed from a SQLAlchemy engine's pool (an app given its engine: tests)."""

    @asynccontextmanager
    async def factory() -> AsyncIterator[AsyncConnection[Any]]:
        async with engine.connect() as sa_conn:
            raw = await sa_conn.get_raw_connection()
            driver = raw.driver_connection
            assert isinstance(driver, AsyncConnection)
            yield driver

    return factory


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit runs when the endpoint returns, before the response is sent, so that
# a client is never told "done" about a transaction that then fails to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
