"""The call distributor: one answer to one /route request (PRODUCT.md §2, rules in order).

A decision runs in one transaction under a per-switchboard advisory lock, so that the queue order
and the counsellors' states are read and changed by one decision at a time at a switchboard, with
any number of service processes; the counsellor's row is also locked (FOR UPDATE SKIP LOCKED) when
reserved. Nothing is kept in the process but a few seconds' cache of the settings.

1. The caller's region: the IVR's choice, else the landline's area code, else the region of their
   most recent answered call, else the asking switchboard's region.
2. The target switchboard is that region's; when it is closed, has nobody signed in, or the caller
   has waited past its overflow threshold, Hà Nội; when Hà Nội is in the same state, any switchboard
   with an available counsellor. Another switchboard than the one asking: ``transfer``.
3. Within the switchboard: priority (10 emergency, 5 repeat caller with an open case, 0 the rest),
   then first come, first served.
4. The counsellor: the caller's previous one when available, else the one idle longest among those
   available here who speak the caller's language (after a while, any language). The offer is a
   reservation for the ring timeout; when it lapses the counsellor is marked missed.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from hotline_api.calls.facts import CallFacts, area_of
from hotline_api.calls.service import area_codes_of, attach_leg, merge_facts
from hotline_api.privacy.crypto import Keyring
from hotline_api.privacy.normalise import normalise_phone
from hotline_api.telephony.parsing import ORIGIN_RE

REGIONS = ("north", "central", "south")
REGION_SWITCHBOARD = {"north": "hanoi", "central": "danang", "south": "angiang"}
NATIONAL = "hanoi"
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_TARGET_RE = re.compile(r"^[A-Za-z0-9/_.@:-]{1,64}$")
# what a trunk presents as the caller: digits with the usual punctuation, or a withheld-number word
_CALLER_RE = re.compile(
    r"^(\+?[0-9][0-9 ().-]{0,30}|anonymous|unknown|restricted|private|unavailable)$", re.I
)
_EXTEN_RE = re.compile(r"^[0-9*#+]{1,20}$")
SIGNED_IN = ("available", "reserved", "on_call", "wrap_up")
PRIORITY_EMERGENCY = 10
PRIORITY_OPEN_CASE = 5


class BadRouteRequest(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RouteRequest:
    linkedid: str
    uniqueid: str | None = None
    caller: str | None = None
    exten: str | None = None
    attempt: int = 1
    ivr_region: str | None = None
    ivr_province: str | None = None
    ivr_language: str | None = None
    ivr_emergency: bool = False
    previous_target: str | None = None
    origin: str | None = None


def _flag(value: str, name: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "y", "on"):
        return True
    if v in ("", "0", "false", "no", "n", "off"):
        return False
    raise BadRouteRequest(f"{name} must be 1 or 0", name)


def parse_request(data: Mapping[str, Any], provinces: Mapping[str, str]) -> RouteRequest:
    """The request as the dialplan sends it (strings); BadRouteRequest names the field."""

    def text(name: str, limit: int = 128) -> str | None:
        v = data.get(name)
        if v is None:
            return None
        if not isinstance(v, str | int):
            raise BadRouteRequest(f"{name} must be text", name)
        s = str(v).strip()
        if len(s) > limit:
            raise BadRouteRequest(f"{name} is longer than {limit} characters", name)
        return s or None

    linkedid = text("linkedid")
    if linkedid is None:
        raise BadRouteRequest("linkedid is missing: send linkedid=${CHANNEL(linkedid)}", "linkedid")
    if not _ID_RE.match(linkedid):
        raise BadRouteRequest("linkedid is not an Asterisk id", "linkedid")
    uniqueid = text("uniqueid")
    if uniqueid is not None and not _ID_RE.match(uniqueid):
        raise BadRouteRequest("uniqueid is not an Asterisk id", "uniqueid")
    attempt_text = text("attempt", 6) or "1"
    if not attempt_text.isdigit():
        raise BadRouteRequest("attempt must be a whole number", "attempt")
    region = text("ivr_region", 16)
    if region is not None and region.lower() not in REGIONS:
        raise BadRouteRequest("ivr_region must be north, central or south", "ivr_region")
    province = text("ivr_province", 4)
    if province is not None and province not in provinces:
        raise BadRouteRequest(
            f"ivr_province {province!r} is not one of the 34 province codes", "ivr_province"
        )
    language = text("ivr_language", 8)
    if language is not None and not _LANG_RE.match(language.lower()):
        raise BadRouteRequest("ivr_language must be an ISO 639 code such as vi, en, km", "ivr_language")
    caller = text("caller", 64)
    if caller is not None and not _CALLER_RE.match(caller):
        raise BadRouteRequest(
            "caller is not a phone number (send ${CALLERID(num)}, or leave it empty)", "caller"
        )
    exten = text("exten", 32)
    if exten is not None and not _EXTEN_RE.match(exten):
        raise BadRouteRequest("exten is not a dialled number such as 111 or 18001567", "exten")
    previous = text("previous_target", 64)
    if previous is not None and not _TARGET_RE.match(previous):
        raise BadRouteRequest("previous_target is not a dial target such as PJSIP/1012", "previous_target")
    origin = text("origin", 200)
    if origin is not None and not ORIGIN_RE.match(origin):
        raise BadRouteRequest("origin must look like <switchboard>:<linkedid>", "origin")
    if origin is not None and origin.split(":", 1)[0] not in REGION_SWITCHBOARD.values():
        raise BadRouteRequest(f"origin names an unknown switchboard {origin.split(':', 1)[0]!r}", "origin")
    return RouteRequest(
        linkedid=linkedid,
        uniqueid=uniqueid,
        caller=caller,
        exten=exten,
        attempt=int(attempt_text),
        ivr_region=region.lower() if region else None,
        ivr_province=province,
        ivr_language=language.lower() if language else None,
        ivr_emergency=_flag(str(data.get("ivr_emergency") or ""), "ivr_emergency"),
        previous_target=previous,
        origin=origin,
    )


@dataclass
class Answer:
    action: str
    reason: str
    target: str | None = None
    timeout: int | None = None
    seconds: int | None = None
    position: int | None = None
    priority: int | None = None
    queue: str | None = None

    def fields(self) -> dict[str, str]:
        order = ("action", "target", "queue", "timeout", "seconds", "position", "priority", "reason")
        values = asdict(self)
        return {k: str(values[k]) for k in order if values[k] is not None}


@dataclass
class Decision:
    answer: Answer
    call_id: int | None = None
    region: str | None = None
    region_reason: str | None = None
    target_switchboard: str | None = None
    counsellor_user_id: int | None = None
    inputs: dict[str, Any] = field(default_factory=dict)


# ---- settings and reference, cached a few seconds ---------------------------------------------

_cache: dict[str, tuple[float, Any]] = {}
CACHE_SECONDS = 5.0


def clear_cache() -> None:
    _cache.clear()


async def _cached(key: str, loader: Any, seconds: float = CACHE_SECONDS) -> Any:
    hit = _cache.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    value = await loader()
    _cache[key] = (time.monotonic() + seconds, value)
    return value


async def settings_of(conn: AsyncConnection[Any]) -> dict[str, dict[str, Any]]:
    async def load() -> dict[str, dict[str, Any]]:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT s.*, b.region, b.always_open FROM routing_settings s JOIN switchboards b ON b.code = s.switchboard_code"
        )
        return {r["switchboard_code"]: r for r in await cur.fetchall()}

    return await _cached("settings", load)  # type: ignore[no-any-return]


async def provinces_of(conn: AsyncConnection[Any]) -> dict[str, str]:
    async def load() -> dict[str, str]:
        cur = await conn.execute("SELECT code, region FROM provinces")
        return {code: region for code, region in await cur.fetchall()}

    return await _cached("provinces", load, float("inf"))  # type: ignore[no-any-return]


def is_open(board: Mapping[str, Any], now: datetime) -> bool:
    if board["always_open"]:
        return True
    local = now.astimezone(LOCAL_TZ)
    hours = (board["opening_hours"] or {}).get(str(local.isoweekday()))
    if not hours:
        return False
    start, end = hours
    clock = local.strftime("%H:%M")
    return bool(start <= clock < end)


# ---- the decision ----------------------------------------------------------------------------


def _lock_key(switchboard: str) -> int:
    return zlib.crc32(f"route:{switchboard}".encode())


async def decide(
    conn: AsyncConnection[Any],
    keyring: Keyring,
    switchboard: str,
    req: RouteRequest,
    now: datetime | None = None,
) -> Decision:
    """Decide and record, inside the caller's transaction."""
    now = now or datetime.now(UTC)
    settings = await settings_of(conn)
    here = settings[switchboard]
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(switchboard),))

    # the call record: the wait starts with the first request (earliest wins)
    key = (switchboard, req.linkedid)
    if req.origin:
        origin_sb, _, origin_lk = req.origin.partition(":")
        if (origin_sb, origin_lk) != key:
            await attach_leg(conn, key, (origin_sb, origin_lk))
            key = (origin_sb, origin_lk)
    ids = await merge_facts(conn, {key: CallFacts(started_at=now, last_event_at=now, wait_started_at=now)})
    call_id = ids[key]
    cur = await conn.execute("SELECT wait_started_at FROM calls WHERE id = %s", (call_id,))
    wait_started_at = (await cur.fetchone())[0]  # type: ignore[index]

    # 1. the caller's region
    number = normalise_phone(req.caller) if req.caller else None
    caller_hash = keyring.keyed_hash(number, "phone") if number else None
    previous_user: int | None = None
    previous_region: str | None = None
    if caller_hash is not None:
        cur = await conn.execute(
            "SELECT c.caller_region, b.region, c.counsellor_user_id FROM calls c "
            "JOIN switchboards b ON b.code = COALESCE(c.answered_switchboard, c.switchboard_code) "
            "WHERE c.caller_hash = %s AND c.answered_at IS NOT NULL AND c.id <> %s "
            "ORDER BY c.answered_at DESC LIMIT 1",
            (caller_hash, call_id),
        )
        row = await cur.fetchone()
        if row:
            previous_region = row[0] or row[1]
            previous_user = row[2]
    provinces = await provinces_of(conn)
    area = area_of(number, await area_codes_of(conn))
    area_region = area[1] if area else None
    if req.ivr_region:
        region, region_reason = req.ivr_region, "ivr"
    elif req.ivr_province:
        region, region_reason = provinces[req.ivr_province], "ivr"
    elif area_region:
        region, region_reason = area_region, "area_code"
    elif previous_region:
        region, region_reason = previous_region, "repeat_caller"
    else:
        region, region_reason = here["region"], "default"
    priority = PRIORITY_EMERGENCY if req.ivr_emergency else 0
    language = req.ivr_language or "vi"
    # offers that lapsed, or the one the dialplan reports as failed, before this call is queued again
    await _expire_offers(conn, switchboard, call_id, req.previous_target, now, here)

    cur = await conn.execute(
        "INSERT INTO waiting_calls (switchboard_code, linkedid, call_id, priority, wait_started_at, region, language, "
        "emergency, previous_user_id, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'waiting') "
        "ON CONFLICT (switchboard_code, linkedid) DO UPDATE SET priority = GREATEST(waiting_calls.priority, "
        "EXCLUDED.priority), emergency = waiting_calls.emergency OR EXCLUDED.emergency, "
        "status = CASE WHEN waiting_calls.status IN ('offered', 'transferred') THEN 'waiting' "
        "ELSE waiting_calls.status END, updated_at = now() RETURNING id, priority, status",
        (
            switchboard,
            req.linkedid,
            call_id,
            priority,
            wait_started_at,
            region,
            language,
            req.ivr_emergency,
            previous_user,
        ),
    )
    waiting_id, priority, status = await cur.fetchone()  # type: ignore[misc]
    waited = (now - wait_started_at).total_seconds()

    decision = Decision(
        answer=Answer("wait", "waiting"), call_id=call_id, region=region, region_reason=region_reason
    )
    decision.inputs = {
        "attempt": req.attempt,
        "exten": req.exten,
        "ivr_region": req.ivr_region,
        "ivr_province": req.ivr_province,
        "ivr_language": req.ivr_language,
        "ivr_emergency": req.ivr_emergency,
        "previous_target": req.previous_target,
        "origin": req.origin,
        "caller_kind": "landline" if area_region else ("mobile_or_other" if number else "none"),
        "waited_seconds": round(waited, 1),
        "repeat_caller": previous_user is not None or previous_region is not None,
    }
    if status in ("connected", "ended"):
        # the call was answered or has ended meanwhile: nothing to distribute
        decision.answer = Answer(
            "wait", "waiting", seconds=here["wait_seconds"], position=0, priority=priority
        )
        return decision

    # 2. the target switchboard
    target, reason = await _target(
        conn, switchboard, region, region_reason, waited, settings, now, req.origin
    )
    decision.target_switchboard = target
    if target != switchboard:
        dial = (here["transfer_targets"] or {}).get(target)
        if dial:
            await conn.execute(
                "UPDATE waiting_calls SET status = 'transferred', updated_at = now() WHERE id = %s",
                (waiting_id,),
            )
            decision.answer = Answer("transfer", reason, target=dial)
            return decision
        reason = "no_transfer_target"  # nowhere to send it: serve it here
        decision.target_switchboard = switchboard

    # 3. the call's place in this switchboard's queue (priority, then first come)
    cur = await conn.execute(
        "SELECT count(*) FROM waiting_calls w WHERE w.switchboard_code = %s AND w.status = 'waiting' AND w.id <> %s "
        "AND (w.priority > %s OR (w.priority = %s AND (w.wait_started_at, w.id) < (%s, %s)))",
        (switchboard, waiting_id, priority, priority, wait_started_at, waiting_id),
    )
    position = int((await cur.fetchone())[0]) + 1  # type: ignore[index]

    # 4. the counsellor
    lang_any = waited >= here["language_wait_seconds"]
    cur = await conn.execute(
        "SELECT p.user_id, e.extension, %s = ANY(u.languages) FROM counsellor_presence p "
        "JOIN user_extensions e ON e.user_id = p.user_id AND e.switchboard_code = p.switchboard_code "
        "JOIN users u ON u.id = p.user_id "
        "WHERE p.switchboard_code = %s AND u.is_active "
        "AND (p.state = 'available' OR (p.state = 'wrap_up' AND p.wrap_up_until <= %s)) "
        "AND (%s OR %s = ANY(u.languages)) "
        "ORDER BY (p.user_id = %s) IS TRUE DESC, "
        "COALESCE(CASE WHEN p.state = 'wrap_up' THEN p.wrap_up_until END, p.idle_since, p.since), p.user_id "
        "FOR UPDATE OF p SKIP LOCKED",
        (language, switchboard, now, lang_any, language, previous_user),
    )
    free = await cur.fetchall()
    if free and position <= len(free):
        # the calls ahead take the counsellors ahead of this one's pick; this call takes the first left
        user_id, extension, speaks = free[0] if position == 1 else free[position - 1]
        if previous_user is not None and any(u == previous_user for u, _, _ in free) and position == 1:
            user_id, extension, speaks = next(f for f in free if f[0] == previous_user)
        pick = (
            "previous_counsellor"
            if user_id == previous_user
            else ("longest_idle" if speaks else "any_language")
        )
        await conn.execute(
            "UPDATE counsellor_presence SET state = 'reserved', since = %s, call_id = %s, reserved_until = %s, "
            "wrap_up_until = NULL WHERE user_id = %s",
            (now, call_id, now + timedelta(seconds=here["ring_timeout_seconds"]), user_id),
        )
        await conn.execute(
            "UPDATE waiting_calls SET status = 'offered', offered_user_id = %s, updated_at = now() WHERE id = %s",
            (user_id, waiting_id),
        )
        decision.counsellor_user_id = user_id
        decision.answer = Answer(
            "dial",
            pick if reason in ("ivr", "area_code", "repeat_caller", "default", "origin") else reason,
            target=extension,
            timeout=here["ring_timeout_seconds"],
            priority=priority,
        )
        return decision

    if waited >= here["max_wait_seconds"]:
        # nobody could take it in time: the service's last-resort limit ends the wait
        await merge_facts(conn, {key: CallFacts(timed_out_at=now)})
        await conn.execute(
            "UPDATE waiting_calls SET status = 'ended', updated_at = now() WHERE id = %s", (waiting_id,)
        )
        decision.answer = Answer("queue", "wait_limit", queue=here["local_queue"], priority=priority)
        return decision
    decision.answer = Answer(
        "wait", "waiting", seconds=here["wait_seconds"], position=position, priority=priority
    )
    return decision


