"""The service's connection pools replace a connection after db_connection_lifetime: libpq keeps a
connection's buffers at the largest message it ever carried, so a connection kept for ever keeps
that memory for ever (docs/reliability.md, "Memory over time")."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from hotline_api.config import Settings
from hotline_api.db.session import make_engine, make_raw_pool


async def test_raw_pool_replaces_a_connection_after_its_lifetime(settings: Settings) -> None:
    short = settings.model_copy(update={"db_connection_lifetime": 1.0})
    pool = make_raw_pool(str(short.database_url), short, size=1)
    await pool.open(wait=True)
    try:

        async def backend() -> int:
            async with pool.connection() as conn:
                row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
                assert row is not None
                return int(row[0])

        first = await backend()
        assert await backend() == first  # young: reused
        await asyncio.sleep(1.2)
        await backend()  # handed out once more, then found expired when it comes back
        for _ in range(50):  # its replacement is opened in the background
            if pool.get_stats().get("pool_available", 0):
                break
            await asyncio.sleep(0.1)
        assert await backend() != first
    finally:
        await pool.close()


async def test_engine_replaces_a_connection_after_its_lifetime(settings: Settings) -> None:
    short = settings.model_copy(update={"db_connection_lifetime": 1.0})
    engine = make_engine(str(short.database_url), short)
    try:

        async def backend() -> int:
            async with engine.connect() as conn:
                return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

        first = await backend()
        assert await backend() == first
        await asyncio.sleep(1.2)
        assert await backend() != first
    finally:
        await engine.dispose()
