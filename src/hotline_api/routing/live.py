"""The live stream: queue and presence changes pushed to the console (server-sent events).

Changes are rows of ``live_events`` written by triggers, whichever process made them, and announced
with ``NOTIFY hotline_live``. Each service process keeps one LISTEN connection; on a notification it
reads the new rows and hands each to the subscribers allowed to see it. A client that reconnects
sends ``Last-Event-ID`` and is replayed what it missed (rows are kept a day).

Who sees what: a counsellor, their own presence and the calls offered to them; a supervisor,
everything of their switchboard; a national supervisor, everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from hotline_api.auth.service import Principal
from hotline_api.db.session import RawConnectionFactory

logger = logging.getLogger(__name__)
CHANNEL = "hotline_live"
REPLAY_LIMIT = 1000
KEEPALIVE_SECONDS = 15.0


@dataclass(frozen=True)
class LiveRow:
    id: int
    switchboard: str
    user_id: int | None
    kind: str
    payload: dict[str, Any]

    def visible_to(self, p: Principal) -> bool:
        if p.has("national_supervisor"):
            return True
        if p.has("supervisor") and self.switchboard == p.home_switchboard:
            return True
        return p.has("counsellor") and self.user_id == p.user_id

    def sse(self) -> str:
        return (
            f"id: {self.id}\nevent: {self.kind}\ndata: {json.dumps(self.payload, default=_json_default)}\n\n"
        )


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    raise TypeError(type(v).__name__)


async def rows_after(conn: AsyncConnection[Any], after: int, limit: int = REPLAY_LIMIT) -> list[LiveRow]:
    cur = await conn.execute(
        "SELECT id, switchboard_code, user_id, kind, payload FROM live_events WHERE id > %s "
        "AND at > now() - interval '1 day' ORDER BY id LIMIT %s",
        (after, limit),
    )
    return [LiveRow(i, sb, uid, kind, payload) for i, sb, uid, kind, payload in await cur.fetchall()]


async def latest_id(conn: AsyncConnection[Any]) -> int:
    cur = await conn.execute("SELECT COALESCE(max(id), 0) FROM live_events")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    queue: asyncio.Queue[LiveRow] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))


class LiveHub:
    """One LISTEN connection per process, fanning rows out to this process's subscribers."""

    def __init__(self, conninfo: str, connection: RawConnectionFactory) -> None:
        self._conninfo = conninfo
        self._connection = connection
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._last = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self, principal: Principal) -> Subscriber:
        sub = Subscriber(principal)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # rows written while we were away are read on the first notification or now
                    if self._last == 0:
                        self._last = await latest_id(conn)
                    else:
                        await self._dispatch()
                    delay = 0.5
                    async for note in conn.notifies():
                        try:
                            new_id = int(note.payload)
                        except ValueError:
                            new_id = None
                        if new_id is not None and new_id <= self._last:
                            continue  # read already, with an earlier notification's rows
                        if new_id is not None and not self._subscribers:
                            self._last = new_id  # nobody listening in this process: nothing to read
                            continue
                        await self._dispatch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: listen again when it is back
                logger.warning("live stream listener: %s; reconnecting", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    async def _dispatch(self) -> None:
        async with self._connection() as conn:
            rows = await rows_after(conn, self._last)
        for row in rows:
            self._last = max(self._last, row.id)
            for sub in list(self._subscribers):
                if row.visible_to(sub.principal):
                    try:
                        sub.queue.put_nowait(row)
                    except asyncio.QueueFull:
                        self.unsubscribe(sub)  # a client that does not read is dropped; it reconnects


async def stream(
    principal: Principal,
    last_event_id: int | None,
    hub: LiveHub | None,
    connection: RawConnectionFactory,
    poll_seconds: float = 1.0,
) -> AsyncIterator[str]:
    """The text/event-stream body for one client."""
    yield "retry: 3000\n\n"
    sub = hub.subscribe(principal) if hub else None
    try:
        last = last_event_id
        if last is None:
            async with connection() as conn:
                last = await latest_id(conn)
        # replay what the client missed (or nothing, for a new client)
        async with connection() as conn:
            for row in await rows_after(conn, last):
                last = row.id
                if row.visible_to(principal):
                    yield row.sse()
        idle = 0.0
        while True:
            if sub is not None:
                try:
                    row = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if row.id > last:
                    last = row.id
                    yield row.sse()
            else:
                # no listener in this process (an app given its own engine): read the table instead
                await asyncio.sleep(poll_seconds)
                async with connection() as conn:
                    rows = await rows_after(conn, last)
                for row in rows:
                    last = row.id
                    if row.visible_to(principal):
                        yield row.sse()
                idle = 0.0 if rows else idle + poll_seconds
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keepalive\n\n"
    finally:
        if hub is not None and sub is not None:
            hub.unsubscribe(sub)
