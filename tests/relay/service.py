"""The real service in processes of its own, on a port that stays the same across a stop and a start
(the relay keeps posting to one URL), without blocking the tests' event loop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import httpx

from tests.routing.servers import service_env


class ServiceProcesses:
    """``uvicorn hotline_api.app:app_factory --factory --workers N`` on 127.0.0.1:``port``."""

    def __init__(self, database_url: str, port: int, workers: int = 2) -> None:
        self.database_url = database_url
        self.port = port
        self.workers = workers
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, seconds: float = 60) -> None:
        assert self.process is None
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "hotline_api.app:app_factory",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--no-access-log",
            env=service_env(self.database_url),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.process.returncode is not None or time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(f"the service on port {self.port} did not start")
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(20):
                await process.wait()
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
