"""Replayed and forged credentials on the switchboards' webhooks and /route (issue 9, item 4).

Standard Webhooks signatures (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) and HTTP
Basic. A replayed message is a duplicate, never stored twice; a timestamp outside ±5 minutes, a
forged signature, a wrong, foreign or revoked secret are refused 401 with a message that says what
to fix; a switchboard that does not exist is 404. Nothing an unauthenticated sender posts is kept:
the credential is checked before the body is read as events, so a refused sender cannot fill the
quarantine (a malformed body with a bad credential is a 401, not a quarantined 400).
"""

from __future__ import annotations

import base64
import json
import secrets as random_secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from hotline_api.telephony import credentials
from tests.factories import basic_auth, signed, signed_in, switchboard_secret
from tests.hostile.corpus import Tally, ari, canonical, cdr

REPORT = Path(__file__).parents[2] / "build" / "hostile"
TALLY = Tally()


@pytest.fixture(autouse=True)
def _fresh_credentials() -> Iterator[None]:
    credentials.clear_cache()
    yield
    credentials.clear_cache()


@dataclass
class Keys:
    hanoi: str
    danang: str
    revoked: str


async def _counts(connection: AsyncConnection) -> tuple[int, int]:
    row = (
        await connection.execute(
            text("SELECT (SELECT count(*) FROM webhook_events), (SELECT count(*) FROM webhook_quarantine)")
        )
    ).one()
    return int(row[0]), int(row[1])


async def _keys(client: httpx.AsyncClient, session: AsyncSession) -> Keys:
    """Hà Nội's and Đà Nẵng's secrets, and a Hà Nội secret issued then revoked through the API."""
    hanoi = await switchboard_secret(session, "hanoi")
    danang = await switchboard_secret(session, "danang")
    admin = await signed_in(session, "admin")
    issued = await client.post(
        "/api/v1/switchboards/hanoi/credentials", headers=admin.headers, json={"label": "old relay"}
    )
    assert issued.status_code == 201, issued.text
    revoked = await client.delete(
        f"/api/v1/switchboards/hanoi/credentials/{issued.json()['id']}", headers=admin.headers
    )
    assert revoked.status_code == 200
    return Keys(hanoi=hanoi, danang=danang, revoked=issued.json()["secret"])


def _json(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "application/json"}


Headers = Callable[[Keys, bytes], dict[str, str]]


@dataclass(frozen=True)
class Refusal:
    family: str
    name: str
    headers: Headers  # (the keys, the body) → the request's credential headers
    status: int  # on the webhook; /route answers the same with action=queue (404 for a bad code)
    words: str  # what the error message must name
    switchboard: str = "hanoi"
    body: bytes = b""  # empty: a good event (BODY)


BODY = canonical(ari())
BROKEN = b'{"type": "StasisStart", "timestamp": '  # not JSON: quarantined if it were admitted
GARBAGE = base64.b64encode(b"\x00" * 32).decode()
STALE = "stale or future timestamps"
FORGED = "forged signatures"
SECRETS = "wrong or revoked secrets"
BASIC = "Basic with wrong credentials"
UNKNOWN = "unknown switchboards"


def _with(headers: dict[str, str], name: str, value: str) -> dict[str, str]:
    return {**headers, name: value}


def _random_secret() -> str:
    return "whsec_" + base64.b64encode(random_secrets.token_bytes(32)).decode()


