"""Giving the C heap's free pages back to the system every minute (glibc's ``malloc_trim``).

glibc's malloc returns freed memory to the system only from the top of its heap; memory freed
below a block still in use stays resident, free but kept. Under load, each new peak of requests in
flight leaves some behind, and the resident size creeps up in steps although the bytes in use do
not grow. ``malloc_trim(0)`` hands every whole free page back (``MADV_DONTNEED``); the next
allocation there takes a fresh zeroed page. docs/reliability.md, "Memory over time", has the figures:
in a 100-minute run at 245 events/s, one trim gave back all of a process's growth after its
thirtieth minute.

Where the C library is not glibc (musl, macOS) there is no ``malloc_trim`` and nothing is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
from collections.abc import AsyncIterator, Callable

from prometheus_client import Counter

from hotline_api.observability import REGISTRY

logger = logging.getLogger(__name__)

MEMORY_TRIMS = Counter(
    "hotline_memory_trims", "Times the C heap's free pages were given back to the system", registry=REGISTRY
)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_TRIM = _malloc_trim()


def available() -> bool:
    return _TRIM is not None


def trim() -> bool:
    """Give the heap's free pages back; False where there is no glibc."""
    if _TRIM is None:
        return False
    _TRIM(0)  # ctypes lets the GIL go meanwhile
    MEMORY_TRIMS.inc()
    return True


async def run_forever(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        # a thread: the event loop goes on answering while glibc walks its heap (about a millisecond)
        await asyncio.to_thread(trim)


@contextlib.asynccontextmanager
async def trimming(interval: float) -> AsyncIterator[None]:
    """Trim every ``interval`` seconds while inside; ``interval`` ≤ 0, or no glibc: never."""
    if interval <= 0 or _TRIM is None:
        yield
        return
    task = asyncio.create_task(run_forever(interval))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