async def _signed_in(
    conn: AsyncConnection[Any], board: str, now: datetime, available_only: bool = False
) -> bool:
    states = ("available",) if available_only else SIGNED_IN
    cur = await conn.execute(
        "SELECT 1 FROM counsellor_presence p JOIN users u ON u.id = p.user_id WHERE p.switchboard_code = %s "
        "AND u.is_active AND (p.state = ANY(%s) OR (p.state = 'wrap_up' AND p.wrap_up_until <= %s)) LIMIT 1",
        (board, list(states), now),
    )
    return await cur.fetchone() is not None


async def _target(
    conn: AsyncConnection[Any],
    here: str,
    region: str,
    region_reason: str,
    waited: float,
    settings: Mapping[str, Mapping[str, Any]],
    now: datetime,
    origin: str | None,
) -> tuple[str, str]:
    if origin:
        # an overflowed call has arrived where it was sent: it is served here
        return here, "origin"

    async def trouble(board: str) -> str | None:
        if not is_open(settings[board], now):
            return "after_hours"
        if not await _signed_in(conn, board, now):
            return "overflow_no_counsellor"
        if waited > settings[board]["overflow_after_seconds"]:
            return "overflow_wait"
        return None

    target = REGION_SWITCHBOARD[region]
    cause = await trouble(target)
    if cause is None:
        return target, region_reason
    if target != NATIONAL and await trouble(NATIONAL) is None:
        return NATIONAL, cause
    for board in sorted(settings, key=lambda b: (b != here, b)):
        if is_open(settings[board], now) and await _signed_in(conn, board, now, available_only=True):
            return board, cause
    return here, cause


