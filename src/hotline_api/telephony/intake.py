"""The intake: a webhook body is stored and applied in one transaction, or quarantined.

Nothing is lost: the router commits before it answers 2xx; a body that cannot be applied is kept,
encrypted, in ``webhook_quarantine`` and answered 400/422; a database that cannot be reached makes
the request fail with 503 so that the sender retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import AsyncConnection, AsyncRawCursor
from psycopg.pq import TransactionStatus

from hotline_api.calls.facts import CallFacts
from hotline_api.calls.service import (
    CALL_COLUMNS,
    CallKey,
    OwnFacts,
    call_row,
    events_json,
    facts_json,
    fast_ingest_sql,
    merge_facts,
    own_facts,
    prepare,
    save_offers,
    single_ingest_sql,
)
from hotline_api.privacy.crypto import Keyring
from hotline_api.telephony.parsing import Event, MalformedEvent, parse_body

MAX_BODY_BYTES = 1024 * 1024
BODY_CONTEXT = "webhook_events.body"
QUARANTINE_CONTEXT = "webhook_quarantine.body"
KNOWN_SWITCHBOARDS = frozenset({"hanoi", "danang", "angiang"})


@dataclass
class IngestResult:
    received: int
    stored: int

    @property
    def duplicates(self) -> int:
        return self.received - self.stored


def dedup_keys(keyring: Keyring, source: str, events: list[Event], webhook_id: str | None) -> list[bytes]:
    """A retransmission is recognised by its webhook-id and its content (per event of a batch), else
    by its content alone.

    The id alone would do for a sender that keeps to Standard Webhooks; one that reuses an id for
    another message (a counter that starts again after a restart) would have that message taken for
    a retransmission, acknowledged and dropped. With the content in the key it is stored; the same
    message sent again (re-signed, its JSON keys reordered) is still a duplicate.

    Keyed, so that the key of an event cannot be tested against a guessed phone number.
    """
    if webhook_id:
        return [
            keyring.keyed_hash_bytes(f"{source}\x00{webhook_id}\x00{i}\x00".encode() + e.content_key, "dedup")
            for i, e in enumerate(events)
        ]
    return [keyring.keyed_hash_bytes(source.encode() + b"\x00" + e.content_key, "dedup") for e in events]


_EVENT_ARRAYS = (
    "unnest(%(e_key)s::bytea[], %(e_type)s::text[], %(e_at)s::timestamptz[], %(e_lk)s::text[], %(e_uid)s::text[], "
    "%(e_ch)s::text[], %(e_body)s::bytea[], %(e_tsb)s::text[], %(e_tlk)s::text[], %(e_call)s::bigint[], "
    "%(e_ord)s::int[]) AS ev(dedup_key, event_type, event_time, linkedid, uniqueid, channel, body_enc, tsb, tlk, "
    "call_id, ord)"
)
_EVENT_INSERT = (
    "INSERT INTO webhook_events (switchboard_code, source, dedup_key, webhook_id, received_at, event_type, "
    "event_time, linkedid, uniqueid, channel, call_id, body_enc) "
)
_EVENT_VALUES = (
    "SELECT %(e_sb)s, %(e_src)s, ev.dedup_key, %(e_wid)s, %(e_rat)s, ev.event_type, ev.event_time, ev.linkedid, "
    "ev.uniqueid, ev.channel, {call}, ev.body_enc "
)
_ON_CONFLICT = " ON CONFLICT (switchboard_code, dedup_key) DO NOTHING RETURNING id"
# when call ids are known already (missed offers had to be written first)
INSERT_EVENTS_SQL = (
    _EVENT_INSERT
    + _EVENT_VALUES.format(call="ev.call_id")
    + f"FROM {_EVENT_ARRAYS} ORDER BY ev.ord"
    + (_ON_CONFLICT)
)


FAST_INGEST_SQL = fast_ingest_sql()
SINGLE_INGEST_SQL = single_ingest_sql()


@dataclass
class PreparedBody:
    """A body parsed, sealed and reduced to facts: ready to be written, alone or with others."""

    switchboard: str
    source: str
    webhook_id: str | None
    received_at: datetime
    events: list[Event]
    keys: list[bytes]
    bodies: list[bytes]
    own: OwnFacts

    @property
    def weight(self) -> int:
        """About how many bytes it adds to a joined statement: its sealed bodies (hex in the JSON
        parameter) and each event's columns."""
        return sum(2 * len(b) + 400 for b in self.bodies)

    @property
    def joinable(self) -> bool:
        """Whether it can travel in one statement with others (no overflow origin, no missed offer)."""
        return not self.own.has_origin and not self.own.offers


