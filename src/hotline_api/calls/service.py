"""Applying events to call records, and reading them back.

The facts of calls/facts.py are merged into the ``calls`` row by one INSERT … ON CONFLICT DO UPDATE
per batch, with the same rules in SQL (LEAST, GREATEST, earliest-wins with a tie-break). A call
overflowed to another switchboard (HOTLINE_ORIGIN) is one call: its other leg is recorded in
``call_legs`` and every fact of that leg lands on the original call — also when the leg's events
arrived before the one that named its origin, in which case the leg's provisional call is merged
in and removed.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.calls.facts import CallerFact, CallFacts, Context, CounsellorFact, Offer, facts_of
from hotline_api.privacy.crypto import Keyring
from hotline_api.telephony.parsing import Event

CallKey = tuple[str, str]  # (switchboard, linkedid)

# --- the merge, in SQL ------------------------------------------------------------------------

CALL_COLUMNS = _COLUMNS = (
    "switchboard_code",
    "linkedid",
    "started_at",
    "last_event_at",
    "dialled_number",
    "dialled_at",
    "caller_number_enc",
    "caller_hash",
    "caller_at",
    "caller_province",
    "caller_region",
    "ivr_answered_at",
    "wait_started_at",
    "answered_at",
    "counsellor_extension",
    "counsellor_user_id",
    "answered_switchboard",
    "timed_out_at",
    "queue_refused_at",
    "ended_at",
    "hangup_cause",
    "hangup_cause_at",
    "recording_enc",
    "recording_at",
)


def _earliest_wins(at: str, tiebreak: str, columns: Sequence[str]) -> list[str]:
    """SET clauses that take EXCLUDED's values when its (at, tiebreak) sorts first.

    hl_first() is an inlined SQL function (migration 0003) that keeps this statement short enough
    for psycopg to cache and prepare it.
    """
    cond = f"hl_first(EXCLUDED.{at}, EXCLUDED.{tiebreak}, c.{at}, c.{tiebreak})"
    sets = [f"{col} = CASE WHEN {cond} THEN EXCLUDED.{col} ELSE c.{col} END" for col in columns if col != at]
    sets.append(f"{at} = CASE WHEN {cond} THEN EXCLUDED.{at} ELSE c.{at} END")
    return sets


_SETS = [
    "started_at = LEAST(c.started_at, EXCLUDED.started_at)",
    "last_event_at = GREATEST(c.last_event_at, EXCLUDED.last_event_at)",
    *_earliest_wins("dialled_at", "dialled_number", ["dialled_number"]),
    *_earliest_wins(
        "caller_at", "caller_hash", ["caller_number_enc", "caller_hash", "caller_province", "caller_region"]
    ),
    "ivr_answered_at = LEAST(c.ivr_answered_at, EXCLUDED.ivr_answered_at)",
    "wait_started_at = LEAST(c.wait_started_at, EXCLUDED.wait_started_at)",
    *_earliest_wins(
        "answered_at",
        "counsellor_extension",
        ["counsellor_extension", "counsellor_user_id", "answered_switchboard"],
    ),
    "timed_out_at = LEAST(c.timed_out_at, EXCLUDED.timed_out_at)",
    "queue_refused_at = LEAST(c.queue_refused_at, EXCLUDED.queue_refused_at)",
    "ended_at = GREATEST(c.ended_at, EXCLUDED.ended_at)",
    *_earliest_wins("hangup_cause_at", "hangup_cause", ["hangup_cause"]),
    *_earliest_wins("recording_at", "recording_enc", ["recording_enc"]),
]
# (answered_at, counsellor_extension) ties are broken by the extension; the switchboard rides along.

# built from the constant column names above and bind placeholders only
# one statement for any number of calls: unnest() of one array per column keeps the text constant,
# so psycopg prepares it once per connection
_TYPES = {
    "switchboard_code": "text",
    "linkedid": "text",
    "dialled_number": "text",
    "caller_number_enc": "bytea",
    "caller_hash": "bytea",
    "caller_province": "text",
    "caller_region": "text",
    "counsellor_extension": "text",
    "counsellor_user_id": "int",
    "answered_switchboard": "text",
    "hangup_cause": "int",
    "recording_enc": "bytea",
}
_UNNEST = ", ".join(f"%({c})s::{_TYPES.get(c, 'timestamptz')}[]" for c in _COLUMNS)
UPSERT_CALLS = (
    f"INSERT INTO calls AS c ({', '.join(_COLUMNS)}) SELECT * FROM unnest({_UNNEST})"
    " ON CONFLICT (switchboard_code, linkedid) DO UPDATE SET "
    + ", ".join(_SETS)
    + " RETURNING id, switchboard_code, linkedid"
)


def fast_ingest_sql() -> str:
    """The intake of many bodies as one statement (for a raw cursor): resolve overflow legs, merge
    the facts into the calls, store the events with their call.

    $1 is the facts and $2 the events, each a JSON array (bytes in base64): two parameters cost the
    driver far less than an array per column. Facts come one row per call (merged beforehand);
    events carry their own switchboard, source, webhook-id and time of arrival, so that bodies from
    several requests travel together (the intake batcher).
    """

    def sql_type(col: str) -> str:
        t = _TYPES.get(col, "timestamptz")
        return "text" if t == "bytea" else t

    def value(col: str) -> str:
        return f"decode({col}, 'base64')" if _TYPES.get(col) == "bytea" else col

    facts = ", ".join(f"{c} {sql_type(c)}" for c in _COLUMNS)
    other = [value(c) for c in _COLUMNS if c not in ("switchboard_code", "linkedid")]
    return (
        f"WITH f AS (SELECT * FROM json_to_recordset($1::json) AS f({facts})), "
        "t AS (SELECT COALESCE(o.switchboard_code, f.switchboard_code) AS tsb, COALESCE(o.linkedid, f.linkedid) AS tlk, "
        "f.* FROM f LEFT JOIN call_legs l ON l.switchboard_code = f.switchboard_code AND l.linkedid = f.linkedid "
        "LEFT JOIN calls o ON o.id = l.call_id), "
        f"up AS (INSERT INTO calls AS c ({', '.join(_COLUMNS)}) SELECT tsb, tlk, {', '.join(other)} FROM t "
        "ON CONFLICT (switchboard_code, linkedid) DO UPDATE SET "
        + ", ".join(_SETS)
        + " RETURNING c.id, c.switchboard_code, c.linkedid), "
        "m AS (SELECT t.switchboard_code AS esb, t.linkedid AS elk, up.id FROM t "
        "JOIN up ON up.switchboard_code = t.tsb AND up.linkedid = t.tlk) "
        "INSERT INTO webhook_events (switchboard_code, source, dedup_key, webhook_id, received_at, event_type, "
        "event_time, linkedid, uniqueid, channel, call_id, body_enc) "
        "SELECT ev.sb, ev.src, decode(ev.dedup_key, 'base64'), ev.wid, ev.rat, ev.event_type, ev.event_time, "
        "ev.linkedid, ev.uniqueid, ev.channel, m.id, decode(ev.body_enc, 'base64') FROM json_to_recordset($2::json) AS "
        "ev(sb text, src text, wid text, rat timestamptz, dedup_key text, event_type text, event_time timestamptz, "
        "linkedid text, uniqueid text, channel text, body_enc text, ord int, plk text) "
        "LEFT JOIN m ON m.esb = ev.sb AND m.elk = ev.plk ORDER BY ev.ord "
        "ON CONFLICT (switchboard_code, dedup_key) DO NOTHING RETURNING switchboard_code, dedup_key"
    )


def single_ingest_sql() -> str:
    """The intake of one event of at most one call, with scalar parameters: the common request of a
    dialplan's CURL(). $1..$24 the call's facts (in _COLUMNS order); then the event: $25 dedup key,
    $26 type, $27 time, $28 uniqueid, $29 channel, $30 body, $31 source, $32 webhook-id, $33 received
    at. A call-less event passes NULL facts and no call row is touched."""
    n = len(_COLUMNS)
    values = ", ".join(f"${i + 3}::{_TYPES.get(c, 'timestamptz')}" for i, c in enumerate(_COLUMNS[2:]))
    leg = (
        "(SELECT c2.{col} FROM call_legs l JOIN calls c2 ON c2.id = l.call_id "
        "WHERE l.switchboard_code = $1 AND l.linkedid = $2)"
    )
    return (
        f"WITH up AS (INSERT INTO calls AS c ({', '.join(_COLUMNS)}) "
        f"SELECT COALESCE({leg.format(col='switchboard_code')}, $1), COALESCE({leg.format(col='linkedid')}, $2), "
        f"{values} WHERE $2::text IS NOT NULL "
        "ON CONFLICT (switchboard_code, linkedid) DO UPDATE SET " + ", ".join(_SETS) + " RETURNING c.id) "
        "INSERT INTO webhook_events (switchboard_code, source, dedup_key, webhook_id, received_at, event_type, "
        "event_time, linkedid, uniqueid, channel, call_id, body_enc) "
        f"SELECT $1, ${n + 7}, ${n + 1}, ${n + 8}, ${n + 9}, ${n + 2}, ${n + 3}, $2, ${n + 4}, ${n + 5}, "
        f"(SELECT id FROM up), ${n + 6} "
        "ON CONFLICT (switchboard_code, dedup_key) DO NOTHING RETURNING id"
    )


def _json_value(v: Any) -> Any:
    if isinstance(v, bytes):
        return base64.b64encode(v).decode("ascii")
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def facts_json(facts: dict[CallKey, CallFacts]) -> str:
    return json.dumps([{k: _json_value(v) for k, v in call_row(key, f).items()} for key, f in facts.items()])


def events_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps([{k: _json_value(v) for k, v in r.items()} for r in rows], ensure_ascii=False)


def call_row(key: CallKey, f: CallFacts) -> dict[str, Any]:
    return {
        "switchboard_code": key[0],
        "linkedid": key[1],
        "started_at": f.started_at,
        "last_event_at": f.last_event_at,
        "dialled_number": f.dialled[1] if f.dialled else None,
        "dialled_at": f.dialled[0] if f.dialled else None,
        "caller_number_enc": f.caller.number_enc if f.caller else None,
        "caller_hash": f.caller.number_hash if f.caller else None,
        "caller_at": f.caller.at if f.caller else None,
        "caller_province": f.caller.province if f.caller else None,
        "caller_region": f.caller.region if f.caller else None,
        "ivr_answered_at": f.ivr_answered_at,
        "wait_started_at": f.wait_started_at,
        "answered_at": f.counsellor.at if f.counsellor else None,
        "counsellor_extension": f.counsellor.extension if f.counsellor else None,
        "counsellor_user_id": f.counsellor.user_id if f.counsellor else None,
        "answered_switchboard": f.counsellor.switchboard if f.counsellor else None,
        "timed_out_at": f.timed_out_at,
        "queue_refused_at": f.queue_refused_at,
        "ended_at": f.ended_at,
        "hangup_cause": f.hangup[1] if f.hangup else None,
        "hangup_cause_at": f.hangup[0] if f.hangup else None,
        "recording_enc": f.recording[1] if f.recording else None,
        "recording_at": f.recording[0] if f.recording else None,
    }


def call_arrays(facts: dict[CallKey, CallFacts]) -> dict[str, list[Any]]:
    rows = [call_row(k, f) for k, f in facts.items()]
    return {c: [r[c] for r in rows] for c in _COLUMNS}


def facts_of_row(row: dict[str, Any]) -> CallFacts:
    """A stored call's facts, to merge a provisional leg call into the call it belongs to."""
    f = CallFacts(
        started_at=row["started_at"],
        last_event_at=row["last_event_at"],
        ivr_answered_at=row["ivr_answered_at"],
        wait_started_at=row["wait_started_at"],
        timed_out_at=row["timed_out_at"],
        queue_refused_at=row["queue_refused_at"],
        ended_at=row["ended_at"],
    )
    if row["dialled_at"] and row["dialled_number"]:
        f.dialled = (row["dialled_at"], row["dialled_number"])
    if row["caller_at"] and row["caller_hash"] and row["caller_number_enc"]:
        f.caller = CallerFact(
            row["caller_at"],
            bytes(row["caller_hash"]),
            bytes(row["caller_number_enc"]),
            row["caller_province"],
            row["caller_region"],
        )
    if row["answered_at"] and row["counsellor_extension"]:
        f.counsellor = CounsellorFact(
            row["answered_at"],
            row["counsellor_extension"],
            row["answered_switchboard"] or row["switchboard_code"],
            row["counsellor_user_id"],
        )
    if row["hangup_cause_at"] and row["hangup_cause"] is not None:
        f.hangup = (row["hangup_cause_at"], row["hangup_cause"])
    if row["recording_at"] and row["recording_enc"]:
        f.recording = (row["recording_at"], bytes(row["recording_enc"]))
    return f


