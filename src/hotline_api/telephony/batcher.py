"""Group commit for the intake: bodies that arrive together are written together.

Under load many switchboard requests are in flight at once, each with an event or a few. Writing
each in its own statement and commit spends most of the database's work on the statement and the
commit rather than on the events. The batcher takes every body waiting at that moment and writes
them in one statement and one transaction; each request is still answered only after that
transaction has committed, so nothing is acknowledged before it is durable. At low load a body is
written at once, alone: there is no timer and no added wait.

A batch is bounded by its count of bodies and by its bytes. The bytes matter beyond the statement:
libpq keeps a connection's buffers at the largest message that connection has carried, so an
unbounded batch (a backlog after a pause) would leave each pooled connection that carried one
holding megabytes for the rest of its life (docs/reliability.md, "Memory over time").

Bodies with an overflow origin or a missed offer, and a batch that names two legs of one call, are
written one by one (the several-statement path).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg import AsyncConnection

from hotline_api.privacy.crypto import Keyring
from hotline_api.telephony.intake import PreparedBody, write_alone, write_joined

ConnectionFactory = Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]


class IntakeBatcher:
    def __init__(
        self,
        connection: Callable[[], ConnectionFactory],
        keyring: Keyring,
        max_bodies: int = 200,
        max_bytes: int = 256 * 1024,
        max_in_flight: int = 2,
    ) -> None:
        # a getter, so that the factory can be swapped (tests run inside one transaction)
        self._connection = connection
        self._keyring = keyring
        self._max_bodies = max_bodies
        self._max_bytes = max_bytes
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[PreparedBody, asyncio.Future[int]]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: PreparedBody) -> int:
        """Write a body (with whatever else is waiting); how many of its events were new."""
        if not item.joinable:
            async with self._connection()() as conn:
                return await write_alone(conn, self._keyring, item)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._in_flight < self._max_in_flight:
            self._in_flight += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # the write goes on even if this request is cancelled: what was sent is kept
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._take()
                await self._write(batch)
        finally:
            self._in_flight -= 1

    def _take(self) -> list[tuple[PreparedBody, asyncio.Future[int]]]:
        """The next batch: the bodies waiting longest, within the bounds (always at least one)."""
        n, size = 0, 0
        for item, _ in self._pending[: self._max_bodies]:
            size += item.weight
            if n and size > self._max_bytes:
                break
            n += 1
        batch = self._pending[:n]
        del self._pending[:n]
        return batch

    async def _write(self, batch: list[tuple[PreparedBody, asyncio.Future[int]]]) -> None:
        try:
            async with self._connection()() as conn:
                stored = await write_joined(conn, [item for item, _ in batch])
        except psycopg.errors.CardinalityViolation:
            for item, future in batch:
                try:
                    async with self._connection()() as conn:
                        _resolve(future, await write_alone(conn, self._keyring, item))
                except Exception as exc:  # told to that body's sender; the others are written
                    _fail(future, exc)
            return
        except Exception as exc:  # the database is away: every sender is told, and retries
            for _, future in batch:
                _fail(future, exc)
            return
        for (_, future), n in zip(batch, stored, strict=True):
            _resolve(future, n)

    async def close(self) -> None:
        """Let the writes under way finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _resolve(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[int], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
