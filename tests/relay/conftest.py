"""Fixtures of the relay's tests: the fake PBX, the gate in front of the service, settings, calls."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline_api.calls import service as calls_service
from hotline_api.relay.config import RelaySettings, load_settings
from hotline_api.telephony import credentials
from hotline_api.telephony.intake import BODY_CONTEXT
from hotline_api.telephony.scenarios import Scenario
from tests.conftest import free_port
from tests.factories import KEYRING
from tests.fakepbx import FakeAmi, FakeAri
from tests.relay.gate import Gate

CALLER_NAME = "Nguyễn Thị Hoa"
# kinds whose calls have both ARI and AMI events (queue events come from AMI)
KINDS = ("answered", "missed_then_answered", "abandoned", "timeout")
_linked = count(10_000, 100)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    credentials.clear_cache()
    calls_service.clear_cache()
    yield
    credentials.clear_cache()
    calls_service.clear_cache()


@pytest.fixture
async def fake_ari() -> AsyncIterator[FakeAri]:
    server = FakeAri(overlap=3)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(overlap=3)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def db(client: httpx.AsyncClient, connection: AsyncConnection) -> Any:
    """The psycopg connection of the test's transaction, which the service writes through too."""
    return (await connection.get_raw_connection()).driver_connection


async def stored(db: Any, scenarios: list[Scenario]) -> list[tuple[str, str, dict[str, Any]]]:
    """(linkedid, source, event) of the calls' stored events, in webhook_events.id order."""
    cur = await db.execute(
        "SELECT linkedid, source, body_enc FROM webhook_events WHERE switchboard_code = 'hanoi' "
        "AND linkedid = ANY(%s) ORDER BY id",
        ([s.linkedid for s in scenarios],),
    )
    return [(lk, src, decrypt(body)) for lk, src, body in await cur.fetchall()]


async def stored_count(db: Any, scenarios: list[Scenario]) -> int:
    cur = await db.execute(
        "SELECT count(*) FROM webhook_events WHERE switchboard_code = 'hanoi' AND linkedid = ANY(%s)",
        ([s.linkedid for s in scenarios],),
    )
    row = await cur.fetchone()
    return int(row[0])


def total(scenarios: list[Scenario], sources: tuple[str, ...] = ("ari", "ami")) -> int:
    return sum(1 for s in scenarios for src, _ in s.events if src in sources)


@pytest.fixture
async def gate(client: httpx.AsyncClient) -> AsyncIterator[Gate]:
    front = Gate(str(client.base_url))
    await front.start()
    try:
        yield front
    finally:
        await front.close()


def write_config(path: Path, sections: dict[str, Any]) -> Path:
    """A TOML file as an admin would write it (top-level keys first, then [sections])."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))

    lines = [f"{k} = {value(v)}" for k, v in sections.items() if not isinstance(v, dict)]
    for name, body in sections.items():
        if isinstance(body, dict):
            lines.append(f"\n[{name}]")
            lines.extend(f"{k} = {value(v)}" for k, v in body.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def relay_config(
    tmp_path: Path,
    service_url: str,
    secret: str,
    ari_server: FakeAri | None = None,
    ami_server: FakeAmi | None = None,
    **overrides: dict[str, Any],
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "switchboard": "hanoi",
        "log_level": "debug",
        "service": {"url": service_url, "secret": secret, "timeout": 10},
        "ari": {"enabled": False},
        "ami": {"enabled": False},
        "spool": {"path": str(tmp_path / "spool" / "relay.sqlite3")},
        "forward": {"backoff_initial": 0.05, "backoff_max": 0.3},
        "pbx": {"backoff_initial": 0.05, "backoff_max": 0.3, "connect_timeout": 3},
        "status": {"port": free_port(), "interval": 0.2, "log_interval": 1},
    }
    if ari_server is not None:
        ari = ari_server
        config["ari"] = {"enabled": True, "url": ari.url, "user": ari.user, "password": ari.password}
    if ami_server is not None:
        ami = ami_server
        config["ami"] = {
            "enabled": True,
            "port": ami.port,
            "user": ami.username,
            "secret": ami.secret,
            "ping_interval": 5,
            "ping_timeout": 5,
        }
    for name, values in overrides.items():
        config.setdefault(name, {}).update(values)
    return config


def relay_settings(tmp_path: Path, *args: Any, **kwargs: Any) -> RelaySettings:
    """Settings read back from a TOML file, as ``hotline-api relay --config`` reads them."""
    path = write_config(tmp_path / "relay.toml", relay_config(tmp_path, *args, **kwargs))
    return load_settings(path, environ={})


def calls(n: int, kinds: tuple[str, ...] = KINDS) -> list[Scenario]:
    """Realistic calls (telephony/scenarios.py), an hour ago, distinct numbers and linkedids."""
    rng = random.Random(n)
    out = []
    for i in range(n):
        s = Scenario(
            switchboard="hanoi",
            linkedid=f"relay-1748744102.{next(_linked)}",
            caller=f"0912{rng.randrange(10**6):06d}",
            exten="111",
            start=datetime.now(UTC) - timedelta(hours=1, seconds=i),
            kind=kinds[i % len(kinds)],
            caller_name=CALLER_NAME,
            rng=random.Random(i),
        )
        s.build()
        out.append(s)
    return out


def events_of(scenarios: list[Scenario], source: str) -> list[dict[str, Any]]:
    """The calls' events of one source, the calls interleaved as a busy PBX interleaves them."""
    streams = [[e for src, e in s.events if src == source] for s in scenarios]
    out: list[dict[str, Any]] = []
    for i in range(max((len(s) for s in streams), default=0)):
        out.extend(stream[i] for stream in streams if i < len(stream))
    return out


async def until(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool], seconds: float, what: str
) -> None:
    """Wait for a condition, checking it every 50 ms; fail with ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.05)


def decrypt(body_enc: bytes) -> dict[str, Any]:
    data = json.loads(KEYRING.decrypt_bytes(bytes(body_enc), BODY_CONTEXT))
    assert isinstance(data, dict)
    return data


def assert_exactly_once_in_order(
    rows: list[tuple[str, str, dict[str, Any]]],
    scenarios: list[Scenario],
    sources: tuple[str, ...] = ("ari", "ami"),
) -> None:
    """``rows`` (linkedid, source, event) in webhook_events.id order hold each call's events of
    each source exactly once, in the order the PBX emitted them."""
    for s in scenarios:
        for source in sources:
            expected = [e for src, e in s.events if src == source]
            got = [e for lk, src, e in rows if lk == s.linkedid and src == source]
            assert len(got) == len(expected), (s.linkedid, source, len(got), len(expected))
            assert got == expected, (s.linkedid, source, "order differs")