async def merge_facts(conn: AsyncConnection[Any], facts: dict[CallKey, CallFacts]) -> dict[CallKey, int]:
    """Merge facts into their calls (creating them); returns each call's id."""
    if not facts:
        return {}
    cur = await conn.execute(UPSERT_CALLS, call_arrays(facts))
    return {(sb, lk): cid for cid, sb, lk in await cur.fetchall()}


# --- context: counsellors' extensions and area codes ----------------------------------------


@dataclass
class _Cached:
    until: float
    value: Any


_cache: dict[str, _Cached] = {}
# Extensions change when an admin edits a user; a few seconds of delay is harmless and saves a
# query per webhook. Nothing else is kept in the process.
CACHE_SECONDS = 5.0


async def _extensions(conn: AsyncConnection[Any], switchboard: str) -> dict[str, int]:
    key = f"ext:{switchboard}"
    hit = _cache.get(key)
    if hit and hit.until > time.monotonic():
        return hit.value  # type: ignore[no-any-return]
    cur = await conn.execute(
        "SELECT extension, user_id FROM user_extensions WHERE switchboard_code = %s", (switchboard,)
    )
    value = {ext: uid for ext, uid in await cur.fetchall()}
    _cache[key] = _Cached(time.monotonic() + CACHE_SECONDS, value)
    return value


