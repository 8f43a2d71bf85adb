"""The forwarder: spooled events to ``POST {service}/webhooks/asterisk/{switchboard}/{ari|ami}``.

One forwarder, one request at a time, strictly in spool order for each source (an ARI batch never
skips an ARI event, an AMI batch never skips an AMI event), so the events of a call reach the
service in the order the PBX sent them. ARI and AMI are two streams from the PBX with no order
between them; a batch of one source may leave before an older event of the other.

Each request is signed with Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, the key being the
base64-decoded part of the switchboard's ``whsec_`` secret), as src/hotline_api/telephony/credentials.py
checks them. The id is the spool's, stable across retries and restarts; the timestamp and signature
are made afresh for every attempt (the service accepts ±5 minutes).

What the answer means:

- 2xx: stored (or recognised as already stored): the events are marked sent.
- 400, 422 (the service says the body is malformed and keeps it in its quarantine) and 413 (too
  large): a batch is split, its events sent one by one; a single event is set aside in the spool's
  ``rejected`` table and logged, and the queue goes on.
- 408, 429, 5xx, and network errors: retried after a delay — the service's ``Retry-After`` when it
  sends one (up to ``forward_retry_after_max``), else capped exponential backoff with full jitter.
- 401, 403, 404 and any other 4xx: the relay's configuration is wrong (secret, switchboard code,
  URL) or the service refuses this PBX's address; nothing is set aside — retried with backoff and
  logged as an error until an admin fixes it.

Logs name the switchboard, the source, the number of events, the status and the service's error
message (which never repeats a value it was sent): never an event's body.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import hashlib
import hmac
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from hotline_api.relay import events
from hotline_api.relay.config import RelaySettings
from hotline_api.relay.sources import Backoff
from hotline_api.relay.spool import AsyncSpool, Batch

logger = logging.getLogger(__name__)
MALFORMED = frozenset({400, 413, 422})
TRANSIENT = frozenset({408, 429})


def sign(key: bytes, webhook_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers for ``body``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_summary(response: httpx.Response) -> str:
    """The service's error code and message (they never repeat a value sent), bounded."""
    try:
        error = response.json().get("error", {})
        code, message = str(error.get("code", "")), str(error.get("message", ""))
        request_id = str(error.get("request_id", "") or "")
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"
    summary = f"{code}: {message}"[:500]
    return f"{summary} (request {request_id})" if request_id else summary


@dataclass
class ForwardState:
    """What the status endpoint shows of the forwarder."""

    sent_events: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    rejected_events: int = 0
    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    retry_at: float | None = None
    # whether the service took the last request it answered (2xx, or a body it judged malformed):
    # False after a network error, 5xx, 408, 429 or a refusal of our credentials; None: no attempt yet
    service_accepting: bool | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "service_accepting": self.service_accepting,
            "sent_events": self.sent_events,
            "requests": dict(self.requests),
            "rejected_events": self.rejected_events,
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "retry_at": self.retry_at,
        }


class Forwarder:
    def __init__(self, settings: RelaySettings, spool: AsyncSpool, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.spool = spool
        self.client = client
        self.key = settings.hmac_key()
        self.state = ForwardState()
        self.backoff = Backoff(settings.forward_backoff_initial, settings.forward_backoff_max)
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """A new event is in the spool."""
        self._wake.set()

    def url(self, source: str) -> str:
        return f"{self.settings.service_url}/webhooks/asterisk/{self.settings.switchboard}/{source}"

    async def run(self) -> None:
        s = self.settings
        while True:
            self._wake.clear()
            batch = await self.spool.next_batch(s.forward_batch_max_events, s.forward_batch_max_bytes)
            if batch is None:
                # woken by the next event; the timeout only guards against a missed wake-up
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        await self._wake.wait()
                continue
            delay = await self.send(batch)
            if delay is not None:
                self.state.retry_at = time.time() + delay
                await asyncio.sleep(delay)
                self.state.retry_at = None

    async def send(self, batch: Batch) -> float | None:
        """One attempt at one batch; the delay before the next attempt, or None to go on at once."""
        body, content_type = events.encode(batch.source, batch.bodies, batch.batchable)
        headers = {"Content-Type": content_type, **sign(self.key, batch.webhook_id, body)}
        n = len(batch)
        try:
            response = await self.client.post(self.url(batch.source), content=body, headers=headers)
        except httpx.TransportError as exc:
            return self._failed("network", f"the service cannot be reached: {type(exc).__name__}", None)
        status = response.status_code
        self.state.requests[str(status)] += 1
        self.state.service_accepting = 200 <= status < 300 or status in MALFORMED
        if 200 <= status < 300:
            await self.spool.mark_sent(batch.seqs)
            self.state.sent_events += n
            self.state.last_success_at = time.time()
            self.backoff.reset()
            logger.debug("sent %d %s event(s) to the service", n, batch.source)
            return None
        summary = _error_summary(response)
        if status in MALFORMED:
            if n > 1:
                logger.warning(
                    "the service refused a batch of %d %s events (%s): %s; sending them one by one",
                    n,
                    batch.source,
                    status,
                    summary,
                )
                await self.spool.split(batch.seqs)
                return None
            await self.spool.reject(batch.seqs[0], status, summary)
            self.state.rejected_events += 1
            self.state.last_error, self.state.last_error_at = f"rejected_{status}", time.time()
            logger.error(
                "the service refused one %s event as %s (%s): %s; it is set aside in the spool's "
                "rejected table (spool seq %d)%s",
                batch.source,
                "too large" if status == 413 else "malformed",
                status,
                summary,
                batch.seqs[0],
                "" if status == 413 else " and the service keeps it in its quarantine",
            )
            return None
        wait = retry_after(response.headers.get("retry-after"))
        if status in TRANSIENT or status >= 500:
            return self._failed(f"http_{status}", f"the service answered {status}: {summary}", wait)
        # 401, 403, 404 …: our configuration, not the events
        return self._failed(
            f"http_{status}",
            f"the service refused the request ({status}): {summary}; check [service] url, the "
            "switchboard code and the secret",
            wait,
            level=logging.ERROR,
        )

    def _failed(self, kind: str, message: str, wait: float | None, level: int = logging.WARNING) -> float:
        self.state.last_error, self.state.last_error_at = kind, time.time()
        self.state.service_accepting = False
        if wait is not None:
            delay = min(wait, self.settings.forward_retry_after_max)
            self.backoff.attempt += 1
        else:
            delay = self.backoff.next()
        logger.log(level, "%s; retrying in %.1f s", message, delay)
        return delay
