"""The relay's status: ``GET /status`` on a loopback port, and optionally a JSON file.

``GET http://127.0.0.1:9188/status`` answers (and the status file holds) one JSON object::

    {"switchboard": "hanoi", "time": 1767225600.1, "started_at": …,
     "backlog": 0, "oldest_age_seconds": null, "rejected": 0, "spool_bytes": 53248,
     "forward": {"service_accepting": true, "sent_events": …, "requests": {"200": …}, "rejected_events": 0,
                 "last_success_at": …, "last_error": "http_503", "last_error_at": …, "retry_at": null},
     "sources": {"ari": {"enabled": true, "connected": true, "connects": 1, "received": …, …},
                 "ami": {"enabled": false, …}},
     "healthy": true}

Times are Unix seconds. ``healthy`` is false when an enabled source is not connected or the
oldest waiting event is older than 5 minutes. ``GET /healthz`` answers 200 or 503 from it, for a
monitoring probe. No event, number or name is ever in it. The server is a few lines of HTTP/1.1
on asyncio (one request per connection); bind it to loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
STALE_SECONDS = 300.0

Snapshot = Callable[[], Awaitable[dict[str, Any]]]


def write_status_file(path: Path, status: dict[str, Any]) -> None:
    """Atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(status, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class StatusServer:
    def __init__(self, snapshot: Snapshot, host: str, port: int) -> None:
        self.snapshot = snapshot
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        logger.info("status: http://%s:%d/status", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(asyncio.CancelledError):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = request.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                status, payload = 405, {"error": "only GET"}
            elif path == "/status":
                status, payload = 200, await self.snapshot()
            elif path == "/healthz":
                snap = await self.snapshot()
                status, payload = (200 if snap["healthy"] else 503), {"healthy": snap["healthy"]}
            else:
                status, payload = 404, {"error": "GET /status or /healthz"}
            body = json.dumps(payload).encode()
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
            writer.write(
                f"HTTP/1.1 {status} {reason[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n".encode()
                + (body if method == "GET" else b"")
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except Exception:  # the status page must never take the relay down
            logger.exception("status: request failed")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def healthy(status: dict[str, Any]) -> bool:
    sources_ok = all(s["connected"] for s in status["sources"].values() if s["enabled"])
    age = status["oldest_age_seconds"]
    return bool(sources_ok and (age is None or age < STALE_SECONDS))
