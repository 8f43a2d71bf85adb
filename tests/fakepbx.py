"""A fake Asterisk for tests: its ARI event WebSocket and its AMI TCP port, over real sockets.

Written from Asterisk's documentation, not from a running Asterisk (none runs in this project):

- ARI — https://docs.asterisk.org/Configuration/Interfaces/Asterisk-REST-Interface-ARI/ and the
  events WebSocket, https://docs.asterisk.org/Configuration/Interfaces/Asterisk-REST-Interface-ARI/Getting-Started-with-ARI/
  (``GET /ari/events?app=<apps>&subscribeAll=<bool>`` upgraded to a WebSocket; HTTP Basic with an
  ari.conf user, 401 otherwise; every event one JSON text message). Asterisk's WebSocket does not
  negotiate permessage-deflate, so neither does this one.
- AMI — https://docs.asterisk.org/Configuration/Interfaces/Asterisk-Manager-Interface-AMI/,
  https://docs.asterisk.org/Latest_API/API_Documentation/AMI_Actions/Login/ and
  https://docs.asterisk.org/Latest_API/API_Documentation/AMI_Actions/Ping/, with the exact
  answers of main/manager.c: the banner ``Asterisk Call Manager/<version>``; messages of
  ``Key: Value`` lines closed by a blank line; Login answered ``Response: Success`` /
  ``Message: Authentication accepted`` then, for a user who may read ``system``, ``Event:
  FullyBooted``; a refused login answered ``Response: Error`` / ``Message: Authentication failed``
  after a second, then the connection closed; Ping answered ``Ping: Pong`` and a ``Timestamp``.

The event sequences themselves come from src/hotline_api/telephony/scenarios.py (the Scenario
generator the simulator uses), never invented here.

Both servers deliver a script of messages in order to whichever client is connected. The network
can be made to fail: ``drop()`` aborts the connection mid-stream (no close frame, no FIN dance);
``silence()`` (AMI) keeps the socket open but stops answering anything, as a dead peer behind a
stateful firewall would. Real Asterisk keeps nothing for a client that is away; these fakes can, on
a reconnect, resume ``overlap`` messages before where they stopped — a replay that the relay must
recognise as copies.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hotline_api.telephony.scenarios import ami_text


class Script:
    """Messages to deliver in order, to one connection after another."""

    def __init__(self, overlap: int = 0) -> None:
        self.messages: list[bytes] = []
        self.cursor = 0  # index of the next message to send
        self.overlap = overlap
        self._changed = asyncio.Condition()

    async def add(self, *messages: bytes) -> None:
        async with self._changed:
            self.messages.extend(messages)
            self._changed.notify_all()

    async def next(self) -> int:
        async with self._changed:
            await self._changed.wait_for(lambda: self.cursor < len(self.messages))
            return self.cursor

    def sent(self, index: int) -> None:
        self.cursor = max(self.cursor, index + 1)

    def reconnected(self) -> None:
        self.cursor = max(0, self.cursor - self.overlap)

    @property
    def pending(self) -> int:
        return len(self.messages) - self.cursor


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class FakeAri:
    """Asterisk's ARI events WebSocket: ``ws://127.0.0.1:<port>/ari/events``."""

    def __init__(
        self,
        user: str = "hotline-relay",
        password: str = "ari-pass",  # noqa: S107 - a test double's
        app: str = "hotline",
        overlap: int = 0,
    ) -> None:
        self.user, self.password, self.app = user, password, app
        self.script = Script(overlap)
        self.connections = 0
        self.refused: list[int] = []  # HTTP status of each refused handshake
        self.queries: list[dict[str, list[str]]] = []
        self._server: Server | None = None
        self._current: ServerConnection | None = None
        self._connected = asyncio.Condition()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ari/events"

    async def start(self) -> None:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._check,
            compression=None,
            server_header="Asterisk/18.20.0",
            ping_interval=None,
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        self.queries.append(query)
        if parts.path != "/ari/events":
            return self._refuse(connection, HTTPStatus.NOT_FOUND, {"message": "Resource not found"})
        if _basic(request.headers.get("Authorization")) != (self.user, self.password):
            response = self._refuse(
                connection, HTTPStatus.UNAUTHORIZED, {"message": "Authentication required"}
            )
            response.headers["WWW-Authenticate"] = 'Basic realm="Asterisk REST Interface"'
            return response
        if self.app not in ",".join(query.get("app", [])).split(","):
            return self._refuse(connection, HTTPStatus.BAD_REQUEST, {"message": "Missing param: app"})
        return None

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, body: dict[str, str]) -> Response:
        self.refused.append(int(status))
        response = connection.respond(status, json.dumps(body))
        response.headers["Content-Type"] = "application/json"
        return response

    async def _handler(self, ws: ServerConnection) -> None:
        async with self._connected:
            self.connections += 1
            if self.connections > 1:
                self.script.reconnected()
            self._current = ws
            self._connected.notify_all()
        sender = asyncio.create_task(self._send(ws))
        try:
            await ws.wait_closed()  # the client left, the network failed, or the server closes
        finally:
            sender.cancel()
            await asyncio.wait([sender])
            if self._current is ws:
                self._current = None

    async def _send(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                index = await self.script.next()
                await ws.send(self.script.messages[index].decode("utf-8"))
                self.script.sent(index)

    async def emit(self, *events: dict[str, Any]) -> None:
        """ARI events, each one JSON text message as Asterisk writes it."""
        await self.script.add(*(json.dumps(e, ensure_ascii=False).encode("utf-8") for e in events))

    async def emit_raw(self, text: str) -> None:
        await self.script.add(text.encode("utf-8"))

    async def wait_connections(self, n: int, seconds: float = 10) -> None:
        async with asyncio.timeout(seconds), self._connected:
            await self._connected.wait_for(lambda: self.connections >= n and self._current is not None)

    async def drop(self) -> None:
        """The network fails mid-stream: the connection is cut without a close frame."""
        ws = self._current
        assert ws is not None, "no client is connected"
        ws.transport.abort()
        await ws.wait_closed()


class FakeAmi:
    """Asterisk's manager interface on ``127.0.0.1:<port>``."""

    def __init__(
        self,
        username: str = "hotline-relay",
        secret: str = "ami-pass",  # noqa: S107 - a test double's
        version: str = "9.0.0",
        overlap: int = 0,
        system_read: bool = True,
    ) -> None:
        self.username, self.secret, self.version = username, secret, version
        self.system_read = system_read  # the user may read the system class: FullyBooted is sent
        self.script = Script(overlap)
        self.connections = 0
        self.logins = 0
        self.failed_logins = 0
        self.pings = 0  # answered
        self.pings_received = 0  # answered or not (a silent peer)
        self.login_events: list[str] = []  # the Events: header of each login
        self._server: asyncio.Server | None = None
        self._current: asyncio.StreamWriter | None = None
        self._silent: set[asyncio.StreamWriter] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._logged_in = asyncio.Condition()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.transport.abort()
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=5)
            await self._server.wait_closed()

    async def emit(self, *events: dict[str, Any]) -> None:
        """AMI events, each written as Asterisk writes it (``Key: Value`` CRLF lines, blank line)."""
        await self.script.add(*(ami_text([e]) for e in events))

    async def wait_logins(self, n: int, seconds: float = 10) -> None:
        async with asyncio.timeout(seconds), self._logged_in:
            await self._logged_in.wait_for(lambda: self.logins >= n)

    async def drop(self) -> None:
        """The network fails mid-stream: the TCP connection is cut."""
        writer = self._current
        assert writer is not None, "no client is logged in"
        writer.transport.abort()

    def silence(self) -> None:
        """The peer goes dead without closing: nothing more is sent or answered on this connection."""
        assert self._current is not None, "no client is logged in"
        self._silent.add(self._current)

    async def _read_message(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        fields: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode("utf-8").rstrip("\r\n")
            if not text:
                if fields:
                    return fields
                continue
            key, _, value = text.partition(":")
            fields[key.strip().lower()] = value.strip()

    @staticmethod
    def _answer(fields: dict[str, str], response: str, **headers: str) -> bytes:
        lines = [f"Response: {response}"]
        if fields.get("actionid"):
            lines.append(f"ActionID: {fields['actionid']}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        self.connections += 1
        sender: asyncio.Task[None] | None = None
        writer.write(f"Asterisk Call Manager/{self.version}\r\n".encode())
        try:
            while True:
                fields = await self._read_message(reader)
                if fields is None:
                    return
                action = fields.get("action", "").lower()
                if action == "ping":
                    self.pings_received += 1
                if writer in self._silent:
                    continue
                if action == "login":
                    if (fields.get("username"), fields.get("secret")) != (self.username, self.secret):
                        self.failed_logins += 1
                        await asyncio.sleep(1)  # manager.c sleeps a second before refusing
                        writer.write(self._answer(fields, "Error", Message="Authentication failed"))
                        await writer.drain()
                        return
                    writer.write(self._answer(fields, "Success", Message="Authentication accepted"))
                    self.login_events.append(fields.get("events", ""))
                    if self.system_read:
                        writer.write(
                            b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 3600\r\n"
                            b"LastReload: 3600\r\nStatus: Fully Booted\r\n\r\n"
                        )
                    if sender is None:
                        if self.connections > 1:
                            self.script.reconnected()
                        self._current = writer
                        sender = asyncio.create_task(self._send_events(writer))
                    async with self._logged_in:
                        self.logins += 1
                        self._logged_in.notify_all()
                elif sender is None:
                    writer.write(self._answer(fields, "Error", Message="Authentication Required"))
                elif action == "ping":
                    self.pings += 1
                    writer.write(self._answer(fields, "Success", Ping="Pong", Timestamp=f"{time.time():.6f}"))
                elif action == "logoff":
                    writer.write(self._answer(fields, "Goodbye", Message="Thanks for all the fish."))
                    await writer.drain()
                    return
                else:
                    writer.write(
                        self._answer(
                            fields, "Error", Message=f"Invalid/unknown command: {fields.get('action')}."
                        )
                    )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if sender is not None:
                sender.cancel()
                await asyncio.wait([sender])
            if self._current is writer:
                self._current = None
            writer.close()
            self._writers.discard(writer)
            self._handlers.discard(task)

    async def _send_events(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while not writer.is_closing():
                index = await self.script.next()
                if writer in self._silent:
                    await asyncio.sleep(3600)
                writer.write(self.script.messages[index])
                await writer.drain()
                self.script.sent(index)
