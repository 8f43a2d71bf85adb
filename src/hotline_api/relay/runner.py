"""The relay put together: spool, PBX readers, forwarder, status; started and stopped cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from hotline_api.relay.ami import AmiReader
from hotline_api.relay.ari import AriReader
from hotline_api.relay.config import RelaySettings
from hotline_api.relay.forwarder import Forwarder
from hotline_api.relay.sources import SourceState
from hotline_api.relay.spool import AsyncSpool
from hotline_api.relay.status import StatusServer, healthy, write_status_file

logger = logging.getLogger(__name__)
PRUNE_SECONDS = 3600.0
RESTART_SECONDS = 5.0


class Relay:
    """``async with Relay(settings) as relay:`` runs it; leaving the block stops it and closes the spool."""

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.spool = AsyncSpool(settings.spool_path, settings.switchboard)
        self.sources = {
            "ari": SourceState("ari", settings.ari_enabled),
            "ami": SourceState("ami", settings.ami_enabled),
        }
        self.ari = AriReader(settings, self._sink, self.sources["ari"]) if settings.ari_enabled else None
        self.ami = AmiReader(settings, self._sink, self.sources["ami"]) if settings.ami_enabled else None
        self.forwarder: Forwarder | None = None
        self.status_server: StatusServer | None = None
        self.started_at: float | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def _sink(self, source: str, body: bytes) -> int | None:
        seq = await self.spool.add(source, body)
        if seq is not None and self.forwarder is not None:
            self.forwarder.notify()
        return seq

    async def start(self) -> None:
        s = self.settings
        s.hmac_key()  # a secret that cannot sign stops the relay before it opens anything
        try:
            await self.spool.open()
            verify: Any = str(s.service_ca_file) if s.service_ca_file else True
            self._client = httpx.AsyncClient(
                timeout=s.service_timeout,
                verify=verify,
                follow_redirects=False,
                headers={"User-Agent": "hotline-api-relay"},
            )
            self.forwarder = Forwarder(s, self.spool, self._client)
            if s.status_enabled:
                self.status_server = StatusServer(self.status, s.status_host, s.status_port)
                await self.status_server.start()
        except BaseException:
            await self.stop()
            raise
        self.started_at = time.time()
        stats = await self.spool.stats()
        logger.info(
            "relay for %s started: spool %s (%d event(s) waiting), service %s",
            s.switchboard,
            s.spool_path,
            stats.backlog,
            s.service_url,
        )
        self._spawn("forwarder", self.forwarder.run)
        if self.ari is not None:
            self._spawn("ari", self.ari.run)
        if self.ami is not None:
            self._spawn("ami", self.ami.run)
        self._spawn("housekeeping", self._housekeeping)

    def _spawn(self, name: str, fn: Callable[[], Awaitable[None]]) -> None:
        async def supervised() -> None:
            while True:
                try:
                    await fn()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # a bug or a spool that cannot be written (disk full): say so, start over
                    logger.exception("relay: %s failed; restarting it in %.0f s", name, RESTART_SECONDS)
                    await asyncio.sleep(RESTART_SECONDS)

        self._tasks.append(asyncio.create_task(supervised(), name=f"relay-{name}"))

    async def stop(self) -> None:
        pending = set(self._tasks)
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=5)
            for task in pending:
                logger.warning("relay: %s is slow to stop", task.get_name())
        self._tasks.clear()
        if self.status_server is not None:
            await self.status_server.close()
            self.status_server = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self.spool.close()
        if self.started_at is not None:
            logger.info("relay for %s stopped; spool closed", self.settings.switchboard)
            self.started_at = None

    async def __aenter__(self) -> Relay:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def status_port(self) -> int | None:
        return self.status_server.port if self.status_server is not None else None

    async def status(self) -> dict[str, Any]:
        stats = await self.spool.stats()
        now = time.time()
        status: dict[str, Any] = {
            "switchboard": self.settings.switchboard,
            "time": now,
            "started_at": self.started_at,
            "backlog": stats.backlog,
            "oldest_age_seconds": None
            if stats.oldest_received_at is None
            else round(now - stats.oldest_received_at, 3),
            "rejected": stats.rejected,
            "spool_bytes": stats.size_bytes,
            "forward": self.forwarder.state.as_json() if self.forwarder else None,
            "sources": {name: state.as_json() for name, state in self.sources.items()},
        }
        status["healthy"] = healthy(status)
        return status

    async def _housekeeping(self) -> None:
        s = self.settings
        last_log = 0.0
        last_prune = 0.0
        while True:
            now = time.monotonic()
            if now - last_prune >= PRUNE_SECONDS:
                removed = await self.spool.prune(
                    s.spool_keep_sent_hours * 3600, s.spool_keep_rejected_days * 86400
                )
                if removed:
                    logger.info("spool: %d old row(s) removed", removed)
                last_prune = now
            status = await self.status()
            if s.status_file is not None:
                try:
                    await asyncio.to_thread(write_status_file, s.status_file, status)
                except OSError as exc:
                    logger.warning("status: cannot write %s: %s", s.status_file, exc.strerror)
            if status["backlog"] and now - last_log >= s.status_log_interval:
                forward = status["forward"] or {}
                logger.warning(
                    "backlog: %d event(s) waiting, the oldest for %.0f s; last error %s",
                    status["backlog"],
                    status["oldest_age_seconds"] or 0,
                    forward.get("last_error"),
                )
                last_log = now
            elif not status["backlog"]:
                last_log = 0.0
            await asyncio.sleep(s.status_interval)


async def serve(settings: RelaySettings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT or SIGTERM (or ``stop``); the spool is closed on the way out."""
    stop = stop or asyncio.Event()
    # httpx logs every request at INFO; the forwarder logs what matters
    logging.getLogger("httpx").setLevel(logging.WARNING)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Relay(settings):
            await stop.wait()
            logger.info("relay: stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
