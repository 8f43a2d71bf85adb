"""ARI over a WebSocket that Asterisk opens to us (ARI outbound WebSockets, Asterisk 20.15, 21.10,
22.5 and 23 on).

Asterisk connects to ``wss://<service>/webhooks/asterisk/{switchboard}/ari/ws`` as configured in
websocket_client.conf (``protocols = ari``, ``username`` = the switchboard code, ``password`` = its
webhook secret: HTTP Basic on the handshake) and ari.conf (``type = outbound_websocket``). It sends
every ARI event of its applications as one JSON text message, beginning with
``ApplicationRegistered`` after each (re)connection, and reconnects by itself when the connection
breaks. See https://docs.asterisk.org/Configuration/Interfaces/Asterisk-REST-Interface-ARI/ARI-Outbound-Websockets/

Every message goes through exactly the intake of ``POST …/ari``: parsed, sealed, stored with its
deduplication key and applied to its call, in one transaction (group-committed with the other
requests); a message Asterisk sends again after a reconnect is a duplicate and changes nothing; a
malformed one is kept in the quarantine and the stream goes on.

What the protocol cannot give: it has no acknowledgement, so Asterisk never sends an event twice of
its own accord, and events it emits while no connection is up are not sent later. While the
database is away the messages wait here, in order, and are written when it is back (up to
``MAX_BUFFERED``; beyond that the connection is closed and the rest is lost — logged). Where no
event may be lost whatever happens, use the relay (docs/relay.md), whose spool is on disk.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.responses import JSONResponse

from hotline_api.auth.deps import client_address
from hotline_api.errors import HotlineError, is_database_unavailable
from hotline_api.observability import WEBHOOK_EVENTS, WEBHOOK_LAST_EVENT
from hotline_api.telephony import credentials, intake
from hotline_api.telephony.parsing import MalformedEvent

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/asterisk", tags=["webhooks"])
_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
SUBPROTOCOL = "ari"
# messages held while the database is away, per connection, before giving up on the connection
MAX_BUFFERED = 50_000
# messages written together (the batcher groups them into one transaction)
MAX_BATCH = 200
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


@router.websocket("/{switchboard}/ari/ws")
async def ari_websocket(websocket: WebSocket, switchboard: str) -> None:
    """ARI events from Asterisk's outbound WebSocket: the same intake as ``POST …/ari``."""
    app = websocket.app
    headers = {k.lower(): v for k, v in websocket.headers.items()}
    if not _CODE.match(switchboard):
        await _refuse(websocket, 404, "not_found", "unknown switchboard")
        return
    try:
        async with app.state.raw_connection() as conn:
            await credentials.authenticate(
                conn, app.state.keyring, switchboard, headers, b"", client_address(websocket)
            )
    except HotlineError as exc:
        logger.warning("ari websocket refused for %s: %s", switchboard, exc.code)
        await _refuse(websocket, exc.status_code, exc.code, exc.message)
        return
    except Exception as exc:
        if not is_database_unavailable(exc):
            logger.exception("ari websocket: credential check failed")
        # Asterisk retries at its reconnect_interval
        await _refuse(websocket, 503, "service_unavailable", "the database is unavailable; retry shortly")
        return
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    logger.info("ari websocket connected for %s", switchboard)
    await _Session(websocket, switchboard).run()


async def _refuse(websocket: WebSocket, status: int, code: str, message: str) -> None:
    """Refuse the handshake with an HTTP answer when the server can send one, else close it."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
        )
    else:
        await websocket.close(code=1008 if status < 500 else 1013)


class _Session:
    """One connection: a reader that never stops reading (Asterisk drops a connection that reads
    slowly), and a writer that stores the messages in arrival order."""

    def __init__(self, websocket: WebSocket, switchboard: str) -> None:
        self.websocket = websocket
        self.app = websocket.app
        self.switchboard = switchboard
        self.address = client_address(websocket)
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.overflowed = False

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_all())
        try:
            await self._read_all()
        finally:
            await self.queue.put(None)  # what was received is still written
            await writer
        logger.info("ari websocket closed for %s", self.switchboard)

    async def _read_all(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes")
                if data is None:
                    data = (message.get("text") or "").encode("utf-8")
                if self.queue.qsize() >= MAX_BUFFERED:
                    self.overflowed = True
                    logger.error(
                        "ari websocket for %s: %d messages waiting for the database; closing the "
                        "connection (Asterisk reconnects; events it emits meanwhile are lost)",
                        self.switchboard,
                        self.queue.qsize(),
                    )
                    await self.websocket.close(code=1013)
                    return
                await self.queue.put(data)
        except WebSocketDisconnect:
            return

    async def _write_all(self) -> None:
        done = False
        while not done:
            first = await self.queue.get()
            batch: list[bytes] = []
            if first is None:
                done = True
            else:
                batch.append(first)
            while len(batch) < MAX_BATCH and not self.queue.empty():
                item = self.queue.get_nowait()
                if item is None:
                    done = True
                    break
                batch.append(item)
            if batch:
                await self._store(batch)

    async def _store(self, batch: list[bytes]) -> None:
        """Write a batch, retrying while the database is away (in order: nothing after it is
        written before it). A body is prepared — or quarantined — once; only the writes repeat."""
        pending = list(batch)
        prepared: list[intake.PreparedBody] = []
        attempt = 0
        while True:
            try:
                while pending:
                    item = await self._prepare(pending[0])
                    pending.pop(0)
                    if item is not None:
                        prepared.append(item)
                await self._submit(prepared)
                return
            except Exception as exc:
                if not is_database_unavailable(exc):
                    logger.exception("ari websocket for %s: a batch could not be stored", self.switchboard)
                if attempt == 0:
                    logger.warning(
                        "ari websocket for %s: database unavailable (%s); %d messages held, retrying",
                        self.switchboard,
                        type(exc).__name__,
                        len(batch) + self.queue.qsize(),
                    )
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1

    async def _prepare(self, body: bytes) -> intake.PreparedBody | None:
        """The body parsed and sealed, or None when it was malformed and is now in quarantine."""
        keyring = self.app.state.keyring
        async with self.app.state.raw_connection() as conn:
            try:
                return await intake.prepare_body(
                    conn, keyring, self.switchboard, "ari", body, "application/json", None, datetime.now(UTC)
                )
            except MalformedEvent as error:
                code = 400 if error.index is None else 422
                async with conn.transaction():
                    qid = await intake.quarantine(
                        conn,
                        keyring,
                        self.switchboard,
                        "ari",
                        body,
                        "application/json",
                        None,
                        self.address,
                        code,
                        error,
                    )
                reason = error.field or "body"
        WEBHOOK_EVENTS.labels(self.switchboard, "ari", "quarantined").inc()
        logger.warning(
            "ari websocket for %s: a message was refused (%s) and kept in quarantine as #%d",
            self.switchboard,
            reason,
            qid,
        )
        return None

    async def _submit(self, prepared: list[intake.PreparedBody]) -> None:
        # submitted together, so that the batcher writes them in one transaction
        results: list[Any] = await asyncio.gather(
            *(self.app.state.intake_batcher.submit(item) for item in prepared), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            # those written are duplicates on the retry, so the whole batch is simply sent again
            raise failed[0]
        stored = sum(results)
        received = sum(len(item.events) for item in prepared)
        WEBHOOK_EVENTS.labels(self.switchboard, "ari", "stored").inc(stored)
        if received > stored:
            WEBHOOK_EVENTS.labels(self.switchboard, "ari", "duplicate").inc(received - stored)
        WEBHOOK_LAST_EVENT.labels(self.switchboard).set(datetime.now(UTC).timestamp())