async def area_codes_of(conn: AsyncConnection[Any]) -> dict[str, tuple[str, str]]:
    hit = _cache.get("area_codes")
    if hit:
        return hit.value  # type: ignore[no-any-return]
    cur = await conn.execute(
        "SELECT a.code, p.code, p.region FROM area_codes a JOIN provinces p ON p.code = a.province_code"
    )
    value = {code: (province, region) for code, province, region in await cur.fetchall()}
    _cache["area_codes"] = _Cached(float("inf"), value)
    return value


def clear_cache() -> None:
    _cache.clear()


async def context_for(conn: AsyncConnection[Any], switchboard: str, keyring: Keyring) -> Context:
    return Context(
        switchboard=switchboard,
        keyring=keyring,
        extensions=await _extensions(conn, switchboard),
        area_codes=await area_codes_of(conn),
    )


# --- legs ------------------------------------------------------------------------------------


def _lock_key(key: CallKey) -> int:
    return zlib.crc32(f"call:{key[0]}:{key[1]}".encode())


async def attach_leg(conn: AsyncConnection[Any], leg: CallKey, origin: CallKey) -> None:
    """Record that ``leg`` belongs to ``origin``; fold a provisional call of the leg into it."""
    for k in sorted({leg, origin}):
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(k),))
    origin_id = (await merge_facts(conn, {origin: CallFacts()}))[origin]
    await conn.execute(
        "INSERT INTO call_legs (switchboard_code, linkedid, call_id) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (leg[0], leg[1], origin_id),
    )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT * FROM calls WHERE switchboard_code = %s AND linkedid = %s", leg)
    provisional = await cur.fetchone()
    if provisional is None or provisional["id"] == origin_id:
        return
    pid = provisional["id"]
    await merge_facts(conn, {origin: facts_of_row(provisional)})
    await conn.execute("UPDATE webhook_events SET call_id = %s WHERE call_id = %s", (origin_id, pid))
    await conn.execute(
        "INSERT INTO call_offers (call_id, switchboard_code, extension, user_id, offered_at, result) "
        "SELECT %s, switchboard_code, extension, user_id, offered_at, result FROM call_offers "
        "WHERE call_id = %s ON CONFLICT DO NOTHING",
        (origin_id, pid),
    )
    await conn.execute("UPDATE call_legs SET call_id = %s WHERE call_id = %s", (origin_id, pid))
    await conn.execute("DELETE FROM calls WHERE id = %s", (pid,))


