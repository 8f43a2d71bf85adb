"""The hostile-input corpus (corpus.py) against the webhooks and /route, with valid credentials.

For every case: the status it must get and never a 5xx; a refusal is a clear JSON error naming what
was wrong, and its body is in the quarantine byte for byte; odd but legitimate data is stored exactly
as sent; /route always answers an action. The tally per family is printed at the end (run with
``-s`` to see it; it is also written to build/hostile/corpus.md) and quoted in docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from hotline_api.privacy.crypto import Keyring
from hotline_api.telephony import credentials
from hotline_api.telephony.intake import BODY_CONTEXT, QUARANTINE_CONTEXT
from tests.factories import basic_auth, switchboard_secret
from tests.hostile.corpus import FAMILIES, JSON, SWITCHBOARDS, TALLY, Case, Family, stored_form

REPORT = Path(__file__).parents[2] / "build" / "hostile"


@pytest.fixture(autouse=True)
def _fresh_credentials() -> Iterator[None]:
    # each test has its own (rolled back) credentials
    credentials.clear_cache()
    yield
    credentials.clear_cache()


async def _last_id(connection: AsyncConnection, table: str) -> int:
    return int((await connection.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}"))).scalar_one())  # noqa: S608 - a constant name


async def post_case(client: httpx.AsyncClient, case: Case, secrets: dict[str, str]) -> httpx.Response:
    headers = {
        **basic_auth(case.switchboard, secrets[case.switchboard]),
        "Content-Type": case.content_type,
        **dict(case.headers),
    }
    if case.accept_json:
        headers["Accept"] = "application/json"
    return await client.post(
        f"/webhooks/asterisk/{case.switchboard}/{case.source}", content=case.body, headers=headers
    )


def _error(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _route_answer(r: httpx.Response, case: Case) -> dict[str, Any]:
    if case.accept_json:
        data = r.json()
        return data if isinstance(data, dict) else {}
    return dict(parse_qsl(r.text, keep_blank_values=True))


async def check_case(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    keyring: Keyring,
    secrets: dict[str, str],
    case: Case,
) -> tuple[int, str, list[str]]:
    """Post one case; what it was answered, what was kept, and what was wrong with that."""
    events_before = await _last_id(connection, "webhook_events")
    held_before = await _last_id(connection, "webhook_quarantine")
    r = await post_case(client, case, secrets)
    problems: list[str] = []

    def problem(what: str) -> None:
        problems.append(f"{case.name}: {what}")

    new_events = (
        await connection.execute(
            text("SELECT body_enc FROM webhook_events WHERE id > :after ORDER BY id"),
            {"after": events_before},
        )
    ).all()
    held = (
        await connection.execute(
            text(
                "SELECT id, status_code, body_enc, switchboard_code, source FROM webhook_quarantine "
                "WHERE id > :after ORDER BY id"
            ),
            {"after": held_before},
        )
    ).all()
    kept = "quarantined" if held else "stored" if new_events else "nothing"

    if r.status_code >= 500:
        problem(f"answered {r.status_code}: {r.text[:300]}")
    if r.status_code != case.expect:
        problem(f"expected {case.expect}, got {r.status_code}: {r.text[:300]}")
    if kept != case.kept:
        problem(f"expected the body {case.kept}, it was {kept}")

    if case.source == "route":
        answer = _route_answer(r, case)
        if not answer.get("action"):
            problem(f"no action in the answer: {r.text[:200]}")
        if r.status_code >= 400:
            if answer.get("action") != "queue":
                problem(f"a refusal must send the call to the local queue, got {answer}")
            if case.mentions and case.mentions not in str(answer.get("error", "")):
                problem(f"the answer does not name {case.mentions!r}: {answer}")
        return r.status_code, kept, problems

    if r.status_code >= 400:
        error = _error(r)
        if not (error.get("code") and error.get("message") and error.get("request_id")):
            problem(f"not a clear JSON error: {r.text[:200]}")
        message = str(error.get("message", ""))
        if case.mentions and case.mentions not in message:
            problem(f"the message does not name {case.mentions!r}: {message!r}")
    if held:
        (qid, status, body_enc, switchboard, source), *more = held
        if more:
            problem(f"quarantined {len(held)} times")
        if keyring.decrypt_bytes(bytes(body_enc), QUARANTINE_CONTEXT) != case.body:
            problem("the quarantined body is not the body sent, byte for byte")
        if (status, switchboard, source) != (r.status_code, case.switchboard, case.source):
            problem(f"quarantined as {(status, switchboard, source)}")
        if f"#{qid}" not in str(_error(r).get("message", "")):
            problem("the message does not say where the body is kept")
    if 200 <= r.status_code < 300:
        expected = stored_form(case)
        n = len(expected)
        want = {"received": n, "stored": 0 if case.duplicate else n, "duplicates": n if case.duplicate else 0}
        if r.json() != want:
            problem(f"answered {r.json()}, expected {want}")
        stored = [keyring.decrypt_bytes(bytes(row.body_enc), BODY_CONTEXT) for row in new_events]
        if not case.duplicate and sorted(stored) != sorted(expected):
            problem("the stored events are not the events sent")
        if case.content_type == JSON and n == 1 and not case.duplicate and stored != [case.body]:
            problem("a one-event JSON body is not stored byte for byte")
    return r.status_code, kept, problems


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name.replace(" ", "-"))
async def test_family(
    family: Family,
    client: httpx.AsyncClient,
    session: AsyncSession,
    connection: AsyncConnection,
    keyring: Keyring,
) -> None:
    secrets = {sb: await switchboard_secret(session, sb) for sb in SWITCHBOARDS}
    problems: list[str] = []
    for case in family.cases:
        status, kept, wrong = await check_case(client, connection, keyring, secrets, case)
        TALLY.record(family.name, status, kept, route=case.source == "route")
        problems += wrong
    for linkedid in family.distinct_calls:
        # the same linkedid from three switchboards: three calls, one each
        rows = (
            await connection.execute(
                text("SELECT switchboard_code FROM calls WHERE linkedid = :lk ORDER BY switchboard_code"),
                {"lk": linkedid},
            )
        ).all()
        if sorted(r.switchboard_code for r in rows) != sorted(SWITCHBOARDS):
            problems.append(f"linkedid {linkedid} made calls {[r.switchboard_code for r in rows]}")
    assert not problems, "\n".join(problems)


def test_print_tally(capsys: pytest.CaptureFixture[str]) -> None:
    """The tally of the families above (after them: tests run in the order of the file)."""
    if not TALLY.rows:
        pytest.skip("no family ran")
    table = TALLY.table()
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / "corpus.md").write_text(table + "\n")
    with capsys.disabled():
        print("\n\nHostile webhook and /route corpus (tests/hostile/corpus.py):\n" + table)
    assert all(status < 500 for row in TALLY.rows.values() for status in row.statuses)
