from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hotline_api.calls import service as calls_service
from hotline_api.telephony import credentials
from hotline_api.telephony.scenarios import Scenario, ami_text
from tests.factories import basic_auth


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    # each test has its own (rolled back) credentials and extensions
    credentials.clear_cache()
    calls_service.clear_cache()
    yield
    credentials.clear_cache()
    calls_service.clear_cache()


_seq = iter(range(1000, 10**9, 100))


def new_linkedid() -> str:
    return f"1748744102.{next(_seq)}"


def scenario(kind: str = "answered", switchboard: str = "hanoi", **kw: Any) -> Scenario:
    kw.setdefault("caller", "0912345678")
    kw.setdefault("exten", "111")
    kw.setdefault("start", datetime.now(UTC) - timedelta(hours=1))
    kw.setdefault("linkedid", new_linkedid())
    import random

    kw.setdefault("rng", random.Random(7))
    s = Scenario(switchboard=switchboard, kind=kind, **kw)
    s.build()
    return s


async def post(
    client: httpx.AsyncClient,
    switchboard: str,
    source: str,
    body: Any,
    secret: str,
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    h = {
        **basic_auth(switchboard, secret),
        "Content-Type": content_type or "application/json",
        **(headers or {}),
    }
    return await client.post(f"/webhooks/asterisk/{switchboard}/{source}", content=content, headers=h)


async def send_all(
    client: httpx.AsyncClient,
    s: Scenario,
    secret: str,
    sources: set[str] | None = None,
    switchboard: str | None = None,
) -> None:
    """Every event of a scenario, one request each, as CURL() and the relay would send them."""
    for source, event in s.events:
        if sources and source not in sources:
            continue
        body = ami_text([event]) if source == "ami" else event
        r = await post(
            client,
            switchboard or s.switchboard,
            source,
            body,
            secret,
            content_type="text/plain" if source == "ami" else None,
        )
        assert r.status_code == 200, (source, event.get("type") or event.get("Event"), r.text)
