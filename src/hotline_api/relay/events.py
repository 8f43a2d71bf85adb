"""Events as the relay keeps and sends them.

The spool keeps each event exactly as the PBX sent it: an ARI WebSocket message (one JSON object) or
an AMI event (its ``Key: Value`` lines, without the blank line that ends it). What the service is
sent (src/hotline_api/telephony/parsing.py):

- ARI: the JSON object alone, or a JSON array of the objects of a batch — the messages' own bytes,
  joined, so nothing is re-encoded;
- AMI: a JSON object keyed by AMI's own header names, or an array of them. A header that appears
  more than once in one event (``ChanVariable`` with several channel variables in manager.conf)
  becomes a list of its values, so nothing is dropped.

An event that is not what its source should send (not a JSON object; an AMI line without a colon)
is never put in a batch: it is sent alone, as received, and the service keeps it in its
quarantine and answers 400, after which the relay sets it aside (``rejected``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

SOURCES = ("ari", "ami")


@dataclass(frozen=True)
class Prepared:
    """What the spool records beside an event's body."""

    webhook_id: str
    batchable: bool
    size: int  # bytes the event adds to a batch body


def event_webhook_id(switchboard: str, source: str, body: bytes) -> str:
    """Stable for the same event: a copy of it is recognised by the service as a duplicate."""
    return f"relay_{switchboard}_{source}_{hashlib.sha256(body).hexdigest()}"


def batch_webhook_id(switchboard: str, source: str, spool_id: str, first: int, last: int) -> str:
    """Stable for the same batch: a retry of it is recognised by the service as a duplicate."""
    return f"relay_{switchboard}_{source}_{spool_id}_{first}_{last}"


def ami_fields(body: bytes) -> dict[str, Any] | None:
    """An AMI event's headers (a repeated header: the list of its values); None if unreadable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key:
            return None
        value = value.strip()
        if key in fields:
            previous = fields[key]
            fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[key] = value
    return fields or None


def _ari_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False


def _ami_json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def prepare(switchboard: str, source: str, body: bytes) -> Prepared:
    if source == "ari":
        ok = _ari_object(body)
        size = len(body)
    elif source == "ami":
        fields = ami_fields(body)
        ok = fields is not None
        size = len(_ami_json(fields)) if fields is not None else len(body)
    else:
        raise ValueError(f"unknown source {source!r}")
    return Prepared(event_webhook_id(switchboard, source, body), ok, size + 1)


def encode(source: str, bodies: list[bytes], batchable: bool) -> tuple[bytes, str]:
    """The request body and its content type for these events (one, or a batch)."""
    if not batchable:
        assert len(bodies) == 1
        return bodies[0], "application/json" if source == "ari" else "text/plain; charset=utf-8"
    if source == "ari":
        content = bodies[0] if len(bodies) == 1 else b"[" + b",".join(bodies) + b"]"
        return content, "application/json"
    objects = []
    for body in bodies:
        fields = ami_fields(body)
        assert fields is not None  # batchable events were checked when spooled
        objects.append(fields)
    if len(objects) == 1:
        return _ami_json(objects[0]), "application/json"
    return b"[" + b",".join(_ami_json(o) for o in objects) + b"]", "application/json"
