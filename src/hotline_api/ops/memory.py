"""The memory ceiling of a service process (PRODUCT.md: at most 200 MB resident per process).

Under load a process's resident size creeps up by about 1 MiB an hour after its warm-up: glibc's
heap keeps the pages of memory freed among blocks still in use, and handing them back
(``malloc_trim``) does not hold the size down (docs/reliability.md, "Memory over time"). So that the ceiling holds however long
a process runs, every ``hotline-api serve`` process reads its own size every
``HOTLINE_MEMORY_CHECK_SECONDS``; once it passes ``HOTLINE_MEMORY_LIMIT_MB`` the process stops
taking connections, finishes the requests it holds, and exits, to be started again at its warm-up
size by its supervisor — uvicorn's own with ``--workers`` 2 or more (the listening socket stays
open meanwhile, so callers wait instead of being refused), systemd's or Docker's restart policy with
one process. uWSGI's ``reload-on-rss`` does the same.

A limit below the size the process already has when it starts would replace it for ever: the guard
says so in the log and stays off instead.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable

from prometheus_client import Gauge

from hotline_api.observability import REGISTRY

logger = logging.getLogger(__name__)

MB = 1_000_000  # PRODUCT.md's megabyte; /proc counts kibibytes

RESIDENT = Gauge(
    "hotline_process_resident_bytes",
    "This process's resident memory when the memory guard last read it",
    registry=REGISTRY,
)
LIMIT = Gauge(
    "hotline_process_memory_limit_bytes",
    "HOTLINE_MEMORY_LIMIT_MB in bytes: past it the process is replaced (0: no guard)",
    registry=REGISTRY,
)


def resident_bytes() -> int | None:
    """VmRSS of this process, or None where /proc cannot tell (not Linux)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def terminate_self() -> None:
    """What SIGTERM does to a uvicorn process: finish the requests in hand, then exit.

    In a worker of ``--workers N`` uvicorn's supervisor then starts a new worker on the same socket.
    """
    signal.raise_signal(signal.SIGTERM)


class MemoryGuard:
    """Reads the process's size every ``interval`` seconds; past ``limit_mb``, calls ``on_limit`` once."""

    def __init__(
        self,
        limit_mb: float,
        interval: float,
        on_limit: Callable[[], None],
        read: Callable[[], int | None] = resident_bytes,
    ) -> None:
        self.limit = int(limit_mb * MB)
        self.interval = interval
        self.on_limit = on_limit
        self.read = read
        self.started = time.monotonic()

    def _sizes(self, size: int) -> dict[str, float]:
        return {"resident_mb": round(size / MB, 1), "limit_mb": round(self.limit / MB, 1)}

    async def run(self) -> None:
        size = self.read()
        if size is None:
            logger.warning("memory guard off: this system does not tell a process's resident size")
            return
        RESIDENT.set(size)
        if size >= self.limit:
            LIMIT.set(0)
            logger.error(
                "memory guard off: HOTLINE_MEMORY_LIMIT_MB is below this process's size at start, "
                "so every new process would be replaced at once; raise it (docs/reliability.md)",
                extra=self._sizes(size),
            )
            return
        LIMIT.set(self.limit)
        logger.info("memory guard on", extra=self._sizes(size))
        while True:
            await asyncio.sleep(self.interval)
            size = self.read()
            if size is None:
                continue
            RESIDENT.set(size)
            if size >= self.limit:
                logger.warning(
                    "memory limit reached: finishing the requests in hand, then exiting to be replaced",
                    extra={
                        **self._sizes(size),
                        "uptime_minutes": round((time.monotonic() - self.started) / 60),
                    },
                )
                self.on_limit()
                return
