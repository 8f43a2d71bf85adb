"""The ARI reader: the PBX's event WebSocket, every message spooled before the next is read.

From the ARI documentation
(https://docs.asterisk.org/Configuration/Interfaces/Asterisk-REST-Interface-ARI/,
https://docs.asterisk.org/Configuration/Interfaces/Asterisk-REST-Interface-ARI/Getting-Started-with-ARI/):
a client opens ``ws(s)://<pbx>:8088/ari/events?app=<app>&subscribeAll=true`` with HTTP Basic
credentials of an ari.conf user (read_only is enough: the relay sends no command); Asterisk then
sends every event of the application, and with ``subscribeAll`` of every channel, bridge and
endpoint, as one JSON object per text message. A wrong user or password is answered 401 on the
handshake. ARI keeps no events for a client that is away: what happens while the relay is not
connected is not sent later — which is why the relay runs beside Asterisk, on loopback.

WebSocket pings (every 20 s) notice a connection that died silently; Asterisk answers them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from hotline_api.relay.config import RelaySettings
from hotline_api.relay.sources import Backoff, Sink, SourceState

logger = logging.getLogger(__name__)
# one ARI event is a few kilobytes; a channel with many variables, more
MAX_MESSAGE = 4 * 1024 * 1024


def events_url(settings: RelaySettings) -> str:
    query = urlencode({"app": settings.ari_app, "subscribeAll": "true"})
    return f"{settings.ari_url}?{query}"


class AriReader:
    def __init__(self, settings: RelaySettings, sink: Sink, state: SourceState) -> None:
        self.settings = settings
        self.sink = sink
        self.state = state

    def _headers(self) -> dict[str, str]:
        s = self.settings
        assert s.ari_password is not None
        token = base64.b64encode(f"{s.ari_user}:{s.ari_password.get_secret_value()}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def run(self) -> None:
        """Connect, read, reconnect, until cancelled."""
        s = self.settings
        backoff = Backoff(s.pbx_backoff_initial, s.pbx_backoff_max)
        url = events_url(s)
        while True:
            error: str | None = None
            try:
                async with connect(
                    url,
                    additional_headers=self._headers(),
                    open_timeout=s.pbx_connect_timeout,
                    ping_interval=20,
                    ping_timeout=20,
                    close_timeout=2,
                    max_size=MAX_MESSAGE,
                    user_agent_header="hotline-api-relay",
                ) as ws:
                    self.state.up()
                    backoff.reset()
                    logger.info("ari: connected to %s (app %s)", s.ari_url, s.ari_app)
                    async for message in ws:
                        body = message.encode("utf-8") if isinstance(message, str) else message
                        seq = await self.sink("ari", body)
                        self.state.last_event_at = time.time()
                        if seq is None:
                            self.state.copies += 1
                        else:
                            self.state.received += 1
                error = "closed"
                logger.warning("ari: the PBX closed the connection")
            except InvalidStatus as exc:
                code = exc.response.status_code
                error = f"http_{code}"
                if code == 401:
                    logger.error("ari: the PBX refused the credentials (401): check [ari] user and password")
                else:
                    logger.warning("ari: the PBX answered %s to the WebSocket handshake", code)
            except ConnectionClosed as exc:
                error = "dropped"
                logger.warning("ari: the connection dropped (code %s)", exc.rcvd.code if exc.rcvd else "none")
            except InvalidHandshake as exc:
                error = "protocol"
                logger.warning("ari: WebSocket handshake failed: %s", type(exc).__name__)
            except (OSError, TimeoutError) as exc:
                error = "network"
                logger.warning("ari: cannot reach %s: %s", s.ari_url, type(exc).__name__)
            finally:
                self.state.down(error)
            delay = backoff.next()
            logger.info("ari: reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)
