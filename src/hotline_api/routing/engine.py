"""The call distributor: one answer to one /route request (PRODUCT.md §2, rules in order).

The service parses the request and computes what needs no database (the caller's keyed hash, the
area code's region); the rules run in PostgreSQL as one function, hl_route() (migrations 0008 and
0010), in one statement under a per-switchboard advisory lock, so that the queue order and the counsellors' states
are read and changed by one decision at a time at a switchboard, with any number of service
processes, and the lock is held for the database's own work only (about a millisecond), never
across round trips through a busy service. The counsellor's row is also locked (FOR UPDATE SKIP
LOCKED) when reserved. Nothing is kept in the process but the provinces and area codes.

1. The caller's region: the IVR's choice, else the landline's area code, else the region of their
   open case, else that of their most recent answered call, else the asking switchboard's region.
2. The target switchboard is that region's; when it is closed, has nobody signed in, or the caller
   has waited past its overflow threshold, Hà Nội; when Hà Nội is in the same state, any switchboard
   with an available counsellor. Another switchboard than the one asking: ``transfer``.
3. Within the switchboard: priority (10 emergency, 5 repeat caller with an open case, 0 the rest),
   then first come, first served.
4. The counsellor: the one assigned to the caller's open case, else the caller's previous one, when
   available; else the one idle longest among those available here who speak the caller's language
   (after a while, any language). The offer is a reservation for the ring timeout; when it lapses
   the counsellor is marked missed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from hotline_api.calls.facts import area_of
from hotline_api.calls.service import area_codes_of, attach_leg
from hotline_api.privacy.crypto import Keyring
from hotline_api.privacy.normalise import normalise_phone
from hotline_api.telephony.parsing import ORIGIN_RE

REGIONS = ("north", "central", "south")
REGION_SWITCHBOARD = {"north": "hanoi", "central": "danang", "south": "angiang"}
NATIONAL = "hanoi"
_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_TARGET_RE = re.compile(r"^[A-Za-z0-9/_.@:-]{1,64}$")
# what a trunk presents as the caller: digits with the usual punctuation, or a withheld-number word
_CALLER_RE = re.compile(
    r"^(\+?[0-9][0-9 ().-]{0,30}|anonymous|unknown|restricted|private|unavailable)$", re.I
)
_EXTEN_RE = re.compile(r"^[0-9*#+]{1,20}$")


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


# ---- reference, cached ------------------------------------------------------------------------

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


async def provinces_of(conn: AsyncConnection[Any]) -> dict[str, str]:
    async def load() -> dict[str, str]:
        cur = await conn.execute("SELECT code, region FROM provinces")
        return {code: region for code, region in await cur.fetchall()}

    return await _cached("provinces", load, float("inf"))  # type: ignore[no-any-return]


# ---- the decision ----------------------------------------------------------------------------

# hl_route() (migrations 0008 and 0010) holds the rules; one statement, so that the switchboard's lock is held
# inside PostgreSQL only, and the decision is its own transaction on an autocommit connection
ROUTE_SQL = (
    "SELECT hl_route(%s::text, %s::text, %s::text, %s::text, %s::timestamptz, %s::bytea, %s::text, %s::text, "
    "%s::boolean, %s::text, %s::text, %s::boolean, %s::integer, %s::jsonb, %s::float8)"
)


async def decide(
    conn: AsyncConnection[Any],
    keyring: Keyring,
    switchboard: str,
    req: RouteRequest,
    now: datetime | None = None,
    elapsed_ms: float = 0.0,
) -> Decision:
    """Decide and store the decision (routing_decisions). On an autocommit connection the decision
    is one statement and its own transaction; inside a transaction it joins it."""
    now = now or datetime.now(UTC)
    number = normalise_phone(req.caller) if req.caller else None
    caller_hash = keyring.keyed_hash(number, "phone") if number else None
    area = area_of(number, await area_codes_of(conn))
    area_region = area[1] if area else None
    ivr_region = req.ivr_region
    if ivr_region is None and req.ivr_province:
        ivr_region = (await provinces_of(conn))[req.ivr_province]

    key = (switchboard, req.linkedid)
    if req.origin:
        origin_sb, _, origin_lk = req.origin.partition(":")
        if (origin_sb, origin_lk) != key:
            # the overflowed call's leg here belongs to the original call (rare: its own transaction)
            async with conn.transaction():
                await attach_leg(conn, key, (origin_sb, origin_lk))
            key = (origin_sb, origin_lk)
    inputs = {
        "attempt": req.attempt,
        "exten": req.exten,
        "ivr_region": req.ivr_region,
        "ivr_province": req.ivr_province,
        "ivr_language": req.ivr_language,
        "ivr_emergency": req.ivr_emergency,
        "previous_target": req.previous_target,
        "origin": req.origin,
        "caller_kind": "landline" if area_region else ("mobile_or_other" if number else "none"),
    }
    cur = await conn.execute(
        ROUTE_SQL,
        (
            switchboard,
            req.linkedid,
            key[0],
            key[1],
            now,
            caller_hash,
            ivr_region,
            area_region,
            req.ivr_emergency,
            req.ivr_language or "vi",
            req.previous_target,
            req.origin is not None,
            req.attempt,
            json.dumps(inputs),
            elapsed_ms,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    r: dict[str, Any] = row[0]
    return Decision(
        answer=Answer(
            r["action"],
            r["reason"],
            target=r["target"],
            timeout=r["timeout"],
            seconds=r["seconds"],
            position=r["position"],
            priority=r["priority"],
            queue=r["queue"],
        ),
        call_id=r["call_id"],
        region=r["region"],
        region_reason=r["region_reason"],
        target_switchboard=r["target_switchboard"],
        counsellor_user_id=r["counsellor_user_id"],
        inputs=r["inputs"],
    )