def refusals() -> list[Refusal]:
    now = int(time.time())  # the window is ±300 s: the cases below are 330 s or more off
    ts, sig = "webhook-timestamp", "webhook-signature"
    return [
        Refusal(STALE, "signed 330 s ago", lambda k, x: signed(k.hanoi, x, "m1", now - 330), 401, "NTP"),
        Refusal(STALE, "signed a day ago", lambda k, x: signed(k.hanoi, x, "m2", now - 86400), 401, "NTP"),
        Refusal(STALE, "signed 330 s ahead", lambda k, x: signed(k.hanoi, x, "m3", now + 330), 401, "NTP"),
        Refusal(STALE, "timestamp 0", lambda k, x: signed(k.hanoi, x, "m4", 0), 401, "NTP"),
        Refusal(STALE, "in milliseconds", lambda k, x: signed(k.hanoi, x, "m5", now * 1000), 401, "NTP"),
        Refusal(
            STALE,
            "not a number",
            lambda k, x: _with(signed(k.hanoi, x, "m6"), ts, "yesterday"),
            401,
            "whole seconds",
        ),
        Refusal(
            STALE,
            "with a fraction",
            lambda k, x: _with(signed(k.hanoi, x, "m7"), ts, f"{now}.5"),
            401,
            "whole seconds",
        ),
        Refusal(
            STALE,
            "5,000 digits",
            lambda k, x: _with(signed(k.hanoi, x, "m8"), ts, "9" * 5000),
            401,
            "whole seconds",
        ),
        Refusal(
            FORGED,
            "random bytes",
            lambda k, x: _with(signed(k.hanoi, x, "f1"), sig, f"v1,{GARBAGE}"),
            401,
            "does not match",
        ),
        Refusal(
            FORGED,
            "not base64",
            lambda k, x: _with(signed(k.hanoi, x, "f2"), sig, "v1,@@not-base64@@"),
            401,
            "does not match",
        ),
        Refusal(
            FORGED,
            "an unknown version",
            lambda k, x: _with(
                signed(k.hanoi, x, "f3"), sig, signed(k.hanoi, x, "f3")[sig].replace("v1,", "v2,")
            ),
            401,
            "does not match",
        ),
        Refusal(
            FORGED,
            "an empty signature",
            lambda k, x: _with(signed(k.hanoi, x, "f4"), sig, "v1,"),
            401,
            "does not match",
        ),
        Refusal(
            FORGED,
            "200 wrong signatures",
            lambda k, x: _with(signed(k.hanoi, x, "f5"), sig, " ".join([f"v1,{GARBAGE}"] * 200)),
            401,
            "does not match",
        ),
        Refusal(
            FORGED,
            "the body changed after signing",
            lambda k, x: signed(k.hanoi, x.replace(b"0912345678", b"0912345679"), "f6"),
            401,
            "does not match",
        ),
        Refusal(
            FORGED,
            "another message's id",
            lambda k, x: _with(signed(k.hanoi, x, "f7"), "webhook-id", "f7b"),
            401,
            "does not match",
        ),
        Refusal(
            FORGED,
            "another timestamp",
            lambda k, x: _with(signed(k.hanoi, x, "f8", now - 10), ts, str(now)),
            401,
            "does not match",
        ),
        Refusal(
            FORGED,
            "a malformed body, forged",
            lambda k, x: _with(signed(k.hanoi, x, "f9"), sig, f"v1,{GARBAGE}"),
            401,
            "does not match",
            body=BROKEN,
        ),
        Refusal(
            SECRETS,
            "signed with a random secret",
            lambda k, x: signed(_random_secret(), x, "w1"),
            401,
            "does not match",
        ),
        Refusal(
            SECRETS,
            "signed with Đà Nẵng's secret",
            lambda k, x: signed(k.danang, x, "w2"),
            401,
            "does not match",
        ),
        Refusal(
            SECRETS,
            "signed with a revoked secret",
            lambda k, x: signed(k.revoked, x, "w3"),
            401,
            "does not match",
        ),
        Refusal(
            SECRETS,
            "Basic, a revoked secret",
            lambda k, x: basic_auth("hanoi", k.revoked),
            401,
            "wrong user or secret",
        ),
        Refusal(
            SECRETS,
            "Basic, Đà Nẵng's secret",
            lambda k, x: basic_auth("hanoi", k.danang),
            401,
            "wrong user or secret",
        ),
        Refusal(
            SECRETS,
            "a malformed body, a revoked secret",
            lambda k, x: basic_auth("hanoi", k.revoked),
            401,
            "wrong user or secret",
            body=BROKEN,
        ),
        Refusal(
            BASIC,
            "a wrong secret",
            lambda k, x: basic_auth("hanoi", k.hanoi + "x"),
            401,
            "wrong user or secret",
        ),
        Refusal(
            BASIC,
            "another switchboard as user",
            lambda k, x: basic_auth("danang", k.hanoi),
            401,
            "wrong user or secret",
        ),
        Refusal(BASIC, "an empty secret", lambda k, x: basic_auth("hanoi", ""), 401, "wrong user or secret"),
        Refusal(
            BASIC,
            "no colon",
            lambda k, x: {"Authorization": "Basic " + base64.b64encode(b"hanoi").decode()},
            401,
            "send HTTP Basic",
        ),
        Refusal(BASIC, "not base64", lambda k, x: {"Authorization": "Basic %%%"}, 401, "send HTTP Basic"),
        Refusal(
            BASIC,
            "not UTF-8",
            lambda k, x: {"Authorization": "Basic " + base64.b64encode(b"hanoi:\xff\xfe").decode()},
            401,
            "send HTTP Basic",
        ),
        Refusal(
            BASIC,
            "a user's bearer token",
            lambda k, x: {"Authorization": "Bearer abc"},
            401,
            "send HTTP Basic",
        ),
        Refusal(BASIC, "none, a malformed body", lambda k, x: {}, 401, "send HTTP Basic", body=BROKEN),
        Refusal(
            BASIC, "none, over 1 MiB", lambda k, x: {}, 413, "1 MiB", body=b"[" + b" " * (1024 * 1024) + b"]"
        ),
        Refusal(
            UNKNOWN,
            "saigon, Basic",
            lambda k, x: basic_auth("saigon", k.hanoi),
            404,
            "no switchboard",
            "saigon",
        ),
        Refusal(
            UNKNOWN, "saigon, signed", lambda k, x: signed(k.hanoi, x, "u1"), 404, "no switchboard", "saigon"
        ),
        Refusal(UNKNOWN, "saigon, no credential", lambda k, x: {}, 404, "no switchboard", "saigon"),
        Refusal(
            UNKNOWN,
            "a code that cannot be one",
            lambda k, x: basic_auth("Ha-Noi", k.hanoi),
            422,
            "switchboard",
            "Ha-Noi",
        ),
    ]