async def _targets(
    conn: AsyncConnection[Any], switchboard: str, events: Iterable[Event]
) -> dict[CallKey, CallKey]:
    """Where each (switchboard, linkedid) of these events lands: itself, or the call it is a leg of."""
    events = list(events)
    linkedids = sorted({e.linkedid for e in events if e.linkedid})
    targets: dict[CallKey, CallKey] = {(switchboard, lk): (switchboard, lk) for lk in linkedids}
    for e in events:
        if e.origin and e.linkedid:
            sb, _, lk = e.origin.partition(":")
            if (sb, lk) != (switchboard, e.linkedid):
                await attach_leg(conn, (switchboard, e.linkedid), (sb, lk))
    if linkedids:
        cur = await conn.execute(
            "SELECT l.linkedid, c.switchboard_code, c.linkedid FROM call_legs l JOIN calls c ON c.id = l.call_id "
            "WHERE l.switchboard_code = %s AND l.linkedid = ANY(%s)",
            (switchboard, linkedids),
        )
        for leg_lk, call_sb, call_lk in await cur.fetchall():
            targets[(switchboard, leg_lk)] = (call_sb, call_lk)
    return targets


# --- applying a batch ---------------------------------------------------------------------------


@dataclass
class Applied:
    # per event: the call it landed on (switchboard, linkedid), or None for events of no call
    targets: list[CallKey | None]
    facts: dict[CallKey, CallFacts]
    offers: list[tuple[CallKey, Offer]]


