"""``hotline-api relay`` killed mid-stream (SIGKILL: no clean-up at all) and started again on the same
spool: every event is stored exactly once, in order — including the batch the service had stored
when the relay died before it could read the answer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import switchboard_secret
from tests.fakepbx import FakeAmi, FakeAri
from tests.relay.conftest import (
    CALLER_NAME,
    assert_exactly_once_in_order,
    calls,
    events_of,
    relay_config,
    stored,
    stored_count,
    total,
    until,
    write_config,
)
from tests.relay.gate import Gate


async def _start(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_RELAY_")}
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hotline_api",
            "relay",
            "--config",
            str(config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )


async def _status(port: int) -> dict[str, Any] | None:
    try:
        async with httpx.AsyncClient(timeout=2) as c:
            r = await c.get(f"http://127.0.0.1:{port}/status")
    except httpx.TransportError:
        return None
    data = r.json()
    assert isinstance(data, dict)
    return data


async def test_a_relay_killed_mid_stream_and_restarted_loses_and_doubles_nothing(
    tmp_path: Path, session: AsyncSession, db: Any, gate: Gate, fake_ari: FakeAri, fake_ami: FakeAmi
) -> None:
    secret = await switchboard_secret(session)
    scenarios = calls(6)
    ari, ami = events_of(scenarios, "ari"), events_of(scenarios, "ami")
    config = relay_config(tmp_path, gate.url, secret, fake_ari, fake_ami)
    config["log_level"] = "info"
    path = write_config(tmp_path / "relay.toml", config)
    port = int(config["status"]["port"])
    log = tmp_path / "relay.log"

    async def received() -> tuple[int, int]:
        status = await _status(port)
        if status is None:
            return (-1, -1)
        return (status["sources"]["ari"]["received"], status["sources"]["ami"]["received"])

    # 1. the service is away: the first half waits in the spool
    gate.mode = "unavailable"
    relay = await _start(path, log)
    try:
        await fake_ari.emit(*ari[: len(ari) // 2])
        await fake_ami.emit(*ami[: len(ami) // 2])

        async def first_half_spooled() -> bool:
            return await received() == (len(ari) // 2, len(ami) // 2)

        await until(first_half_spooled, 20, "the first half in the spool")
        # 2. the service comes back, stores the next batch — and the relay dies before the answer
        gate.mode = "hold"
        async with asyncio.timeout(20):
            await gate.held.wait()
        relay.kill()
        assert await relay.wait() == -signal.SIGKILL
    finally:
        if relay.returncode is None:
            relay.kill()
            await relay.wait()
    held = next(s for s in gate.seen if s.status is not None and s.status < 0)
    assert held.status == -200, "the held batch was stored by the service"
    assert len(held.events) > 1, "a batch (the backlog) was in flight"

    # 3. the PBX goes on while the relay is dead; the fake resends its last 3 messages on reconnect
    await fake_ari.emit(*ari[len(ari) // 2 :])
    await fake_ami.emit(*ami[len(ami) // 2 :])
    gate.mode = "pass"
    relay = await _start(path, log)
    try:

        async def drained() -> bool:
            status = await _status(port)
            return bool(status and status["backlog"] == 0 and status["sources"]["ari"]["connects"] == 1) and (
                await stored_count(db, scenarios) == total(scenarios)
            )

        await until(drained, 30, "everything stored and the spool empty")
        status = await _status(port)
        assert status is not None
        relay.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await relay.wait() == 0, "SIGTERM: a clean exit"
    finally:
        if relay.returncode is None:
            relay.kill()
            await relay.wait()

    # the held batch was sent again, under the same id, and recognised as a duplicate
    again = [s for s in gate.seen if s.webhook_id == held.webhook_id and s.status == 200]
    assert again and again[0].body == held.body
    answer = json.loads(again[0].answer)
    assert answer["stored"] == 0 and answer["duplicates"] == len(held.events)
    # the resent messages of the fake PBX were recognised by the spool
    assert status["sources"]["ari"]["copies"] + status["sources"]["ami"]["copies"] >= 3
    assert_exactly_once_in_order(await stored(db, scenarios), scenarios)
    assert await stored_count(db, scenarios) == total(scenarios)

    text = log.read_text(encoding="utf-8")
    assert "spool closed" in text, "the second relay closed its spool on SIGTERM"
    # no personal data in the relay's logs: no caller number, no name, no event body
    assert CALLER_NAME not in text and "Nguy" not in text
    for s in scenarios:
        assert s.caller not in text
