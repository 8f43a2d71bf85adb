"""The sweeper: closes calls whose end never arrived (PRODUCT.md §1).

Every service process runs the loop; a PostgreSQL advisory lock lets one of them sweep at a time, so
a second process changes nothing and a dead one stops nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline_api import background
from hotline_api.calls.service import sweep

logger = logging.getLogger(__name__)
_SWEEP_LOCK = 0x5357_4550  # "SWEP"


async def sweep_once(maker: async_sessionmaker[AsyncSession], idle: timedelta) -> int | None:
    """Sweep if no other process is sweeping; the number of calls closed, or None when skipped."""
    async with maker() as session:
        got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _SWEEP_LOCK})
        if not got:
            return None
        closed = await sweep(session, idle)
        # the live stream's replay window is a day
        await session.execute(text("DELETE FROM live_events WHERE at < now() - interval '1 day'"))
        await session.commit()
        if closed:
            logger.info("sweeper closed calls with no end", extra={"closed": closed})
        return closed


async def run_forever(maker: async_sessionmaker[AsyncSession], idle: timedelta, interval: float) -> None:
    while True:
        try:
            await sweep_once(maker, idle)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be away; try again next round
            logger.warning("sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(interval)


def running(
    maker: async_sessionmaker[AsyncSession], idle: timedelta, interval: float
) -> contextlib.AbstractAsyncContextManager[None]:
    """The sweeper, for the life of a service process."""
    return background.running(run_forever(maker, idle, interval))
