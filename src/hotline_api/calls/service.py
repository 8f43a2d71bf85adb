"""Applying events to call records, and reading them back.

The facts of calls/facts.py are merged into the ``calls`` row by one INSERT … ON CONFLICT DO UPDATE
per batch, with the same rules in SQL (LEAST, GREATEST, earliest-wins with a tie-break). A call
overflowed to another switchboard (HOTLINE_ORIGIN) is one call: its other leg is recorded in
``call_legs`` and every fact of that leg lands on the original call — also when the leg's events
arrived before the one that named its origin, in which case the leg's provisional call is merged
in and removed.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.auth.models import UserExtension
from hotline_api.calls.facts import CallerFact, CallFacts, Context, CounsellorFact, Offer, facts_of
from hotline_api.calls.models import Call, CallLeg
from hotline_api.privacy.crypto import Keyring
from hotline_api.reference.models import AreaCode, Province
from hotline_api.telephony.parsing import Event

CallKey = tuple[str, str]  # (switchboard, linkedid)

# --- the merge, in SQL ------------------------------------------------------------------------

_COLUMNS = (
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
    """SET clauses that take EXCLUDED's values when its (at, tiebreak) sorts first."""
    cond = (
        f"EXCLUDED.{at} IS NOT NULL AND (calls.{at} IS NULL OR "
        f"(EXCLUDED.{at}, EXCLUDED.{tiebreak}) < (calls.{at}, calls.{tiebreak}))"
    )
    sets = [f"{c} = CASE WHEN {cond} THEN EXCLUDED.{c} ELSE calls.{c} END" for c in columns if c != at]
    sets.append(f"{at} = CASE WHEN {cond} THEN EXCLUDED.{at} ELSE calls.{at} END")
    return sets


_SETS = [
    "started_at = LEAST(calls.started_at, EXCLUDED.started_at)",
    "last_event_at = GREATEST(calls.last_event_at, EXCLUDED.last_event_at)",
    *_earliest_wins("dialled_at", "dialled_number", ["dialled_number"]),
    *_earliest_wins(
        "caller_at", "caller_hash", ["caller_number_enc", "caller_hash", "caller_province", "caller_region"]
    ),
    "ivr_answered_at = LEAST(calls.ivr_answered_at, EXCLUDED.ivr_answered_at)",
    "wait_started_at = LEAST(calls.wait_started_at, EXCLUDED.wait_started_at)",
    *_earliest_wins(
        "answered_at",
        "counsellor_extension",
        ["counsellor_extension", "counsellor_user_id", "answered_switchboard"],
    ),
    "timed_out_at = LEAST(calls.timed_out_at, EXCLUDED.timed_out_at)",
    "queue_refused_at = LEAST(calls.queue_refused_at, EXCLUDED.queue_refused_at)",
    "ended_at = GREATEST(calls.ended_at, EXCLUDED.ended_at)",
    *_earliest_wins("hangup_cause_at", "hangup_cause", ["hangup_cause"]),
    *_earliest_wins("recording_at", "recording_enc", ["recording_enc"]),
]
# (answered_at, counsellor_extension) ties are broken by the extension; the switchboard rides along.

# built from the constant column names above and bind placeholders only
_UPSERT_HEAD = f"INSERT INTO calls ({', '.join(_COLUMNS)}) VALUES "  # noqa: S608
_UPSERT_TAIL = (
    " ON CONFLICT (switchboard_code, linkedid) DO UPDATE SET "
    + ", ".join(_SETS)
    + " RETURNING id, switchboard_code, linkedid"
)


def _row(key: CallKey, f: CallFacts) -> dict[str, Any]:
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


