from __future__ import annotations

import random
from datetime import UTC, datetime

from sqlalchemy import func, select

from hotline_api.calls.models import Call
from hotline_api.privacy.normalise import normalise_phone
from hotline_api.telephony.simulator import Target, caller_number, make_call, run
from tests.factories import switchboard_secret


def test_callers_are_plausible_vietnamese_numbers():
    rng = random.Random(1)
    for board in ("hanoi", "danang", "angiang"):
        for _ in range(200):
            number = caller_number(rng, board)
            assert number.startswith("0") and len(number) == 10
            assert (normalise_phone(number) or "").startswith("+84")


def test_same_seed_same_calls():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    a = [make_call(random.Random(5), n, start) for n in range(3)]
    b = [make_call(random.Random(5), n, start) for n in range(3)]
    assert [(c.switchboard, c.kind, c.caller) for c in a] == [(c.switchboard, c.kind, c.caller) for c in b]


async def test_simulated_switchboards_fill_the_call_records(client, session, server_url):
    secrets = {board: await switchboard_secret(session, board) for board in ("hanoi", "danang", "angiang")}
    for sign in (False, True):
        tally = await run(Target(server_url, secrets, sign=sign), count=15, rate=0, seed=11, concurrency=1)
        assert set(tally.responses) == {200}, tally.responses
        assert sum(tally.calls.values()) == 15
    calls = await session.scalar(select(func.count()).select_from(Call))
    assert calls == 30
    boards = set((await session.scalars(select(Call.switchboard_code))).all())
    assert boards == {"hanoi", "danang", "angiang"}
    outcomes = set((await session.scalars(select(Call.outcome))).all())
    assert "in_progress" not in outcomes and len(outcomes) >= 3


async def test_simulated_calls_ask_where_to_go(client, session, server_url):
    from sqlalchemy import text

    from hotline_api.routing import engine
    from hotline_api.routing.models import RoutingDecision
    from tests.routing.conftest import counsellor, open_all_day

    await open_all_day(session)
    for board, ext in (("hanoi", "PJSIP/1012"), ("danang", "PJSIP/2012"), ("angiang", "PJSIP/3012")):
        await counsellor(session, switchboard=board, extension=ext)
    engine.clear_cache()
    secrets = {board: await switchboard_secret(session, board) for board in ("hanoi", "danang", "angiang")}
    tally = await run(Target(server_url, secrets), count=12, rate=0, seed=5, concurrency=1, route=True)
    assert set(tally.responses) == {200}, tally.responses
    assert sum(tally.routes.values()) >= 1 and set(tally.routes) <= {"dial", "wait", "transfer", "queue"}
    decisions = await session.scalar(select(func.count()).select_from(RoutingDecision))
    assert decisions == sum(tally.routes.values())
    answered_by_named = await session.scalar(
        text("SELECT count(*) FROM calls WHERE outcome = 'answered' AND counsellor_user_id IS NOT NULL")
    )
    # the counsellors the service named pick up, and show on the calls by name
    assert tally.routes["dial"] >= 1 and answered_by_named >= 1