async def prepare_body(
    conn: AsyncConnection[Any],
    keyring: Keyring,
    switchboard: str,
    source: str,
    body: bytes,
    content_type: str,
    webhook_id: str | None,
    received_at: datetime,
    timezone: str = "Asia/Ho_Chi_Minh",
    switchboards: frozenset[str] = KNOWN_SWITCHBOARDS,
) -> PreparedBody:
    """Parse and seal a body; MalformedEvent for a body to quarantine. Writes nothing."""
    events = parse_body(source, body, content_type, ZoneInfo(timezone), received_at)
    for i, e in enumerate(events):
        if e.origin and e.origin.split(":", 1)[0] not in switchboards:
            raise MalformedEvent(
                f"HOTLINE_ORIGIN names an unknown switchboard {e.origin.split(':', 1)[0]!r}",
                i,
                "HOTLINE_ORIGIN",
            )
    return PreparedBody(
        switchboard=switchboard,
        source=source,
        webhook_id=webhook_id,
        received_at=received_at,
        events=events,
        keys=dedup_keys(keyring, source, events, webhook_id),
        bodies=[keyring.encrypt_bytes(e.body, BODY_CONTEXT) for e in events],
        own=await own_facts(conn, switchboard, events, keyring),
    )


async def write_joined(conn: AsyncConnection[Any], items: Sequence[PreparedBody]) -> list[int]:
    """Write joinable bodies in one statement (one transaction); how many events of each were new.

    Raises psycopg.errors.CardinalityViolation when two of the calls named turn out to be legs of one
    call: write those bodies one by one then.
    """
    if len(items) == 1 and len(items[0].events) == 1 and len(items[0].own.facts) <= 1:
        return [await _write_single(conn, items[0])]
    facts: dict[CallKey, CallFacts] = {}
    rows: list[dict[str, Any]] = []
    owner: dict[tuple[str, bytes], list[int]] = {}
    for n, item in enumerate(items):
        for key, f in item.own.facts.items():
            facts.setdefault(key, CallFacts()).merge(f)
        for i, e in enumerate(item.events):
            rows.append(
                {
                    "sb": item.switchboard,
                    "src": item.source,
                    "wid": item.webhook_id,
                    "rat": item.received_at,
                    "dedup_key": item.keys[i],
                    "event_type": e.event_type,
                    "event_time": e.at,
                    "linkedid": e.linkedid,
                    "uniqueid": e.uniqueid,
                    "channel": e.channel,
                    "body_enc": item.bodies[i],
                    "ord": len(rows),
                    "plk": item.own.placed[i],
                }
            )
            owner.setdefault((item.switchboard, item.keys[i]), []).append(n)
    # inside a caller's transaction (tests, replay) a savepoint keeps a failure contained
    async with _atomic(conn):
        cur = AsyncRawCursor(conn)
        await cur.execute(FAST_INGEST_SQL, [facts_json(facts), events_json(rows)], prepare=True)
        returned = await cur.fetchall()
    stored = [0] * len(items)
    for sb, key in returned:
        # the first body that carried an event stores it; a copy in a later body is its duplicate
        stored[owner[(sb, bytes(key))][0]] += 1
    return stored