def facts_of_row(call: Call) -> CallFacts:
    """A stored call's facts, to merge a provisional leg call into the call it belongs to."""
    f = CallFacts(
        started_at=call.started_at,
        last_event_at=call.last_event_at,
        ivr_answered_at=call.ivr_answered_at,
        wait_started_at=call.wait_started_at,
        timed_out_at=call.timed_out_at,
        queue_refused_at=call.queue_refused_at,
        ended_at=call.ended_at,
    )
    if call.dialled_at and call.dialled_number:
        f.dialled = (call.dialled_at, call.dialled_number)
    if call.caller_at and call.caller_hash and call.caller_number_enc:
        f.caller = CallerFact(
            call.caller_at, call.caller_hash, call.caller_number_enc, call.caller_province, call.caller_region
        )
    if call.answered_at and call.counsellor_extension:
        f.counsellor = CounsellorFact(
            call.answered_at,
            call.counsellor_extension,
            call.answered_switchboard or call.switchboard_code,
            call.counsellor_user_id,
        )
    if call.hangup_cause_at and call.hangup_cause is not None:
        f.hangup = (call.hangup_cause_at, call.hangup_cause)
    if call.recording_at and call.recording_enc:
        f.recording = (call.recording_at, call.recording_enc)
    return f


async def merge_facts(session: AsyncSession, facts: dict[CallKey, CallFacts]) -> dict[CallKey, int]:
    """Merge facts into their calls (creating them); returns each call's id."""
    if not facts:
        return {}
    rows = [_row(k, f) for k, f in facts.items()]
    params: dict[str, Any] = {}
    values = []
    for i, row in enumerate(rows):
        names = []
        for col in _COLUMNS:
            params[f"{col}_{i}"] = row[col]
            names.append(f":{col}_{i}")
        values.append(f"({', '.join(names)})")
    result = await session.execute(text(_UPSERT_HEAD + ", ".join(values) + _UPSERT_TAIL), params)
    return {(r.switchboard_code, r.linkedid): r.id for r in result}


# --- context: counsellors' extensions and area codes ----------------------------------------


@dataclass
class _Cached:
    until: float
    value: Any


_cache: dict[str, _Cached] = {}
# Extensions change when an admin edits a user; a few seconds of delay is harmless and saves a
# query per webhook. Nothing else is kept in the process.
CACHE_SECONDS = 5.0


async def _extensions(session: AsyncSession, switchboard: str) -> dict[str, int]:
    key = f"ext:{switchboard}"
    hit = _cache.get(key)
    if hit and hit.until > time.monotonic():
        return dict(hit.value)
    rows = (
        await session.execute(
            select(UserExtension.extension, UserExtension.user_id).where(
                UserExtension.switchboard_code == switchboard
            )
        )
    ).all()
    value = {ext: uid for ext, uid in rows}
    _cache[key] = _Cached(time.monotonic() + CACHE_SECONDS, value)
    return dict(value)


async def _area_codes(session: AsyncSession) -> dict[str, tuple[str, str]]:
    hit = _cache.get("area_codes")
    if hit:
        return dict(hit.value)
    rows = (
        await session.execute(
            select(AreaCode.code, Province.code, Province.region).join(
                Province, Province.code == AreaCode.province_code
            )
        )
    ).all()
    value = {code: (province, region) for code, province, region in rows}
    _cache["area_codes"] = _Cached(float("inf"), value)
    return dict(value)


def clear_cache() -> None:
    _cache.clear()


async def context_for(session: AsyncSession, switchboard: str, keyring: Keyring) -> Context:
    return Context(
        switchboard=switchboard,
        keyring=keyring,
        extensions=await _extensions(session, switchboard),
        area_codes=await _area_codes(session),
    )


# --- legs ------------------------------------------------------------------------------------


def _lock_key(key: CallKey) -> int:
    return zlib.crc32(f"call:{key[0]}:{key[1]}".encode())


