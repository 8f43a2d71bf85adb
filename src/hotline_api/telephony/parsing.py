"""Asterisk's event formats → one normalised event type.

Error messages name the event and the field, never the value sent: they are answered to the PBX
and kept as the quarantine's reason in plain text, and a misplaced field can hold a phone number.

Field names follow Asterisk's own documentation:
- ARI: rest-api/api-docs/events.json (the Event envelope: type, application, timestamp, asterisk_id;
  StasisStart, ChannelStateChange, ChannelDestroyed, ChannelEnteredBridge, Dial, ChannelVarset …)
  and the Channel model of channels.json (id, name, state, caller, connected, dialplan,
  channelvars). ARI carries no linkedid: the PBX exports it with ``channelvars = CHANNEL(linkedid)``
  in ari.conf, and it arrives as ``channel.channelvars["CHANNEL(linkedid)"]``.
- AMI: the manager event documentation of main/manager_channels.c (Newchannel, Newstate, Hangup,
  DialBegin, DialEnd, VarSet), main/manager_bridges.c (BridgeEnter, BridgeLeave) and
  apps/app_queue.c (QueueCallerJoin, QueueCallerLeave, QueueCallerAbandon, AgentCalled,
  AgentConnect, AgentComplete, AgentRingNoAnswer). A second channel repeats the channel fields with
  the prefix ``Dest``. ``Timestamp: <epoch>.<usec>`` only with ``timestampevents=yes``.
- CDR: cdr.conf / cdr_custom fields (src, dst, channel, dstchannel, start, answer, end, duration,
  billsec, disposition, uniqueid, linkedid, userfield); times in the PBX's local time, no zone.
- CEL: cel.conf / cel_custom fields (EventName, EventTime, UniqueID, LinkedID, CallerIDnum, Exten,
  Channel, Peer, Extra); LINKEDID_END marks the end of the call.

A body that cannot be read, or an event without what we need to place it (a linkedid), raises
``MalformedEvent`` naming the event's index and the field; unknown event types are kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

SOURCES = ("ari", "ami", "cdr", "cel")
MAX_EVENTS_PER_BODY = 1000
ORIGIN_VARIABLE = "HOTLINE_ORIGIN"
ORIGIN_RE = re.compile(r"^([a-z][a-z0-9_-]{0,31}):([A-Za-z0-9._-]{1,128})$")
_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Asterisk's QUEUESTATUS after Queue(): TIMEOUT ends a wait by its limit; FULL, JOINEMPTY and
# JOINUNAVAIL refuse the call before it waits; LEAVEEMPTY/LEAVEUNAVAIL end a wait because nobody can
# take it any more, which PRODUCT.md counts as a timeout.
QUEUE_TIMEOUT = frozenset({"TIMEOUT", "LEAVEEMPTY", "LEAVEUNAVAIL"})
QUEUE_REFUSED = frozenset({"FULL", "JOINEMPTY", "JOINUNAVAIL"})
RECORDING_VARIABLES = frozenset({"MIXMONITOR_FILENAME", "HOTLINE_RECORDING"})


class MalformedEvent(ValueError):
    def __init__(self, message: str, index: int | None = None, field: str | None = None) -> None:
        where = f"event {index}: " if index is not None else ""
        super().__init__(where + message)
        self.index = index
        self.field = field
        self.reason = message


@dataclass
class Event:
    """What the call records need from one Asterisk event, whatever its format."""

    source: str
    event_type: str
    body: bytes  # the event as received (JSON, or the AMI text block), stored encrypted
    content_key: bytes  # canonical form for recognising a retransmission (with its webhook-id, if any)
    at: datetime | None = None
    linkedid: str | None = None
    uniqueid: str | None = None
    channel: str | None = None
    kind: str = "other"
    state_up: bool = False
    caller_number: str | None = None
    exten: str | None = None
    cause: int | None = None
    bridge_type: str | None = None
    dial_status: str | None = None
    interface: str | None = None
    variable: str | None = None
    value: str | None = None
    origin: str | None = None
    start: datetime | None = None
    answer: datetime | None = None
    end: datetime | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return bool(self.channel and self.channel.startswith("Local/"))


# ---- helpers -----------------------------------------------------------------------------------


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _text(value: Any, limit: int = 256) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool | dict | list):
        return None
    s = str(value).strip()
    if not s or s in {"<unknown>", "(null)"}:
        return None
    return s[:limit]


def _check_id(value: str | None, index: int, name: str) -> str | None:
    if value is None:
        return None
    if not _ID_RE.match(value):
        raise MalformedEvent(f"{name} is not an Asterisk id ([systemname-]epoch.sequence)", index, name)
    return value


def _origin(value: str | None, index: int) -> str | None:
    if value is None or not value.strip():
        return None  # an empty HOTLINE_ORIGIN: the call was not overflowed
    if not ORIGIN_RE.match(value):
        raise MalformedEvent(
            f"{ORIGIN_VARIABLE} must look like <switchboard>:<linkedid>",
            index,
            ORIGIN_VARIABLE,
        )
    return value


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def parse_ari_time(value: Any, index: int) -> datetime:
    if not isinstance(value, str):
        raise MalformedEvent("timestamp is missing or not text", index, "timestamp")
    try:
        # ARI writes 2025-06-01T09:15:02.345+0700; fromisoformat reads the offset without a colon
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedEvent(
            "timestamp is not an ISO 8601 time such as 2025-06-01T09:15:02.345+0700", index, "timestamp"
        ) from None
    if parsed.tzinfo is None:
        raise MalformedEvent("timestamp has no UTC offset", index, "timestamp")
    return _sane(_utc(parsed, index, "timestamp"), index, "timestamp")


def parse_epoch(value: Any, index: int, name: str) -> datetime:
    try:
        seconds = float(str(value).strip())
    except ValueError:
        raise MalformedEvent(f"{name} is not epoch seconds", index, name) from None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise MalformedEvent(f"{name} is not a number", index, name)
    try:
        return _sane(datetime.fromtimestamp(seconds, UTC), index, name)
    except (OverflowError, OSError, ValueError):
        raise MalformedEvent(f"{name} is out of range", index, name) from None


_LOCAL_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")


def parse_local_time(value: Any, tz: ZoneInfo, index: int, name: str, *, required: bool) -> datetime | None:
    """A CDR/CEL time: PBX local time without zone, or epoch seconds; empty when not reached."""
    text = _text(value, 64)
    if text is None or text.startswith("0000-00-00"):
        if required:
            raise MalformedEvent(f"{name} is missing", index, name)
        return None
    if re.match(r"^\d+(\.\d+)?$", text):
        return parse_epoch(text, index, name)
    for fmt in _LOCAL_FORMATS:
        try:
            local = datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
        return _sane(_utc(local, index, name), index, name)
    raise MalformedEvent(f"{name} is not a time like 2025-06-01 09:15:02", index, name)


_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _utc(at: datetime, index: int, name: str) -> datetime:
    try:
        return at.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise MalformedEvent(
            f"{name} is outside the plausible range (check the PBX clock)", index, name
        ) from None


def _sane(at: datetime, index: int, name: str) -> datetime:
    # far past or far future times are a broken PBX clock, not a call
    if at < _EARLIEST or at > datetime.now(UTC) + timedelta(days=1):
        raise MalformedEvent(
            f"{name} {at.isoformat()} is outside the plausible range (check the PBX clock)", index, name
        )
    return at


def _lower_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in obj.items()}


# ---- bodies → lists of raw events -----------------------------------------------------------


def _utf8_text(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEvent(f"the body is not UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise MalformedEvent("the body contains a NUL character")
    return text


def decode_json_events(body: bytes) -> list[tuple[Any, bytes]]:
    """One JSON object or an array of them → [(object, its canonical bytes)]."""
    text = _utf8_text(body)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedEvent(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise MalformedEvent("the body is nested too deeply") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise MalformedEvent("the body is an empty array")
    if len(items) > MAX_EVENTS_PER_BODY:
        raise MalformedEvent(f"the body holds {len(items)} events; at most {MAX_EVENTS_PER_BODY} per request")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedEvent(f"expected a JSON object, got {type(item).__name__}", i)
        out.append((item, _storable(item, i)))
    return out


def _storable(item: dict[str, Any], index: int) -> bytes:
    """The canonical bytes of an event; MalformedEvent for strings no text column can hold.

    Asterisk's strings are C strings: a NUL character (``\\u0000`` in JSON, ``%00`` in a form) is
    never one of them, and PostgreSQL text cannot hold it. A lone UTF-16 surrogate (``\\ud800``) is
    valid JSON but not a character: it has no UTF-8 form.
    """
    pending: list[Any] = [item]
    while pending:  # no recursion: the nesting is as deep as the sender made it
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise MalformedEvent(
                    "a string holds a NUL character (\\u0000), which Asterisk never sends", index
                )
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    try:
        return _canonical(item)
    except UnicodeEncodeError:
        raise MalformedEvent(
            "a string holds a lone UTF-16 surrogate (an escape such as \\ud800 that is not a character)",
            index,
        ) from None
    except RecursionError:
        raise MalformedEvent("the body is nested too deeply") from None


def decode_ami_text(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """Raw AMI: ``Key: value`` lines, a blank line between events."""
    text = _utf8_text(body)
    blocks = [b for b in re.split(r"\r?\n\r?\n", text.strip()) if b.strip()]
    if not blocks:
        raise MalformedEvent("the body holds no AMI event")
    if len(blocks) > MAX_EVENTS_PER_BODY:
        raise MalformedEvent(
            f"the body holds {len(blocks)} events; at most {MAX_EVENTS_PER_BODY} per request"
        )
    out = []
    for i, block in enumerate(blocks):
        fields: dict[str, Any] = {}
        for n, line in enumerate(block.splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep or not key.strip():
                raise MalformedEvent(f"line {n} is not 'Key: value'", i)
            fields[key.strip()] = value.strip()
        out.append((fields, block.strip().encode("utf-8")))
    return out


def decode_form(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    text = _utf8_text(body)
    try:
        # strict: a %-escape that is not UTF-8 must not be replaced silently (the record would not
        # be stored as sent)
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, max_num_fields=200, errors="strict"
        )
    except UnicodeDecodeError:
        raise MalformedEvent("the form body has a %-escape that is not UTF-8") from None
    except ValueError:
        raise MalformedEvent("the form body cannot be read as key=value&key=value") from None
    record = dict(pairs)
    return [(record, _storable(record, 0))]


# ---- ARI ------------------------------------------------------------------------------------


def _ari_channel(ev: Event, channel: Any, index: int, name: str = "channel") -> None:
    if not isinstance(channel, dict):
        raise MalformedEvent(f"{name} must be an object", index, name)
    cid = _text(channel.get("id"), 160)
    if cid is None:
        raise MalformedEvent(f"{name}.id is missing", index, f"{name}.id")
    ev.uniqueid = _check_id(cid, index, f"{name}.id")
    ev.channel = _text(channel.get("name"), 200)
    ev.state_up = channel.get("state") == "Up"
    caller = channel.get("caller")
    if isinstance(caller, dict):
        ev.caller_number = _text(caller.get("number"), 64)
    dialplan = channel.get("dialplan")
    if isinstance(dialplan, dict):
        ev.exten = _text(dialplan.get("exten"), 32)
    variables = channel.get("channelvars")
    if variables is not None and not isinstance(variables, dict):
        raise MalformedEvent(f"{name}.channelvars must be an object", index, f"{name}.channelvars")
    variables = variables or {}
    linkedid = _text(variables.get("CHANNEL(linkedid)"), 160)
    if linkedid is None and not (ev.channel or "").startswith("Local/"):
        raise MalformedEvent(
            f"{name}.channelvars has no CHANNEL(linkedid): add `channelvars = CHANNEL(linkedid),{ORIGIN_VARIABLE}` "
            "to [general] in ari.conf",
            index,
            f"{name}.channelvars",
        )
    ev.linkedid = _check_id(linkedid, index, "CHANNEL(linkedid)")
    ev.origin = _origin(_text(variables.get(ORIGIN_VARIABLE), 200), index) or ev.origin


def parse_ari(obj: dict[str, Any], body: bytes, index: int) -> Event:
    etype = obj.get("type")
    if not isinstance(etype, str) or not etype:
        raise MalformedEvent("type is missing: an ARI event has a 'type' such as StasisStart", index, "type")
    ev = Event(source="ari", event_type=etype[:64], body=body, content_key=body)
    ev.at = parse_ari_time(obj.get("timestamp"), index)
    if etype == "Dial":
        # the dialled channel (a counsellor's phone) is the subject; the caller is optional
        _ari_channel(ev, obj.get("peer"), index, "peer")
        ev.kind = "dial"
        status = obj.get("dialstatus")
        ev.dial_status = _text(status, 32)
        caller = obj.get("caller")
        if isinstance(caller, dict) and ev.linkedid is None:
            _ari_channel(ev, caller, index, "caller")
        return ev
    if etype == "RecordingFinished":
        rec = obj.get("recording")
        if not isinstance(rec, dict):
            raise MalformedEvent("recording must be an object", index, "recording")
        ev.kind = "recording"
        ev.value = _text(rec.get("name"), 256)
        target = _text(rec.get("target_uri"), 200) or ""
        if target.startswith("channel:"):
            ev.uniqueid = _check_id(target.split(":", 1)[1], index, "recording.target_uri")
        return ev
    channel = obj.get("channel")
    if channel is not None:
        _ari_channel(ev, channel, index)
    elif etype in {
        "StasisStart",
        "StasisEnd",
        "ChannelCreated",
        "ChannelDestroyed",
        "ChannelStateChange",
        "ChannelHangupRequest",
        "ChannelEnteredBridge",
        "ChannelLeftBridge",
        "ChannelDialplan",
        "ChannelCallerId",
        "ChannelConnectedLine",
        "ChannelDtmfReceived",
        "ChannelHold",
        "ChannelUnhold",
    }:
        raise MalformedEvent(f"{etype} without a channel", index, "channel")
    if etype in {
        "StasisStart",
        "ChannelCreated",
        "ChannelStateChange",
        "ChannelDialplan",
        "ChannelCallerId",
        "ChannelConnectedLine",
    }:
        ev.kind = "channel"
    elif etype in {"ChannelHangupRequest", "ChannelDestroyed"}:
        ev.kind = "hangup"
        ev.cause = _int(obj.get("cause"))
    elif etype == "ChannelEnteredBridge":
        ev.kind = "bridge_enter"
        bridge = obj.get("bridge")
        if not isinstance(bridge, dict):
            raise MalformedEvent("bridge must be an object", index, "bridge")
        ev.bridge_type = _text(bridge.get("bridge_type"), 32)
    elif etype == "ChannelVarset" and channel is not None:
        ev.kind = "var"
        ev.variable = _text(obj.get("variable"), 128)
        ev.value = _text(obj.get("value"), 256)
        if ev.variable == ORIGIN_VARIABLE:
            ev.origin = _origin(ev.value, index)
    return ev


# ---- AMI ------------------------------------------------------------------------------------

_AMI_QUEUE = {
    "queuecallerjoin": "queue_join",
    "queuecallerleave": "queue_leave",
    "queuecallerabandon": "queue_abandon",
    "agentcalled": "agent_called",
    "agentconnect": "agent_connect",
    "agentcomplete": "agent_complete",
    "agentringnoanswer": "agent_noanswer",
}


def parse_ami(obj: dict[str, Any], body: bytes, index: int, received_at: datetime) -> Event:
    f = _lower_keys(obj)
    etype = _text(f.get("event"), 64)
    if etype is None:
        raise MalformedEvent("Event is missing: an AMI event starts with 'Event: <name>'", index, "Event")
    ev = Event(source="ami", event_type=etype, body=body, content_key=_canonical(f))
    stamp = f.get("timestamp")
    # without timestampevents=yes the time of arrival stands in (docs/asterisk.md asks for it)
    ev.at = parse_epoch(stamp, index, "Timestamp") if stamp not in (None, "") else received_at
    name = etype.lower()
    # DialBegin/DialEnd and the agent events describe a second channel (Dest…): the counsellor's
    dest = name in {
        "dialbegin",
        "dialend",
        "agentcalled",
        "agentconnect",
        "agentcomplete",
        "agentringnoanswer",
    }
    prefix = "dest" if dest and f.get("destchannel") else ""
    ev.channel = _text(f.get(prefix + "channel"), 200)
    ev.uniqueid = _check_id(_text(f.get(prefix + "uniqueid"), 160), index, prefix + "Uniqueid")
    ev.linkedid = _check_id(_text(f.get(prefix + "linkedid") or f.get("linkedid"), 160), index, "Linkedid")
    if ev.uniqueid and ev.linkedid is None and not ev.is_local:
        raise MalformedEvent(
            "Linkedid is missing (Asterisk 12 or later sends it with every channel event)", index, "Linkedid"
        )
    if prefix:
        # the caller's own number travels on the first channel
        ev.caller_number = _text(f.get("calleridnum"), 64)
        ev.exten = _text(f.get("exten"), 32)
        ev.extras["caller_channel"] = _text(f.get("channel"), 200)
        ev.extras["caller_uniqueid"] = _text(f.get("uniqueid"), 160)
    else:
        ev.caller_number = _text(f.get("calleridnum"), 64)
        ev.exten = _text(f.get("exten"), 32)
    ev.state_up = str(f.get(prefix + "channelstate", "")).strip() == "6"
    if name in {"newchannel", "newstate", "newexten", "newcallerid", "newconnectedline"}:
        ev.kind = "channel"
    elif name in {"hangup", "softhanguprequest", "hanguprequest"}:
        ev.kind = "hangup"
        ev.cause = _int(f.get("cause"))
    elif name == "dialend":
        ev.kind = "dial"
        ev.dial_status = _text(f.get("dialstatus"), 32)
    elif name == "dialbegin":
        ev.kind = "dial"
    elif name == "bridgeenter":
        ev.kind = "bridge_enter"
        ev.bridge_type = _text(f.get("bridgetype"), 32)
    elif name == "varset":
        ev.kind = "var"
        ev.variable = _text(f.get("variable"), 128)
        ev.value = _text(f.get("value"), 256)
        if ev.variable == ORIGIN_VARIABLE:
            ev.origin = _origin(ev.value, index)
    elif name in _AMI_QUEUE:
        ev.kind = _AMI_QUEUE[name]
        ev.interface = _text(f.get("interface"), 200)
        ev.extras["queue"] = _text(f.get("queue"), 128)
        hold = f.get("holdtime")
        if hold not in (None, ""):
            ev.extras["hold_time"] = _int(hold)
    return ev


# ---- CDR ------------------------------------------------------------------------------------


def parse_cdr(obj: dict[str, Any], body: bytes, index: int, tz: ZoneInfo) -> Event:
    f = _lower_keys(obj)
    ev = Event(source="cdr", event_type="CDR", body=body, content_key=_canonical(f), kind="cdr")
    ev.linkedid = _check_id(_text(f.get("linkedid"), 160), index, "linkedid")
    ev.uniqueid = _check_id(_text(f.get("uniqueid"), 160), index, "uniqueid")
    if ev.linkedid is None:
        raise MalformedEvent(
            "linkedid is missing: add ${CDR(linkedid)} (or the linkedid column) to the CDR", index, "linkedid"
        )
    ev.start = parse_local_time(f.get("start"), tz, index, "start", required=True)
    ev.answer = parse_local_time(f.get("answer"), tz, index, "answer", required=False)
    ev.end = parse_local_time(f.get("end"), tz, index, "end", required=False)
    if ev.end and ev.start and ev.end < ev.start:
        raise MalformedEvent("end is before start", index, "end")
    ev.at = ev.end or ev.answer or ev.start
    ev.channel = _text(f.get("channel"), 200)
    ev.caller_number = _text(f.get("src"), 64)
    ev.exten = _text(f.get("dst"), 32)
    ev.dial_status = _text(f.get("disposition"), 32)
    ev.extras["dstchannel"] = _text(f.get("dstchannel"), 200)
    # the dialplan's ${ANSWEREDTIME}: how long the dialled counsellor was connected (seconds)
    answered = _text(f.get("answeredtime"), 16)
    if answered:
        try:
            seconds = float(answered)
        except ValueError:
            raise MalformedEvent("answeredtime must be a number of seconds", index, "answeredtime") from None
        if not 0 <= seconds < 7 * 86400:
            raise MalformedEvent("answeredtime must be between 0 and a week", index, "answeredtime")
        ev.extras["answeredtime"] = seconds
    userfield = _text(f.get("userfield"), 256) or ""
    origin = _text(f.get("hotline_origin"), 200)
    if origin is None and userfield.startswith(ORIGIN_VARIABLE + "="):
        origin = userfield.split("=", 1)[1]
    ev.origin = _origin(origin, index)
    return ev


# ---- CEL ------------------------------------------------------------------------------------

_CEL_KINDS = {
    "CHAN_START": "channel",
    "ANSWER": "channel",
    "HANGUP": "hangup",
    "CHAN_END": "other",
    "BRIDGE_ENTER": "bridge_enter",
    "LINKEDID_END": "call_end",
}


def parse_cel(obj: dict[str, Any], body: bytes, index: int, tz: ZoneInfo) -> Event:
    f = _lower_keys(obj)
    name = _text(f.get("eventname") or f.get("event"), 64)
    if name is None:
        raise MalformedEvent("EventName is missing", index, "EventName")
    ev = Event(source="cel", event_type=name, body=body, content_key=_canonical(f))
    ev.at = parse_local_time(f.get("eventtime"), tz, index, "EventTime", required=True)
    ev.uniqueid = _check_id(_text(f.get("uniqueid"), 160), index, "UniqueID")
    ev.linkedid = _check_id(_text(f.get("linkedid"), 160), index, "LinkedID")
    ev.channel = _text(f.get("channel") or f.get("channame"), 200)
    if ev.linkedid is None and not ev.is_local:
        raise MalformedEvent("LinkedID is missing", index, "LinkedID")
    ev.caller_number = _text(f.get("calleridnum"), 64)
    ev.exten = _text(f.get("exten"), 32)
    ev.kind = _CEL_KINDS.get(name.upper(), "other")
    ev.state_up = name.upper() == "ANSWER"
    extra = f.get("extra")
    if isinstance(extra, str) and extra.strip().startswith("{"):
        try:
            extra = json.loads(extra)
        except (json.JSONDecodeError, RecursionError):
            extra = None
    if isinstance(extra, dict):
        if ev.kind == "hangup":
            ev.cause = _int(extra.get("hangupcause"))
        if name.upper() == "USER_DEFINED" and extra.get("variable") == ORIGIN_VARIABLE:
            ev.origin = _origin(_text(extra.get("value"), 200), index)
    return ev


# ---- entry point ----------------------------------------------------------------------------


def parse_body(
    source: str, body: bytes, content_type: str, tz: ZoneInfo, received_at: datetime
) -> list[Event]:
    """Every event of a webhook body, normalised; MalformedEvent for the first problem found."""
    if source not in SOURCES:
        raise MalformedEvent(f"unknown event source {source!r}")
    if not body.strip():
        raise MalformedEvent("the body is empty")
    ctype = content_type.split(";")[0].strip().lower()
    stripped = body.lstrip()
    is_json = ctype == "application/json" or stripped[:1] in (b"{", b"[")
    raw: list[tuple[Any, bytes]]
    if source == "ami" and not is_json:
        raw = list(decode_ami_text(body))
    elif ctype == "application/x-www-form-urlencoded" and source in {"cdr", "cel"}:
        raw = list(decode_form(body))
    elif is_json:
        raw = decode_json_events(body)
    else:
        raise MalformedEvent(
            f"cannot read a {ctype or 'typeless'} body here: send JSON"
            + (" or raw AMI text" if source == "ami" else " or a form-encoded record")
        )
    events = []
    for i, (obj, canonical) in enumerate(raw):
        if source == "ari":
            events.append(parse_ari(obj, canonical, i))
        elif source == "ami":
            events.append(parse_ami(obj, canonical, i, received_at))
        elif source == "cdr":
            events.append(parse_cdr(obj, canonical, i, tz))
        else:
            events.append(parse_cel(obj, canonical, i, tz))
    return events
