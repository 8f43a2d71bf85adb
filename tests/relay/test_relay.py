"""The relay against the real service (uvicorn on a loopback port, the test's transaction) and the fake
PBX over real sockets: order per call, batches, a 503 with Retry-After, malformed events, a PBX
that drops the connection or goes silent, bad PBX credentials, the status endpoint and file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.relay.runner import Relay
from tests.factories import switchboard_secret
from tests.fakepbx import FakeAmi, FakeAri
from tests.relay.conftest import (
    CALLER_NAME,
    assert_exactly_once_in_order,
    calls,
    events_of,
    relay_settings,
    stored,
    stored_count,
    total,
    until,
)
from tests.relay.gate import Gate


async def _status(relay: Relay) -> dict[str, Any]:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"http://127.0.0.1:{relay.status_port}/status")
        assert r.status_code == 200
        data = r.json()
        assert isinstance(data, dict)
        return data


async def test_events_of_interleaved_calls_arrive_once_each_in_the_pbx_order_batched_under_backlog(
    tmp_path: Path, session: AsyncSession, db: Any, gate: Gate, fake_ari: FakeAri, fake_ami: FakeAmi
) -> None:
    secret = await switchboard_secret(session)
    scenarios = calls(6)
    settings = relay_settings(tmp_path, gate.url, secret, fake_ari, fake_ami)
    gate.mode = "unavailable"  # no Retry-After: the relay backs off by itself; a backlog builds
    async with Relay(settings) as relay:
        await fake_ari.emit(*events_of(scenarios, "ari"))
        await fake_ami.emit(*events_of(scenarios, "ami"))
        await until(
            lambda: relay.sources["ari"].received + relay.sources["ami"].received == total(scenarios),
            10,
            "every event in the spool",
        )
        assert (await _status(relay))["backlog"] == total(scenarios)
        gate.mode = "pass"
        await until(
            lambda: relay.forwarder is not None and relay.forwarder.state.sent_events == total(scenarios),
            20,
            "the backlog sent",
        )

        # the backlog went in batches, never more than the configured size, one source per request
        passed = gate.answered(200)
        assert sum(len(s.events) for s in passed) == total(scenarios)
        assert any(len(s.events) > 1 for s in passed), "a backlog is sent in batches"
        assert max(len(s.events) for s in passed) <= settings.forward_batch_max_events
        assert all(s.path.endswith(("/hanoi/ari", "/hanoi/ami")) for s in passed)

        # with no backlog, one event per request, the object itself
        extra = calls(1, ("not_queued",))
        first = next(e for src, e in extra[0].events if src == "ari")
        before = len(gate.seen)
        await fake_ari.emit(first)
        await gate.wait_for(lambda: len(gate.answered(200)) > len(passed))
        single = gate.seen[before]
        assert not single.is_array and json.loads(single.body) == first
        assert single.webhook_id.startswith("relay_hanoi_ari_")
        status = await _status(relay)
    assert status["backlog"] == 0 and status["rejected"] == 0
    rows = await stored(db, scenarios)
    assert_exactly_once_in_order(rows, scenarios)
    assert await stored_count(db, scenarios) == total(scenarios)
    assert CALLER_NAME not in json.dumps(status)


async def test_a_503_with_retry_after_is_retried_after_that_long_with_the_same_webhook_id(
    tmp_path: Path, session: AsyncSession, db: Any, gate: Gate, fake_ari: FakeAri
) -> None:
    secret = await switchboard_secret(session)
    scenarios = calls(1)
    # the relay's own backoff would retry within 0.3 s: only Retry-After can make it wait 2 s
    settings = relay_settings(tmp_path, gate.url, secret, fake_ari)
    gate.unavailable_for, gate.retry_after = 1, "2"
    async with Relay(settings) as relay:
        await fake_ari.emit(*events_of(scenarios, "ari"))
        await until(lambda: relay.sources["ari"].received == total(scenarios, ("ari",)), 10, "events spooled")
        await until(
            lambda: (
                relay.forwarder is not None
                and relay.forwarder.state.sent_events == total(scenarios, ("ari",))
            ),
            20,
            "events sent",
        )
        assert relay.forwarder is not None
        assert relay.forwarder.state.requests["503"] == 1
        assert relay.forwarder.state.last_error == "http_503"
    first, second = gate.seen[0], gate.seen[1]
    assert first.status == 503 and second.status == 200
    assert second.at - first.at >= 2.0 - 0.05, "Retry-After: 2 was not honoured"
    # the retry is the same request: same id, same events
    assert second.webhook_id == first.webhook_id and second.body == first.body
    assert_exactly_once_in_order(await stored(db, scenarios), scenarios, ("ari",))


async def test_a_malformed_event_is_set_aside_and_does_not_block_the_ones_after_it(
    tmp_path: Path, session: AsyncSession, db: Any, gate: Gate, fake_ari: FakeAri
) -> None:
    secret = await switchboard_secret(session)
    before, after = calls(2)
    ari_before, ari_after = events_of([before], "ari"), events_of([after], "ari")
    # a PBX without `channelvars = CHANNEL(linkedid)`: the service answers 422
    broken = json.loads(json.dumps(ari_before[0]))
    broken["channel"].pop("channelvars")
    settings = relay_settings(tmp_path, gate.url, secret, fake_ari)
    gate.mode = "unavailable"  # everything waits, so the broken event travels inside a batch
    async with Relay(settings) as relay:
        await fake_ari.emit(*ari_before[:3], broken, *ari_before[3:])
        await fake_ari.emit_raw("this is not JSON")  # not even an event: sent alone, answered 400
        await fake_ari.emit(*ari_after)
        expected = len(ari_before) + len(ari_after) + 2
        await until(lambda: relay.sources["ari"].received == expected, 10, "events spooled")
        gate.mode = "pass"
        await until(
            lambda: (
                relay.forwarder is not None
                and relay.forwarder.state.sent_events == expected - 2
                and relay.forwarder.state.rejected_events == 2
            ),
            20,
            "the good events sent, the bad ones set aside",
        )
        status = await _status(relay)
        rejected = await relay.spool.rejected()
    assert status["backlog"] == 0 and status["rejected"] == 2
    assert [(source, code) for _, source, code, _ in rejected] == [("ari", 422), ("ari", 400)]
    assert "CHANNEL(linkedid)" in rejected[0][3], "the service's reason is kept"
    assert any(s.status == 422 and s.is_array for s in gate.seen), "the batch holding it was refused first"
    assert_exactly_once_in_order(await stored(db, [before, after]), [before, after], ("ari",))
    # the service kept the refused bodies in its quarantine
    cur = await db.execute(
        "SELECT status_code FROM webhook_quarantine WHERE webhook_id LIKE 'relay_hanoi_%%'"
    )
    assert {code for (code,) in await cur.fetchall()} == {400, 422}


async def test_the_pbx_dropping_the_connections_mid_stream_loses_nothing_received(
    tmp_path: Path, session: AsyncSession, db: Any, gate: Gate, fake_ari: FakeAri, fake_ami: FakeAmi
) -> None:
    secret = await switchboard_secret(session)
    scenarios = calls(4)
    ari, ami = events_of(scenarios, "ari"), events_of(scenarios, "ami")
    settings = relay_settings(
        tmp_path, gate.url, secret, fake_ari, fake_ami, ami={"ping_interval": 0.3, "ping_timeout": 0.7}
    )
    async with Relay(settings) as relay:
        await fake_ari.emit(*ari[: len(ari) // 2])
        await fake_ami.emit(*ami[: len(ami) // 3])
        await until(
            lambda: (
                relay.sources["ari"].received == len(ari) // 2
                and relay.sources["ami"].received == len(ami) // 3
            ),
            10,
            "the first part received",
        )
        # the network fails under both streams; the fake PBX resends its last 3 messages on the
        # reconnect (real Asterisk would not; the relay must recognise them as copies)
        await fake_ari.drop()
        await fake_ami.drop()
        await fake_ari.emit(*ari[len(ari) // 2 :])
        await fake_ami.emit(*ami[len(ami) // 3 : 2 * len(ami) // 3])
        await fake_ari.wait_connections(2)
        await fake_ami.wait_logins(2)
        await until(
            lambda: relay.sources["ami"].received == 2 * len(ami) // 3, 10, "the second part received"
        )
        # then the AMI peer goes silent without closing: the relay's Ping finds out, and reconnects
        pings = fake_ami.pings_received
        fake_ami.silence()
        await fake_ami.emit(*ami[2 * len(ami) // 3 :])
        await fake_ami.wait_logins(3)
        assert fake_ami.pings_received > pings
        await until(
            lambda: relay.forwarder is not None and relay.forwarder.state.sent_events == len(ari) + len(ami),
            20,
            "everything sent",
        )
        ari_state, ami_state = relay.sources["ari"], relay.sources["ami"]
    assert ari_state.connects == 2 and ami_state.connects >= 3
    assert ari_state.copies == 3 and ami_state.copies >= 3, "the replayed messages were recognised"
    assert ami_state.last_error in ("ping_timeout", "dropped", "closed", "network")
    assert fake_ami.login_events == ["on", "on", "on"]
    assert all(q["subscribeAll"] == ["true"] and q["app"] == ["hotline"] for q in fake_ari.queries)
    assert_exactly_once_in_order(await stored(db, scenarios), scenarios)


async def test_wrong_pbx_credentials_are_reported_and_retried_not_fatal(
    tmp_path: Path, session: AsyncSession, gate: Gate
) -> None:
    secret = await switchboard_secret(session)
    ari, ami = FakeAri(password="the-right-one"), FakeAmi(secret="the-right-one")
    await ari.start()
    await ami.start()
    try:
        wrong_ari, wrong_ami = FakeAri(password="wrong"), FakeAmi(secret="wrong")
        wrong_ari.port, wrong_ami.port = ari.port, ami.port
        settings = relay_settings(tmp_path, gate.url, secret, wrong_ari, wrong_ami)
        async with Relay(settings) as relay:
            await until(
                lambda: len(ari.refused) >= 2 and relay.sources["ami"].last_error == "login_refused",
                10,
                "refusals",
            )
            status = await _status(relay)
        assert set(ari.refused) == {401}
        assert status["sources"]["ari"]["connected"] is False
        assert status["sources"]["ari"]["last_error"] == "http_401"
        assert status["sources"]["ami"]["last_error"] == "login_refused"
        assert status["healthy"] is False
    finally:
        await ari.close()
        await ami.close()


async def test_the_status_endpoint_and_file_report_the_backlog(
    tmp_path: Path, session: AsyncSession, db: Any, gate: Gate, fake_ari: FakeAri
) -> None:
    secret = await switchboard_secret(session)
    scenarios = calls(2)
    events = events_of(scenarios, "ari")
    status_file = tmp_path / "status.json"
    settings = relay_settings(tmp_path, gate.url, secret, fake_ari, status={"file": str(status_file)})
    gate.mode, gate.retry_after = "unavailable", "1"
    async with Relay(settings) as relay:
        await fake_ari.emit(*events)
        await until(lambda: relay.sources["ari"].received == len(events), 10, "events spooled")
        await until(lambda: len(gate.seen) >= 1, 10, "a first attempt")
        status = await _status(relay)
        assert status["backlog"] == len(events)
        assert status["oldest_age_seconds"] > 0
        assert status["forward"]["last_error"] == "http_503"
        assert status["forward"]["service_accepting"] is False
        assert status["forward"]["last_success_at"] is None
        assert status["sources"]["ari"]["connected"] is True
        assert status["sources"]["ami"]["enabled"] is False
        await until(
            lambda: status_file.exists() and json.loads(status_file.read_text())["backlog"] == len(events),
            5,
            "the status file",
        )
        async with httpx.AsyncClient() as c:
            assert (await c.get(f"http://127.0.0.1:{relay.status_port}/healthz")).status_code == 200
            assert (await c.get(f"http://127.0.0.1:{relay.status_port}/other")).status_code == 404
        gate.mode = "pass"

        async def drained() -> bool:
            return bool((await _status(relay))["backlog"] == 0)

        await until(drained, 20, "the backlog drained")
        status = await _status(relay)
        await until(lambda: json.loads(status_file.read_text())["backlog"] == 0, 5, "the status file updated")
    assert status["forward"]["last_success_at"] is not None
    assert status["forward"]["sent_events"] == len(events)
    assert CALLER_NAME not in status_file.read_text()
    assert await stored_count(db, scenarios) == len(events)