async def _attach_leg(session: AsyncSession, leg: CallKey, origin: CallKey) -> None:
    """Record that ``leg`` belongs to ``origin``; fold a provisional call of the leg into it."""
    for k in sorted({leg, origin}):
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(k)})
    origin_id = (await merge_facts(session, {origin: CallFacts()}))[origin]
    await session.execute(
        text(
            "INSERT INTO call_legs (switchboard_code, linkedid, call_id) VALUES (:s, :l, :c) "
            "ON CONFLICT DO NOTHING"
        ),
        {"s": leg[0], "l": leg[1], "c": origin_id},
    )
    provisional = await session.scalar(
        select(Call).where(Call.switchboard_code == leg[0], Call.linkedid == leg[1])
    )
    if provisional is None or provisional.id == origin_id:
        return
    await merge_facts(session, {origin: facts_of_row(provisional)})
    await session.execute(
        text("UPDATE webhook_events SET call_id = :o WHERE call_id = :p"),
        {"o": origin_id, "p": provisional.id},
    )
    await session.execute(
        text(
            "INSERT INTO call_offers (call_id, switchboard_code, extension, user_id, offered_at, result) "
            "SELECT :o, switchboard_code, extension, user_id, offered_at, result FROM call_offers "
            "WHERE call_id = :p ON CONFLICT DO NOTHING"
        ),
        {"o": origin_id, "p": provisional.id},
    )
    await session.execute(
        text("UPDATE call_legs SET call_id = :o WHERE call_id = :p"), {"o": origin_id, "p": provisional.id}
    )
    await session.execute(text("DELETE FROM calls WHERE id = :p"), {"p": provisional.id})
    session.expunge(provisional)


async def _targets(
    session: AsyncSession, switchboard: str, events: Iterable[Event]
) -> dict[CallKey, CallKey]:
    """Where each (switchboard, linkedid) of these events lands: itself, or the call it is a leg of."""
    own = {(switchboard, e.linkedid) for e in events if e.linkedid}
    targets: dict[CallKey, CallKey] = {k: k for k in own}
    for e in events:
        if e.origin and e.linkedid:
            sb, _, lk = e.origin.partition(":")
            if (sb, lk) != (switchboard, e.linkedid):
                await _attach_leg(session, (switchboard, e.linkedid), (sb, lk))
    if own:
        rows = (
            await session.execute(
                select(CallLeg.switchboard_code, CallLeg.linkedid, Call.switchboard_code, Call.linkedid)
                .join(Call, Call.id == CallLeg.call_id)
                .where(tuple_(CallLeg.switchboard_code, CallLeg.linkedid).in_(list(own)))
            )
        ).all()
        for leg_sb, leg_lk, call_sb, call_lk in rows:
            targets[(leg_sb, leg_lk)] = (call_sb, call_lk)
    return targets


# --- applying a batch ---------------------------------------------------------------------------


@dataclass
class Applied:
    call_ids: list[int | None]  # per event, None for events that belong to no call


async def apply_events(
    session: AsyncSession, switchboard: str, events: Sequence[Event], keyring: Keyring
) -> Applied:
    """Merge what these events prove into their calls. Idempotent: applying twice changes nothing."""
    placed = [i for i, e in enumerate(events) if e.linkedid and not e.is_local and e.at is not None]
    call_ids: list[int | None] = [None] * len(events)
    if not placed:
        return Applied(call_ids)
    ctx = await context_for(session, switchboard, keyring)
    targets = await _targets(session, switchboard, [events[i] for i in placed])
    per_call: dict[CallKey, CallFacts] = {}
    offers: list[tuple[CallKey, Offer]] = []
    for i in placed:
        e = events[i]
        target = targets[(switchboard, str(e.linkedid))]
        facts, missed = facts_of(e, ctx)
        per_call.setdefault(target, CallFacts()).merge(facts)
        offers.extend((target, o) for o in missed)
    ids = await merge_facts(session, per_call)
    if offers:
        await session.execute(
            text(
                "INSERT INTO call_offers (call_id, switchboard_code, extension, user_id, offered_at, result) "
                "VALUES (:call_id, :sb, :ext, :uid, :at, :result) ON CONFLICT DO NOTHING"
            ),
            [
                {
                    "call_id": ids[k],
                    "sb": o.switchboard,
                    "ext": o.extension,
                    "uid": o.user_id,
                    "at": o.at,
                    "result": o.result,
                }
                for k, o in offers
            ],
        )
    for i in placed:
        call_ids[i] = ids[targets[(switchboard, str(events[i].linkedid))]]
    return Applied(call_ids)


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