async def _expire_offers(
    conn: AsyncConnection[Any],
    switchboard: str,
    call_id: int,
    previous_target: str | None,
    now: datetime,
    here: Mapping[str, Any],
) -> None:
    """Offers that lapsed (or the dial the dialplan reports as failed) become missed offers, and the
    counsellor is set unavailable until they return."""
    cur = await conn.execute(
        "WITH lapsed AS (SELECT p.user_id, p.call_id, e.extension FROM counsellor_presence p "
        "JOIN user_extensions e ON e.user_id = p.user_id AND e.switchboard_code = p.switchboard_code "
        "WHERE p.switchboard_code = %s AND p.state = 'reserved' "
        "AND (p.reserved_until < %s OR (p.call_id = %s AND e.extension = %s)) FOR UPDATE OF p) "
        "UPDATE counsellor_presence p SET state = 'missed', since = %s, call_id = NULL, reserved_until = NULL "
        "FROM lapsed WHERE p.user_id = lapsed.user_id RETURNING lapsed.user_id, lapsed.extension, lapsed.call_id",
        (switchboard, now, call_id, previous_target or "", now),
    )
    for user_id, extension, offered_call in await cur.fetchall():
        if offered_call is not None:
            await conn.execute(
                "INSERT INTO call_offers (call_id, switchboard_code, extension, user_id, offered_at, result) "
                "VALUES (%s, %s, %s, %s, %s, 'noanswer') ON CONFLICT DO NOTHING",
                (offered_call, switchboard, extension, user_id, now),
            )
        await conn.execute(
            "UPDATE waiting_calls SET status = 'waiting', offered_user_id = NULL, updated_at = now() "
            "WHERE switchboard_code = %s AND offered_user_id = %s AND status = 'offered'",
            (switchboard, user_id),
        )


async def record(
    conn: AsyncConnection[Any],
    switchboard: str,
    req: RouteRequest | None,
    decision: Decision,
    duration_ms: float,
) -> None:
    a = decision.answer
    await conn.execute(
        "INSERT INTO routing_decisions (switchboard_code, linkedid, call_id, attempt, action, target, reason, region, "
        "region_reason, target_switchboard, priority, position, counsellor_user_id, inputs, duration_ms) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            switchboard,
            req.linkedid if req else None,
            decision.call_id,
            req.attempt if req else None,
            a.action,
            a.target or a.queue,
            a.reason,
            decision.region,
            decision.region_reason,
            decision.target_switchboard,
            a.priority,
            a.position,
            decision.counsellor_user_id,
            json.dumps(decision.inputs),
            duration_ms,
        ),
    )
