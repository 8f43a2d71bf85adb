"""Work a service process does beside its requests for as long as it serves (the sweeper, the
report rollup, the memory guard): one task per loop, cancelled and awaited when the block ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def running(work: Coroutine[Any, Any, None] | None) -> AsyncIterator[None]:
    """Run ``work`` as a task for the life of the block (None: nothing to run)."""
    if work is None:
        yield
        return
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
