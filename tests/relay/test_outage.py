"""A service outage of a minute: the service's processes are stopped for 60 s while the fake PBX keeps
emitting calls; the relay spools them, reports the backlog, and when the service is started again
everything arrives exactly once, in order, and the backlog drains. (This test takes about 70 s.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hotline_api.db import migrate
from hotline_api.db.embedded import EmbeddedPostgres
from hotline_api.relay.runner import Relay
from hotline_api.telephony.scenarios import Scenario
from tests.conftest import free_port
from tests.fakepbx import FakeAmi, FakeAri
from tests.relay.conftest import (
    assert_exactly_once_in_order,
    calls,
    decrypt,
    events_of,
    relay_settings,
    total,
    until,
)
from tests.relay.service import ServiceProcesses
from tests.routing.servers import issue_secret

DB = "hotline_relay_outage"
OUTAGE_SECONDS = 60.0
CALL_EVERY = 5.0


@pytest.fixture
async def service(pg_server: EmbeddedPostgres) -> AsyncIterator[tuple[ServiceProcesses, str, str]]:
    await asyncio.to_thread(pg_server.drop_database, DB)
    await asyncio.to_thread(pg_server.ensure_database, DB)
    url = pg_server.url(DB)
    await asyncio.to_thread(migrate.upgrade, url)
    conninfo = pg_server.conninfo(DB)
    secret = await asyncio.to_thread(issue_secret, conninfo)
    processes = ServiceProcesses(url, free_port())
    await processes.start()
    try:
        yield processes, secret, conninfo
    finally:
        await processes.stop()
        await asyncio.to_thread(pg_server.drop_database, DB)


async def _stored(conninfo: str, scenarios: list[Scenario]) -> list[tuple[str, str, dict[str, Any]]]:
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cur = await conn.execute(
            "SELECT linkedid, source, body_enc FROM webhook_events WHERE switchboard_code = 'hanoi' "
            "AND linkedid = ANY(%s) ORDER BY id",
            ([s.linkedid for s in scenarios],),
        )
        return [(lk, src, decrypt(body)) for lk, src, body in await cur.fetchall()]


async def test_a_minute_long_service_outage_loses_nothing(
    tmp_path: Path, service: tuple[ServiceProcesses, str, str], fake_ari: FakeAri, fake_ami: FakeAmi
) -> None:
    processes, secret, conninfo = service
    groups = [calls(2)] + [calls(1) for _ in range(int(OUTAGE_SECONDS / CALL_EVERY))]
    everything = [s for g in groups for s in g]
    settings = relay_settings(
        tmp_path,
        processes.url,
        secret,
        fake_ari,
        fake_ami,
        forward={"backoff_initial": 0.2, "backoff_max": 2.0},
    )

    async def emit(group: list[Scenario]) -> None:
        await fake_ari.emit(*events_of(group, "ari"))
        await fake_ami.emit(*events_of(group, "ami"))

    async with Relay(settings) as relay:
        assert relay.forwarder is not None
        forwarder = relay.forwarder
        await emit(groups[0])

        async def first_stored() -> bool:
            return len(await _stored(conninfo, groups[0])) == total(groups[0])

        await until(first_stored, 20, "the first calls stored")

        # the service goes away for a minute; the PBX keeps taking calls
        await processes.stop()
        down_at = time.monotonic()
        for i, group in enumerate(groups[1:]):
            await asyncio.sleep(max(0.0, down_at + i * CALL_EVERY - time.monotonic()))
            await emit(group)
        waiting = total(everything) - total(groups[0])
        received = total(everything)
        await until(
            lambda: relay.sources["ari"].received + relay.sources["ami"].received == received,
            10,
            "every event of the outage spooled",
        )
        await asyncio.sleep(max(0.0, down_at + OUTAGE_SECONDS - time.monotonic()))
        status = await relay.status()
        assert status["backlog"] == waiting
        assert status["oldest_age_seconds"] >= OUTAGE_SECONDS - CALL_EVERY - 1
        assert status["forward"]["last_error"] == "network"
        assert status["forward"]["service_accepting"] is False
        assert status["healthy"] is True, "a backlog younger than 5 minutes is not yet an alarm"
        assert forwarder.state.sent_events == total(groups[0])

        # the service is back: the backlog drains by itself
        await processes.start()
        back_at = time.time()

        async def drained() -> bool:
            return bool((await relay.status())["backlog"] == 0)

        await until(drained, 30, "the backlog drained")
        status = await relay.status()
    assert status["forward"]["last_success_at"] >= back_at
    assert forwarder.state.sent_events == total(everything)
    rows = await _stored(conninfo, everything)
    assert len(rows) == total(everything)
    assert_exactly_once_in_order(rows, everything)
