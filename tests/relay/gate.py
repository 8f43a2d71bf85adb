"""A tiny HTTP/1.1 front of the service, for the relay's tests: it passes requests on to the real
service, or answers 503 (with or without Retry-After) like a service whose database is away, or
passes a request on and then withholds the answer, like a network that dies after the service has
stored a batch. It records every request it sees (never decoding more than the body's size)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass
class Seen:
    at: float
    path: str
    webhook_id: str
    body: bytes
    status: int | None = None
    answer: bytes = b""

    @property
    def events(self) -> list[object]:
        data = json.loads(self.body)
        return data if isinstance(data, list) else [data]

    @property
    def is_array(self) -> bool:
        return self.body.lstrip().startswith(b"[")


class Gate:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        # pass | unavailable | hold (pass a batch — a JSON array — on, then withhold the answer;
        # a single event passes as usual)
        self.mode = "pass"
        self.retry_after: str | None = None
        self.unavailable_for: int | None = None  # answer 503 to this many requests, then pass
        self.seen: list[Seen] = []
        self.held = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._client = httpx.AsyncClient(timeout=30)
        self._changed = asyncio.Condition()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.transport.abort()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        await self._client.aclose()

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 20) -> None:
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(predicate)

    def answered(self, status: int) -> list[Seen]:
        return [s for s in self.seen if s.status == status]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            seen = Seen(time.monotonic(), path, headers.get("webhook-id", ""), body)
            async with self._changed:
                self.seen.append(seen)
                self._changed.notify_all()
            unavailable = self.mode == "unavailable"
            if self.unavailable_for is not None:
                unavailable = len(self.seen) <= self.unavailable_for
            if unavailable:
                status, answer = 503, b'{"error": {"code": "unavailable", "message": "the database is away"}}'
                extra = f"Retry-After: {self.retry_after}\r\n" if self.retry_after is not None else ""
                content_type = "application/json"
            else:
                forward = {
                    k: v for k, v in headers.items() if k not in ("host", "content-length", "connection")
                }
                r = await self._client.request(method, self.upstream + path, content=body, headers=forward)
                status, answer, extra = r.status_code, r.content, ""
                content_type = r.headers.get("content-type", "application/json")
                if self.mode == "hold" and seen.is_array:
                    # the service has stored it; the answer never leaves
                    seen.status = -status
                    self.held.set()
                    await asyncio.sleep(3600)
            seen.status, seen.answer = status, answer
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(answer)}\r\n"
                f"{extra}Connection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
            async with self._changed:
                self._changed.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
