"""The AMI reader: logs in to Asterisk's manager interface and spools every event it sends.

The protocol, from Asterisk's documentation and main/manager.c
(https://docs.asterisk.org/Configuration/Interfaces/Asterisk-Manager-Interface-AMI/,
https://docs.asterisk.org/Latest_API/API_Documentation/AMI_Actions/Login/,
https://docs.asterisk.org/Latest_API/API_Documentation/AMI_Actions/Ping/):

- on connecting, Asterisk writes one line, ``Asterisk Call Manager/<AMI version>``;
- every message either way is ``Key: Value`` lines ending with a blank line (CRLF line ends);
- ``Action: Login`` with ``Username``, ``Secret`` and ``Events: on`` (or a list of classes) is
  answered ``Response: Success`` / ``Message: Authentication accepted``, or ``Response: Error`` /
  ``Message: Authentication failed`` after which Asterisk closes the connection;
- after a login, when the user may read the ``system`` class, Asterisk sends ``Event: FullyBooted``
  (a connection-level notice: logged, not forwarded);
- events are messages with an ``Event:`` header; answers to our actions have ``Response:`` and
  echo our ``ActionID``;
- ``Action: Ping`` (allowed to any logged-in user, no ``write`` class needed) is answered
  ``Response: Success`` / ``Ping: Pong`` / ``Timestamp: …``.

The relay sends nothing but Login and Ping. A Ping every ``ami_ping_interval`` seconds guarantees
that something arrives at least that often on a live connection; when nothing at all has arrived for
``ami_ping_interval + ami_ping_timeout`` seconds the connection is taken for dead and opened again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

from hotline_api.relay.config import RelaySettings
from hotline_api.relay.events import ami_fields
from hotline_api.relay.sources import Backoff, Sink, SourceState

logger = logging.getLogger(__name__)
BANNER = b"Asterisk Call Manager/"
# an AMI message is a few kilobytes at most; anything far larger is not AMI
MAX_LINE = 64 * 1024
MAX_MESSAGE = 1024 * 1024


class AmiError(Exception):
    """The connection must be dropped; ``kind`` is what the status shows (never a value received)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


async def read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One AMI message without its terminating blank line; None at the end of the stream."""
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip() or lines:
                raise AmiError("protocol", "the connection ended in the middle of a message") from None
            return None
        except asyncio.LimitOverrunError:
            raise AmiError("protocol", "a line longer than 64 KiB: this is not AMI") from None
        stripped = line.rstrip(b"\r\n")
        if not stripped:
            if lines:
                return b"\r\n".join(lines)
            continue  # blank lines between messages
        size += len(line)
        if size > MAX_MESSAGE:
            raise AmiError("protocol", "a message larger than 1 MiB: this is not AMI")
        lines.append(stripped)


def _message(**fields: str) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode("utf-8") + b"\r\n"


class AmiReader:
    def __init__(self, settings: RelaySettings, sink: Sink, state: SourceState) -> None:
        self.settings = settings
        self.sink = sink
        self.state = state
        self.ignored = {e.lower() for e in settings.ami_ignore_events}
        self.fully_booted = False
        self._ids = itertools.count(1)
        self.pings_sent = 0
        self.pongs = 0

    async def run(self) -> None:
        """Connect, read, reconnect, until cancelled."""
        s = self.settings
        backoff = Backoff(s.pbx_backoff_initial, s.pbx_backoff_max)
        while True:
            error: str | None = None
            try:
                await self._session(backoff)
                error = "closed"
                logger.warning("ami: the PBX closed the connection")
            except AmiError as exc:
                error = exc.kind
                logger.warning("ami: %s", exc)
            except (OSError, TimeoutError) as exc:
                error = "network"
                logger.warning("ami: cannot reach %s:%s: %s", s.ami_host, s.ami_port, type(exc).__name__)
            finally:
                self.state.down(error)
            delay = backoff.next()
            logger.info("ami: reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _session(self, backoff: Backoff) -> None:
        s = self.settings
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        async with asyncio.timeout(s.pbx_connect_timeout):
            reader, writer = await asyncio.open_connection(s.ami_host, s.ami_port, limit=MAX_LINE)
        pinger: asyncio.Task[None] | None = None
        try:
            async with asyncio.timeout(s.pbx_connect_timeout):
                banner = await reader.readline()
            if not banner.startswith(BANNER):
                raise AmiError("protocol", "the port did not greet as Asterisk Call Manager")
            version = banner[len(BANNER) :].strip().decode("ascii", errors="replace")[:32]
            await self._login(reader, writer)
            self.state.up()
            backoff.reset()
            logger.info("ami: logged in to %s:%s (AMI %s)", s.ami_host, s.ami_port, version)
            pinger = asyncio.create_task(self._ping(writer))
            silence = s.ami_ping_interval + s.ami_ping_timeout
            while True:
                try:
                    async with asyncio.timeout(silence):
                        message = await read_message(reader)
                except TimeoutError:
                    raise AmiError(
                        "ping_timeout", f"nothing from the PBX for {silence:.1f} s, not even a Pong"
                    ) from None
                if message is None:
                    return
                await self._handle(message)
        finally:
            if pinger is not None:
                pinger.cancel()
                await asyncio.wait([pinger])
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1):
                    await writer.wait_closed()

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        s = self.settings
        assert s.ami_secret is not None
        action_id = f"relay-login-{next(self._ids)}"
        writer.write(
            _message(
                Action="Login",
                ActionID=action_id,
                Username=s.ami_user,
                Secret=s.ami_secret.get_secret_value(),
                Events=s.ami_events,
            )
        )
        await writer.drain()
        deadline = time.monotonic() + s.pbx_connect_timeout + 2  # Asterisk waits 1 s before a refusal
        while True:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                message = await read_message(reader)
            if message is None:
                raise AmiError("closed", "the PBX closed the connection during the login")
            fields = ami_fields(message) or {}
            if fields.get("ActionID") != action_id:
                continue
            if str(fields.get("Response", "")).lower() == "success":
                return
            raise AmiError(
                "login_refused",
                f"the PBX refused the login of {s.ami_user!r}: check [ami] user and secret against "
                "manager.conf, and its permit/deny",
            )

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(self.settings.ami_ping_interval)
            writer.write(_message(Action="Ping", ActionID=f"relay-ping-{next(self._ids)}"))
            self.pings_sent += 1
            try:
                await writer.drain()
            except OSError:
                return  # the reader notices the connection is gone

    async def _handle(self, message: bytes) -> None:
        head, _, rest = message.partition(b"\r\n")
        key, _, value = head.partition(b":")
        key_l = key.strip().lower()
        if key_l == b"response":
            # the answer to a Ping (or to anything else we sent): it shows the connection lives
            if b"Ping: Pong" in rest:
                self.pongs += 1
            return
        if key_l != b"event":
            fields = ami_fields(message) or {}
            name = fields.get("Event")
            if not isinstance(name, str):
                logger.warning("ami: a message that is neither an event nor a response was skipped")
                return
        else:
            name = value.strip().decode("utf-8", errors="replace")
        if name == "FullyBooted":
            if not self.fully_booted:
                logger.info("ami: Asterisk is fully booted")
            self.fully_booted = True
            return
        if name.lower() in self.ignored:
            return
        seq = await self.sink("ami", message)
        self.state.last_event_at = time.time()
        if seq is None:
            self.state.copies += 1
        else:
            self.state.received += 1
