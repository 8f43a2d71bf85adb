"""The intake: a webhook body is stored and applied in one transaction, or quarantined.

Nothing is lost: the router commits before it answers 2xx; a body that cannot be applied is kept,
encrypted, in ``webhook_quarantine`` and answered 400/422; a database that cannot be reached makes
the request fail with 503 so that the sender retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.calls.service import apply_events
from hotline_api.privacy.crypto import Keyring
from hotline_api.telephony.models import QuarantinedBody
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
    """A retransmission is recognised by its webhook-id (per event of a batch), else by its content.

    Keyed, so that the key of an event cannot be tested against a guessed phone number.
    """
    if webhook_id:
        return [
            keyring.keyed_hash_bytes(f"{source}\x00{webhook_id}\x00{i}".encode(), "dedup")
            for i in range(len(events))
        ]
    return [keyring.keyed_hash_bytes(source.encode() + b"\x00" + e.content_key, "dedup") for e in events]


async def ingest(
    session: AsyncSession,
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
    """Parse, apply and store. Raises MalformedEvent (nothing written) for a body to quarantine."""
    events = parse_body(source, body, content_type, ZoneInfo(timezone), received_at)
    for i, e in enumerate(events):
        if e.origin and e.origin.split(":", 1)[0] not in switchboards:
            raise MalformedEvent(
                f"HOTLINE_ORIGIN names an unknown switchboard {e.origin.split(':', 1)[0]!r}",
                i,
                "HOTLINE_ORIGIN",
            )
    applied = await apply_events(session, switchboard, events, keyring)
    keys = dedup_keys(keyring, source, events, webhook_id)
    params = {}
    values = []
    for i, e in enumerate(events):
        params.update(
            {
                f"k{i}": keys[i],
                f"t{i}": e.event_type,
                f"at{i}": e.at,
                f"l{i}": e.linkedid,
                f"u{i}": e.uniqueid,
                f"c{i}": e.channel,
                f"call{i}": applied.call_ids[i],
                f"b{i}": keyring.encrypt_bytes(e.body, BODY_CONTEXT),
            }
        )
        values.append(f"(:sb, :src, :k{i}, :wid, :rat, :t{i}, :at{i}, :l{i}, :u{i}, :c{i}, :call{i}, :b{i})")
    params.update({"sb": switchboard, "src": source, "wid": webhook_id, "rat": received_at})
    result = await session.execute(
        text(
            # placeholders only: the values travel as bind parameters
            "INSERT INTO webhook_events (switchboard_code, source, dedup_key, webhook_id, received_at, event_type, "  # noqa: S608
            "event_time, linkedid, uniqueid, channel, call_id, body_enc) VALUES "
            + ", ".join(values)
            + " ON CONFLICT (switchboard_code, dedup_key) DO NOTHING RETURNING id"
        ),
        params,
    )
    stored = len(result.all())
    return IngestResult(received=len(events), stored=stored)


async def quarantine(
    session: AsyncSession,
    keyring: Keyring,
    switchboard: str,
    source: str,
    body: bytes,
    content_type: str | None,
    webhook_id: str | None,
    client_address: str | None,
    status_code: int,
    error: MalformedEvent,
) -> QuarantinedBody:
    row = QuarantinedBody(
        switchboard_code=switchboard,
        source=source,
        status_code=status_code,
        reason=error.reason[:1000],
        event_index=error.index,
        content_type=(content_type or "")[:200] or None,
        webhook_id=(webhook_id or "")[:200] or None,
        client_address=client_address,
        body_enc=keyring.encrypt_bytes(body, QUARANTINE_CONTEXT),
        status="held",
    )
    session.add(row)
    await session.flush()
    return row