async def _write_single(conn: AsyncConnection[Any], item: PreparedBody) -> int:
    """One event of at most one call — a dialplan's CURL() — with scalar parameters."""
    e = item.events[0]
    if item.own.facts:
        ((key, facts),) = item.own.facts.items()
        row = call_row(key, facts)
        call = [row[c] for c in CALL_COLUMNS]
    else:
        call = [item.switchboard, None] + [None] * (len(CALL_COLUMNS) - 2)
    params = [
        *call,
        item.keys[0],
        e.event_type,
        e.at,
        e.uniqueid,
        e.channel,
        item.bodies[0],
        item.source,
        item.webhook_id,
        item.received_at,
    ]
    async with _atomic(conn):
        cur = AsyncRawCursor(conn)
        await cur.execute(SINGLE_INGEST_SQL, params, prepare=True)
        return len(await cur.fetchall())


async def write_alone(conn: AsyncConnection[Any], keyring: Keyring, item: PreparedBody) -> int:
    """Any body, on its own, in a transaction of several statements (legs resolved in Python)."""
    if item.joinable:
        try:
            return (await write_joined(conn, [item]))[0]
        except psycopg.errors.CardinalityViolation:
            pass  # two legs of one call in this body: merge them in Python below
    events = item.events
    async with conn.transaction():
        applied = await prepare(conn, item.switchboard, events, keyring)
        ids = await merge_facts(conn, applied.facts)
        await save_offers(conn, ids, applied.offers)
        cur = await conn.execute(
            INSERT_EVENTS_SQL,
            {
                "e_key": item.keys,
                "e_type": [e.event_type for e in events],
                "e_at": [e.at for e in events],
                "e_lk": [e.linkedid for e in events],
                "e_uid": [e.uniqueid for e in events],
                "e_ch": [e.channel for e in events],
                "e_body": item.bodies,
                "e_tsb": [t[0] if t else None for t in applied.targets],
                "e_tlk": [t[1] if t else None for t in applied.targets],
                "e_call": [ids[t] if t else None for t in applied.targets],
                "e_ord": list(range(len(events))),
                "e_sb": item.switchboard,
                "e_src": item.source,
                "e_wid": item.webhook_id,
                "e_rat": item.received_at,
            },
        )
        return len(await cur.fetchall())


async def ingest(
    conn: AsyncConnection[Any],
    keyring: Keyring,
    switchboard: str,
    source: str,
    body: bytes,
    content_type: str,
    webhook_id: str | None,
    received_at: datetime,
    timezone: str = "Asia/Ho_Chi_Minh",
    switchboards: frozenset[str] = KNOWN_SWITCHBOARDS,
) -> IngestResult:
    """Parse, apply and store one body atomically, on this connection (replay, tools, tests)."""
    item = await prepare_body(
        conn,
        keyring,
        switchboard,
        source,
        body,
        content_type,
        webhook_id,
        received_at,
        timezone,
        switchboards,
    )
    stored = await write_alone(conn, keyring, item)
    return IngestResult(received=len(item.events), stored=stored)


@asynccontextmanager
async def _atomic(conn: AsyncConnection[Any]) -> AsyncIterator[None]:
    if conn.info.transaction_status == TransactionStatus.IDLE and conn.autocommit:
        yield  # one statement on an autocommit connection is its own transaction
    else:
        async with conn.transaction():
            yield


async def quarantine(
    conn: AsyncConnection[Any],
    keyring: Keyring,
    switchboard: str,
    source: str,
    body: bytes,
    content_type: str | None,
    webhook_id: str | None,
    client_address: str | None,
    status_code: int,
    error: MalformedEvent,
) -> int:
    cur = await conn.execute(
        "INSERT INTO webhook_quarantine (switchboard_code, source, status_code, reason, event_index, content_type, "
        "webhook_id, client_address, body_enc, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'held') RETURNING id",
        (
            switchboard,
            source,
            status_code,
            error.reason[:1000],
            error.index,
            (content_type or "")[:200] or None,
            (webhook_id or "")[:200] or None,
            client_address,
            keyring.encrypt_bytes(body, QUARANTINE_CONTEXT),
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])
