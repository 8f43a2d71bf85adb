from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.auth.models import User
from hotline_api.calls import service as calls_service
from hotline_api.routing import engine
from hotline_api.routing.models import Presence
from hotline_api.telephony import credentials
from tests.factories import basic_auth, make_user, switchboard_secret

ALL_DAY = {str(d): ["00:00", "23:59"] for d in range(1, 8)}


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    engine.clear_cache()
    credentials.clear_cache()
    calls_service.clear_cache()
    yield
    engine.clear_cache()
    credentials.clear_cache()
    calls_service.clear_cache()


async def open_all_day(session: AsyncSession, **changes: Any) -> None:
    """Every switchboard open around the clock (tests must not depend on the hour they run at)."""
    import json

    await session.execute(
        text("UPDATE routing_settings SET opening_hours = CAST(:h AS jsonb)"), {"h": json.dumps(ALL_DAY)}
    )
    for name, value in changes.items():
        await session.execute(text(f"UPDATE routing_settings SET {name} = :v"), {"v": value})  # noqa: S608
    engine.clear_cache()


async def counsellor(
    session: AsyncSession,
    switchboard: str = "hanoi",
    extension: str = "PJSIP/1012",
    state: str = "available",
    languages: list[str] | None = None,
    idle_since: datetime | None = None,
) -> User:
    user = await make_user(session, "counsellor", switchboard=switchboard, extension=extension)
    user.languages = languages or ["vi"]
    now = datetime.now(UTC)
    session.add(
        Presence(
            user_id=user.id,
            switchboard_code=switchboard,
            state=state,
            since=now,
            idle_since=idle_since or now,
        )
    )
    await session.flush()
    return user


class Board:
    """A switchboard's dialplan, asking /route."""

    def __init__(self, client: httpx.AsyncClient, code: str, secret: str) -> None:
        self.client, self.code, self.secret = client, code, secret

    async def ask(
        self, linkedid: str, accept_json: bool = False, **fields: Any
    ) -> tuple[int, dict[str, str]]:
        data = {"linkedid": linkedid, "uniqueid": linkedid, "exten": "111", "attempt": "1", **fields}
        data = {k: str(v) for k, v in data.items() if v is not None}
        headers = basic_auth(self.code, self.secret)
        if accept_json:
            headers["Accept"] = "application/json"
        r = await self.client.post(f"/webhooks/asterisk/{self.code}/route", data=data, headers=headers)
        if accept_json:
            return r.status_code, r.json()
        assert r.headers["content-type"].startswith("application/x-www-form-urlencoded"), r.text
        return r.status_code, dict(parse_qsl(r.text))


async def board(client: httpx.AsyncClient, session: AsyncSession, code: str = "hanoi") -> Board:
    return Board(client, code, await switchboard_secret(session, code))
