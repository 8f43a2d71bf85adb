"""The durable local spool: a SQLite file (WAL, synchronous=FULL) that every event enters first.

An event counts as received only once its insert is committed: from then on a crash, a power cut or
a service outage cannot lose it. The forwarder takes events out in spool order and marks them sent
only after the service answered 2xx.

Batches are planned once and remembered (``batch_id`` on their rows, committed before the first
attempt), so that a retry — after a timeout, or after the relay itself was killed — sends exactly
the same events under exactly the same ``webhook-id``, which the service recognises as a duplicate.
An event sent alone goes under its own id (``relay_<sb>_<source>_<sha256 of the event>``), so a copy
of an event the PBX delivers twice is stored once: the spool refuses a second row with the same id
while the first is kept (``spool_keep_sent_hours``).

Once sent, an event's body is erased at once (the row stays, without it, to recognise a copy); an
event the service refused as malformed moves to ``rejected`` with its body, kept
``spool_keep_rejected_days`` for the admin. The file holds callers' numbers while events wait:
it is created 0600 in a 0700 folder.

SQLite objects belong to the thread that made them: ``AsyncSpool`` runs every call on one thread of
its own, so the event loop never waits for a disk flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hotline_api.relay import events

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL CHECK (source IN ('ari', 'ami')),
    webhook_id TEXT NOT NULL UNIQUE,
    body BLOB,
    size INTEGER NOT NULL,
    batchable INTEGER NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'rejected')),
    batch_id TEXT,
    alone INTEGER NOT NULL DEFAULT 0,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS events_pending ON events (seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS events_done ON events (done_at) WHERE state <> 'pending';
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    body BLOB,
    received_at REAL NOT NULL,
    rejected_at REAL NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""


class SpoolError(RuntimeError):
    pass


@dataclass(frozen=True)
class Batch:
    """Events of one source, consecutive in that source's spool order, sent in one request."""

    webhook_id: str
    source: str
    seqs: list[int]
    bodies: list[bytes]
    batchable: bool
    oldest: float  # received_at of the first

    def __len__(self) -> int:
        return len(self.seqs)


@dataclass(frozen=True)
class SpoolStats:
    backlog: int
    oldest_received_at: float | None
    rejected: int
    size_bytes: int


