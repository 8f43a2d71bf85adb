"""What an Asterisk event proves about its call, as facts that merge in any order.

Each fact is kept as "the earliest" or "the latest" time, or as a value chosen by the earliest time
with the value itself breaking ties. Merging is commutative, associative and idempotent, so the
same events give the same call whatever their order and however often they arrive. calls/service.py
applies the same rules in SQL when it merges facts into the stored row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from hotline_api.privacy.crypto import Keyring
from hotline_api.privacy.normalise import normalise_phone
from hotline_api.telephony.parsing import QUEUE_REFUSED, QUEUE_TIMEOUT, RECORDING_VARIABLES, Event

HOTLINE_NUMBERS = frozenset({"111", "18001567"})
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]+(;\d)?$")
MISSED_DIAL_STATUSES = {"NOANSWER": "noanswer", "BUSY": "busy", "CHANUNAVAIL": "unavailable"}


def dial_target(channel: str | None) -> str | None:
    """``PJSIP/1012-0000002a`` → ``PJSIP/1012``: the form extensions are registered in."""
    if not channel:
        return None
    return _CHANNEL_SUFFIX.sub("", channel)


@dataclass(frozen=True)
class CallerFact:
    at: datetime
    number_hash: bytes
    number_enc: bytes
    province: str | None
    region: str | None

    def key(self) -> tuple[datetime, bytes]:
        return (self.at, self.number_hash)


@dataclass(frozen=True)
class CounsellorFact:
    at: datetime
    extension: str
    switchboard: str
    user_id: int | None

    def key(self) -> tuple[datetime, str, str]:
        return (self.at, self.extension, self.switchboard)


@dataclass(frozen=True)
class Offer:
    switchboard: str
    extension: str
    at: datetime
    result: str
    user_id: int | None


def _least(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _greatest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _first(a: tuple | None, b: tuple | None) -> tuple | None:  # type: ignore[type-arg]
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@dataclass
class CallFacts:
    started_at: datetime | None = None
    last_event_at: datetime | None = None
    dialled: tuple[datetime, str] | None = None
    caller: CallerFact | None = None
    ivr_answered_at: datetime | None = None
    wait_started_at: datetime | None = None
    counsellor: CounsellorFact | None = None
    timed_out_at: datetime | None = None
    queue_refused_at: datetime | None = None
    ended_at: datetime | None = None
    hangup: tuple[datetime, int] | None = None
    recording: tuple[datetime, bytes] | None = None

    def merge(self, other: CallFacts) -> None:
        self.started_at = _least(self.started_at, other.started_at)
        self.last_event_at = _greatest(self.last_event_at, other.last_event_at)
        self.dialled = _first(self.dialled, other.dialled)
        if other.caller and (self.caller is None or other.caller.key() < self.caller.key()):
            self.caller = other.caller
        self.ivr_answered_at = _least(self.ivr_answered_at, other.ivr_answered_at)
        self.wait_started_at = _least(self.wait_started_at, other.wait_started_at)
        if other.counsellor and (self.counsellor is None or other.counsellor.key() < self.counsellor.key()):
            self.counsellor = other.counsellor
        self.timed_out_at = _least(self.timed_out_at, other.timed_out_at)
        self.queue_refused_at = _least(self.queue_refused_at, other.queue_refused_at)
        self.ended_at = _greatest(self.ended_at, other.ended_at)
        self.hangup = _first(self.hangup, other.hangup)
        self.recording = _first(self.recording, other.recording)

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def area_of(number: str | None, area_codes: Mapping[str, tuple[str, str]]) -> tuple[str, str] | None:
    """(province, region) of a Vietnamese landline in E.164 form; None for mobiles and the rest.

    A fixed-line number is +84, then 2 and the rest of a two- or three-digit area code (the 34
    provinces keep the codes of the provinces merged into them), then the subscriber's number.
    """
    if not number or not number.startswith("+842"):
        return None
    national = number[3:]
    for length in (3, 2):
        hit = area_codes.get(national[:length])
        if hit:
            return hit
    return None


@dataclass
class Context:
    """What fact extraction needs beyond the event: who is a counsellor, how to seal a number."""

    switchboard: str
    keyring: Keyring
    # dial target (PJSIP/1012) → user id, for this switchboard
    extensions: dict[str, int]
    area_codes: dict[str, tuple[str, str]]  # area code → (province code, region)

    def counsellor_of(self, channel: str | None, interface: str | None = None) -> tuple[str, int] | None:
        for candidate in (interface, dial_target(channel)):
            if candidate and candidate in self.extensions:
                return candidate, self.extensions[candidate]
        return None

    def caller_fact(self, at: datetime, raw_number: str) -> CallerFact | None:
        number = normalise_phone(raw_number)
        if number is None:
            return None
        province, region = area_of(number, self.area_codes) or (None, None)
        return CallerFact(
            at=at,
            number_hash=self.keyring.keyed_hash(number, "phone"),
            number_enc=self.keyring.encrypt(number, "calls.caller_number"),
            province=province,
            region=region,
        )


def facts_of(event: Event, ctx: Context) -> tuple[CallFacts, list[Offer]]:
    """The facts one event proves about its call (its linkedid), and any missed offers."""
    facts = CallFacts()
    offers: list[Offer] = []
    at = event.at
    if at is None:
        return facts, offers
    facts.started_at = event.start or at
    facts.last_event_at = _greatest(at, event.end)
    caller_uniqueid = (
        event.extras.get("caller_uniqueid")
        if event.kind in {"dial", "agent_connect", "agent_called", "agent_complete", "agent_noanswer"}
        else None
    )
    is_caller = event.uniqueid is not None and event.uniqueid == event.linkedid
    caller_side = is_caller or (caller_uniqueid is not None and caller_uniqueid == event.linkedid)
    if event.source == "cdr":
        is_caller = caller_side = event.uniqueid == event.linkedid or event.uniqueid is None

    if caller_side and event.caller_number:
        facts.caller = ctx.caller_fact(event.start or at, event.caller_number)
    if caller_side and event.exten in HOTLINE_NUMBERS:
        facts.dialled = (event.start or at, event.exten)

    if is_caller and event.state_up:
        facts.ivr_answered_at = at
    if event.source == "cdr" and is_caller and event.answer:
        facts.ivr_answered_at = event.answer
    if event.kind == "queue_join":
        facts.wait_started_at = at

    counsellor = ctx.counsellor_of(event.channel, event.interface)
    if counsellor and not is_caller:
        extension, user_id = counsellor
        connected = (
            (event.kind == "bridge_enter" and (event.bridge_type or "mixing") != "holding")
            or (event.kind == "dial" and event.dial_status == "ANSWER")
            or event.kind == "agent_connect"
        )
        if connected:
            facts.counsellor = CounsellorFact(
                at=at, extension=extension, switchboard=ctx.switchboard, user_id=user_id
            )
        missed = MISSED_DIAL_STATUSES.get(event.dial_status or "") if event.kind == "dial" else None
        if event.kind == "agent_noanswer":
            missed = "noanswer"
        if missed:
            offers.append(Offer(ctx.switchboard, extension, at, missed, user_id))
    elif event.kind == "agent_connect" and event.interface:
        # a queue member we cannot map to a user still answered the call
        facts.counsellor = CounsellorFact(
            at=at, extension=event.interface, switchboard=ctx.switchboard, user_id=None
        )

    # a CDR posted by the dialplan's hangup handler: the counsellor it dialled (dstchannel) was
    # connected for ${ANSWEREDTIME} seconds before the end, so they answered at end - that
    answered_for = event.extras.get("answeredtime") if event.source == "cdr" else None
    if is_caller and isinstance(answered_for, float) and answered_for > 0 and event.end:
        dialled = ctx.counsellor_of(event.extras.get("dstchannel"), None)
        if dialled:
            facts.counsellor = CounsellorFact(
                at=event.end - timedelta(seconds=answered_for),
                extension=dialled[0],
                switchboard=ctx.switchboard,
                user_id=dialled[1],
            )

    if event.kind == "var" and event.variable == "QUEUESTATUS" and event.value:
        status = event.value.upper()
        if status in QUEUE_TIMEOUT:
            facts.timed_out_at = at
        elif status in QUEUE_REFUSED:
            facts.queue_refused_at = at
    if (
        event.kind in {"var", "recording"}
        and event.value
        and (event.kind == "recording" or event.variable in RECORDING_VARIABLES)
    ):
        facts.recording = (at, ctx.keyring.encrypt(event.value, "calls.recording"))

    if is_caller and event.kind == "hangup":
        facts.ended_at = at
        if event.cause is not None:
            facts.hangup = (at, event.cause)
    if event.kind == "call_end":
        facts.ended_at = at
    if event.source == "cdr" and is_caller and event.end:
        facts.ended_at = event.end
    return facts, offers
