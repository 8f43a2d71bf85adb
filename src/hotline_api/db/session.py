"""Engine and the request-scoped session.

The request owns the transaction: services flush, never commit; the session dependency commits when
the endpoint returns and before the response leaves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from hotline_api.config import Settings


def make_engine(url: str, settings: Settings | None = None) -> AsyncEngine:
    pool_size = settings.db_pool_size if settings else 5
    overflow = settings.db_max_overflow if settings else 5
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_pre_ping=True,
        # a stuck database must not hold requests for ever: fail fast and answer 503
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


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