class Spool:
    """The spool's operations, synchronous; one thread only (see AsyncSpool)."""

    def __init__(self, path: Path, switchboard: str) -> None:
        self.path = path
        self.switchboard = switchboard
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SpoolError(f"another relay is using the spool {path}") from None
        try:
            if not path.exists():
                os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            # autocommit mode: every transaction below is explicit (BEGIN IMMEDIATE … COMMIT)
            self._db = sqlite3.connect(path, isolation_level=None)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SpoolError(f"the spool {path} cannot use WAL mode (journal_mode={mode})")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'spool_id'").fetchone()
            if row is None:
                self.spool_id = secrets.token_hex(6)
                self._db.execute("INSERT INTO meta (key, value) VALUES ('spool_id', ?)", (self.spool_id,))
            else:
                self.spool_id = str(row[0])
        except BaseException:
            os.close(self._lock_fd)
            raise

    # ---- writing ---------------------------------------------------------------------------

    def add(self, source: str, body: bytes, received_at: float | None = None) -> int | None:
        """Store one event durably; its sequence number, or None if this very event is already here."""
        prepared = events.prepare(self.switchboard, source, body)
        cur = self._db.execute(
            "INSERT OR IGNORE INTO events (source, webhook_id, body, size, batchable, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                source,
                prepared.webhook_id,
                body,
                prepared.size,
                int(prepared.batchable),
                time.time() if received_at is None else received_at,
            ),
        )
        return cur.lastrowid if cur.rowcount == 1 else None

    def next_batch(self, max_events: int, max_bytes: int) -> Batch | None:
        """The events to send next: the batch already planned, or a new one planned now."""
        with self._transaction():
            head = self._db.execute(
                "SELECT seq, source, batch_id FROM events WHERE state = 'pending' ORDER BY seq LIMIT 1"
            ).fetchone()
            if head is None:
                return None
            seq, source, batch_id = head
            if batch_id is not None:
                rows = self._db.execute(
                    "SELECT seq, body, batchable, received_at FROM events "
                    "WHERE state = 'pending' AND batch_id = ? ORDER BY seq",
                    (batch_id,),
                ).fetchall()
                return self._batch(batch_id, source, rows)
            candidates = self._db.execute(
                "SELECT seq, body, batchable, received_at, size, alone, batch_id FROM events "
                "WHERE state = 'pending' AND source = ? AND seq >= ? ORDER BY seq LIMIT ?",
                (source, seq, max_events),
            ).fetchall()
            chosen: list[tuple[Any, ...]] = []
            total = 1
            for row in candidates:
                _, _, batchable, _, size, alone, planned = row
                single = not batchable or alone
                if chosen and (single or planned is not None or total + size > max_bytes):
                    break  # the source's order is kept: a batch never skips an event of its source
                chosen.append(row)
                total += size
                if single:
                    break
            seqs = [r[0] for r in chosen]
            if len(seqs) == 1:
                (webhook_id,) = self._db.execute(
                    "SELECT webhook_id FROM events WHERE seq = ?", (seqs[0],)
                ).fetchone()
            else:
                webhook_id = events.batch_webhook_id(
                    self.switchboard, source, self.spool_id, seqs[0], seqs[-1]
                )
            self._db.executemany(
                "UPDATE events SET batch_id = ? WHERE seq = ?", [(webhook_id, s) for s in seqs]
            )
            return self._batch(webhook_id, source, [(r[0], r[1], r[2], r[3]) for r in chosen])

    def _batch(self, webhook_id: str, source: str, rows: list[tuple[Any, ...]]) -> Batch:
        return Batch(
            webhook_id=webhook_id,
            source=source,
            seqs=[int(r[0]) for r in rows],
            bodies=[bytes(r[1]) for r in rows],
            batchable=all(bool(r[2]) for r in rows),
            oldest=float(rows[0][3]),
        )

    def mark_sent(self, seqs: list[int]) -> None:
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "UPDATE events SET state = 'sent', body = NULL, done_at = ? WHERE seq = ? AND state = 'pending'",
                [(now, s) for s in seqs],
            )

    def split(self, seqs: list[int]) -> None:
        """A batch the service refused as malformed: send its events one by one to find the bad one."""
        with self._transaction():
            self._db.executemany(
                "UPDATE events SET batch_id = NULL, alone = 1 WHERE seq = ? AND state = 'pending'",
                [(s,) for s in seqs],
            )

    def reject(self, seq: int, status: int, reason: str) -> None:
        """Set an event aside: the service refused it (and keeps it in its quarantine)."""
        now = time.time()
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO rejected (seq, source, webhook_id, body, received_at, rejected_at, "
                "status, reason) SELECT seq, source, webhook_id, body, received_at, ?, ?, ? FROM events "
                "WHERE seq = ? AND state = 'pending'",
                (now, status, reason[:1000], seq),
            )
            self._db.execute(
                "UPDATE events SET state = 'rejected', body = NULL, done_at = ? WHERE seq = ? AND state = 'pending'",
                (now, seq),
            )

    def prune(self, keep_sent_seconds: float, keep_rejected_seconds: float) -> int:
        now = time.time()
        with self._transaction():
            n = self._db.execute(
                "DELETE FROM events WHERE state <> 'pending' AND done_at < ?", (now - keep_sent_seconds,)
            ).rowcount
            n += self._db.execute(
                "DELETE FROM rejected WHERE rejected_at < ?", (now - keep_rejected_seconds,)
            ).rowcount
        return n

    # ---- reading ---------------------------------------------------------------------------

    def stats(self) -> SpoolStats:
        backlog, oldest = self._db.execute(
            "SELECT count(*), min(received_at) FROM events WHERE state = 'pending'"
        ).fetchone()
        (rejected,) = self._db.execute("SELECT count(*) FROM rejected").fetchone()
        size = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                size += os.path.getsize(f"{self.path}{suffix}")
        return SpoolStats(int(backlog), None if oldest is None else float(oldest), int(rejected), size)

    def rejected(self) -> list[tuple[int, str, int, str]]:
        """(seq, source, status, reason) of the events set aside, oldest first (never their bodies)."""
        return [
            (int(r[0]), str(r[1]), int(r[2]), str(r[3]))
            for r in self._db.execute("SELECT seq, source, status, reason FROM rejected ORDER BY seq")
        ]

    # ---- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        try:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
        finally:
            os.close(self._lock_fd)


class AsyncSpool:
    """The spool for the event loop: every call runs on the spool's own thread, one at a time."""

    def __init__(self, path: Path, switchboard: str) -> None:
        self.path = path
        self.switchboard = switchboard
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-spool")
        self._spool: Spool | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    @property
    def spool(self) -> Spool:
        if self._spool is None:
            raise SpoolError("the spool is not open")
        return self._spool

    async def open(self) -> None:
        self._spool = await self._run(Spool, self.path, self.switchboard)

    async def add(self, source: str, body: bytes) -> int | None:
        return await self._run(self.spool.add, source, body)

    async def next_batch(self, max_events: int, max_bytes: int) -> Batch | None:
        return await self._run(self.spool.next_batch, max_events, max_bytes)

    async def mark_sent(self, seqs: list[int]) -> None:
        await self._run(self.spool.mark_sent, seqs)

    async def split(self, seqs: list[int]) -> None:
        await self._run(self.spool.split, seqs)

    async def reject(self, seq: int, status: int, reason: str) -> None:
        await self._run(self.spool.reject, seq, status, reason)

    async def prune(self, keep_sent_seconds: float, keep_rejected_seconds: float) -> int:
        return await self._run(self.spool.prune, keep_sent_seconds, keep_rejected_seconds)

    async def stats(self) -> SpoolStats:
        return await self._run(self.spool.stats)

    async def rejected(self) -> list[tuple[int, str, int, str]]:
        return await self._run(self.spool.rejected)

    async def close(self) -> None:
        """Close the file (after any call still running on the spool's thread) and the thread."""
        spool, self._spool = self._spool, None
        if spool is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, spool.close)
        self._executor.shutdown(wait=True)