@pytest.mark.parametrize("source", ["ari", "route"])
async def test_forged_stale_and_revoked_credentials_are_refused_and_nothing_is_kept(
    source: str, client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection
) -> None:
    keys = await _keys(client, session)
    before = await _counts(connection)
    problems = []
    for case in refusals():
        if source == "route" and case.body:
            continue  # /route reads a form: only the credential matters here
        if source == "route":
            content = f"linkedid={time.time_ns()}.1&caller=0912345678".encode()
        else:
            content = case.body or BODY
        headers = case.headers(keys, content)
        name, status, words = case.name, case.status, case.words
        ctype = "application/json" if source == "ari" else "application/x-www-form-urlencoded"
        r = await client.post(
            f"/webhooks/asterisk/{case.switchboard}/{source}",
            content=content,
            headers={**headers, "Content-Type": ctype},
        )
        after = await _counts(connection)
        TALLY.record(
            case.family,
            r.status_code,
            "stored" if after[0] > before[0] else "quarantined" if after[1] > before[1] else "nothing",
            route=source == "route",
        )
        if source == "route":
            answer = dict(parse_qsl(r.text))
            # a code that cannot be a switchboard's is an unknown switchboard to the dialogue
            expected = 404 if status == 422 else status
            if r.status_code != expected or answer.get("action") != "queue":
                problems.append(f"/route {name}: {r.status_code} {r.text[:200]}")
        else:
            error = (
                r.json().get("error", {})
                if r.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            if (
                r.status_code != status
                or words not in str(error.get("message", ""))
                or not error.get("request_id")
            ):
                problems.append(
                    f"{name}: expected {status} naming {words!r}, got {r.status_code} {r.text[:200]}"
                )
            if r.status_code == 401 and "www-authenticate" not in r.headers:
                problems.append(f"{name}: a 401 without WWW-Authenticate")
        if after != before:
            problems.append(f"{name}: something was kept ({before} → {after})")
    assert not problems, "\n".join(problems)


async def test_a_replayed_message_is_a_duplicate_and_stored_once(
    client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection
) -> None:
    keys = await _keys(client, session)
    body = canonical(ari())
    url = "/webhooks/asterisk/hanoi/ari"
    headers = _json(signed(keys.hanoi, body, "msg_replay_1"))
    first = await client.post(url, content=body, headers=headers)
    assert first.json() == {"received": 1, "stored": 1, "duplicates": 0}
    TALLY.record("replayed messages", first.status_code, "stored")
    # the very same request again (a retransmission, or a replay captured on the wire): within the
    # window it authenticates, and changes nothing
    for _ in range(3):
        again = await client.post(url, content=body, headers=headers)
        assert again.status_code == 200 and again.json() == {"received": 1, "stored": 0, "duplicates": 1}
        TALLY.record("replayed messages", again.status_code, "nothing")
    # re-signed later with a new timestamp (a relay retrying): still the same message
    resigned = await client.post(
        url, content=body, headers=_json(signed(keys.hanoi, body, "msg_replay_1", int(time.time()) - 60))
    )
    assert resigned.json() == {"received": 1, "stored": 0, "duplicates": 1}
    TALLY.record("replayed messages", resigned.status_code, "nothing")
    # the same id signed over another body is another message from a sender that reused its id (a
    # counter started again after a restart): stored, not dropped as a retransmission
    other = canonical(ari())
    reused = await client.post(url, content=other, headers=_json(signed(keys.hanoi, other, "msg_replay_1")))
    assert reused.json() == {"received": 1, "stored": 1, "duplicates": 0}
    TALLY.record("replayed messages", reused.status_code, "stored")
    # … and that one, sent again, is a duplicate of itself
    again = await client.post(url, content=other, headers=_json(signed(keys.hanoi, other, "msg_replay_1")))
    assert again.json() == {"received": 1, "stored": 0, "duplicates": 1}
    TALLY.record("replayed messages", again.status_code, "nothing")
    # the same id from another switchboard is another message (ids are the sender's)
    elsewhere = await client.post(
        "/webhooks/asterisk/danang/ari",
        content=body,
        headers=_json(signed(keys.danang, body, "msg_replay_1")),
    )
    assert elsewhere.json() == {"received": 1, "stored": 1, "duplicates": 0}
    TALLY.record("replayed messages", elsewhere.status_code, "stored")
    # the replay, once outside the window, is refused outright
    old = await client.post(
        url, content=body, headers=_json(signed(keys.hanoi, body, "msg_replay_1", int(time.time()) - 600))
    )
    assert old.status_code == 401 and "NTP" in old.json()["error"]["message"]
    TALLY.record("replayed messages", old.status_code, "nothing")
    rows = (
        await connection.execute(
            text("SELECT switchboard_code, count(*) FROM webhook_events GROUP BY switchboard_code ORDER BY 1")
        )
    ).all()
    assert [tuple(r) for r in rows] == [("danang", 1), ("hanoi", 2)]
    assert (await _counts(connection))[1] == 0


async def test_a_replayed_cdr_over_basic_is_recognised_by_its_content(
    client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection
) -> None:
    """The dialplan's CURL() has no webhook-id: a CDR posted twice is recognised by what it says."""
    keys = await _keys(client, session)
    body = canonical(cdr())
    headers = _json(basic_auth("hanoi", keys.hanoi))
    answers = [
        await client.post("/webhooks/asterisk/hanoi/cdr", content=body, headers=headers) for _ in range(3)
    ]
    assert [a.json()["stored"] for a in answers] == [1, 0, 0]
    for a in answers:
        TALLY.record("replayed messages", a.status_code, "stored" if a.json()["stored"] else "nothing")
    # the same record with its keys in another order and other spacing is the same record
    reordered = json.dumps(dict(reversed(list(json.loads(body).items()))), indent=2).encode()
    r = await client.post("/webhooks/asterisk/hanoi/cdr", content=reordered, headers=headers)
    assert r.json() == {"received": 1, "stored": 0, "duplicates": 1}
    TALLY.record("replayed messages", r.status_code, "nothing")
    assert (await _counts(connection)) == (1, 0)


async def test_a_revoked_secret_stops_at_once_and_the_other_keeps_working(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    keys = await _keys(client, session)
    body = canonical(ari())
    ok = await client.post(
        "/webhooks/asterisk/hanoi/ari", content=body, headers=_json(signed(keys.hanoi, body, "live_1"))
    )
    assert ok.status_code == 200
    refused = await client.post(
        "/webhooks/asterisk/hanoi/ari", content=body, headers=_json(signed(keys.revoked, body, "live_2"))
    )
    assert refused.status_code == 401


def test_print_tally(capsys: pytest.CaptureFixture[str]) -> None:
    if not TALLY.rows:
        pytest.skip("no signature test ran")
    table = TALLY.table()
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / "signatures.md").write_text(table + "\n")
    with capsys.disabled():
        print("\n\nReplayed and forged credentials:\n" + table)