async def prepare(
    conn: AsyncConnection[Any], switchboard: str, events: Sequence[Event], keyring: Keyring
) -> Applied:
    """What these events prove, per call they land on (legs resolved). Nothing is written but legs."""
    placed = [i for i, e in enumerate(events) if e.linkedid and not e.is_local and e.at is not None]
    result = Applied([None] * len(events), {}, [])
    if not placed:
        return result
    ctx = await context_for(conn, switchboard, keyring)
    targets = await _targets(conn, switchboard, [events[i] for i in placed])
    for i in placed:
        e = events[i]
        target = targets[(switchboard, str(e.linkedid))]
        facts, missed = facts_of(e, ctx)
        result.facts.setdefault(target, CallFacts()).merge(facts)
        result.offers.extend((target, o) for o in missed)
        result.targets[i] = target
    return result


@dataclass
class OwnFacts:
    """What a body's events prove, per call as the switchboard names it (legs not yet resolved)."""

    facts: dict[CallKey, CallFacts]
    offers: list[tuple[CallKey, Offer]]
    placed: list[str | None]  # per event: its linkedid when it belongs to a call
    has_origin: bool


async def own_facts(
    conn: AsyncConnection[Any], switchboard: str, events: Sequence[Event], keyring: Keyring
) -> OwnFacts:
    result = OwnFacts({}, [], [None] * len(events), False)
    placed = [i for i, e in enumerate(events) if e.linkedid and not e.is_local and e.at is not None]
    if not placed:
        return result
    ctx = await context_for(conn, switchboard, keyring)
    for i in placed:
        e = events[i]
        key = (switchboard, str(e.linkedid))
        facts, missed = facts_of(e, ctx)
        result.facts.setdefault(key, CallFacts()).merge(facts)
        result.offers.extend((key, o) for o in missed)
        result.placed[i] = e.linkedid
        result.has_origin = result.has_origin or bool(e.origin)
    return result


async def save_offers(
    conn: AsyncConnection[Any], ids: dict[CallKey, int], offers: list[tuple[CallKey, Offer]]
) -> None:
    if not offers:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO call_offers (call_id, switchboard_code, extension, user_id, offered_at, result) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(ids[k], o.switchboard, o.extension, o.user_id, o.at, o.result) for k, o in offers],
        )


async def apply_events(
    conn: AsyncConnection[Any], switchboard: str, events: Sequence[Event], keyring: Keyring
) -> dict[CallKey, int]:
    """Merge what these events prove into their calls. Idempotent: applying twice changes nothing."""
    applied = await prepare(conn, switchboard, events, keyring)
    ids = await merge_facts(conn, applied.facts)
    await save_offers(conn, ids, applied.offers)
    return ids


# --- the sweeper -----------------------------------------------------------------------------


async def sweep(session: AsyncSession, idle: timedelta, now: datetime | None = None) -> int:
    """Close calls with no event for ``idle``: their end is their last event. Returns how many."""
    now = now or datetime.now(UTC)
    result = await session.execute(
        text(
            "UPDATE calls SET sweeper_end_at = last_event_at, swept_at = :now "
            "WHERE ended_at IS NULL AND sweeper_end_at IS NULL AND last_event_at < :cutoff"
        ),
        {"now": now, "cutoff": now - idle},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
