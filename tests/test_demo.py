"""``hotline-api serve --demo`` and the simulator's live mode.

The demo set-up against the test database (users, roles, extensions, presence, credentials; run
twice); one live call against the running test service, routed to a counsellor who is available
and followed through their presence; and ``serve --demo`` end to end as a subprocess on its own
embedded PostgreSQL, until simulated calls show in the call records.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from hotline_api import demo
from hotline_api.auth.models import ROLES, User
from hotline_api.calls import service as calls_service
from hotline_api.calls.models import Call
from hotline_api.routing import engine
from hotline_api.routing.models import Presence, RoutingDecision
from hotline_api.telephony import credentials
from hotline_api.telephony.models import SwitchboardCredential
from hotline_api.telephony.simulator import LiveCallResult, Target, live_call
from tests.conftest import free_port
from tests.factories import KEYRING, login, make_user, switchboard_secret
from tests.test_serve import Serve, Services, _env, _postmaster_pid, assert_nothing_left


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    # credentials, extensions and routing reference are cached per process for a few seconds;
    # each test has its own (rolled back) rows
    for clear in (credentials.clear_cache, calls_service.clear_cache, engine.clear_cache):
        clear()
    yield
    for clear in (credentials.clear_cache, calls_service.clear_cache, engine.clear_cache):
        clear()


# ---- the demo set-up ------------------------------------------------------------------------------


async def _users(session: Any) -> dict[str, User]:
    rows = await session.scalars(
        select(User)
        .where(User.username.like("demo-%"))
        .options(selectinload(User.roles), selectinload(User.extensions))
        .execution_options(populate_existing=True)
    )
    return {u.username: u for u in rows.all()}


async def test_demo_setup_creates_every_role_and_is_idempotent(client, session):
    # an existing user already answers on PJSIP/2012 at Đà Nẵng: the demo takes the next number
    other = await make_user(session, "counsellor", switchboard="danang", extension="PJSIP/2012")
    first = await demo.setup_demo(session, KEYRING)

    users = await _users(session)
    expected = {
        "demo-counsellor-hanoi": ("counsellor", "hanoi", {"hanoi": "PJSIP/1012"}),
        "demo-counsellor-danang": ("counsellor", "danang", {"danang": "PJSIP/2013"}),
        "demo-counsellor-angiang": ("counsellor", "angiang", {"angiang": "PJSIP/3012"}),
        "demo-supervisor-hanoi": ("supervisor", "hanoi", {}),
        "demo-national": ("national_supervisor", "hanoi", {}),
        "demo-analyst": ("analyst", "hanoi", {}),
        "demo-admin": ("admin", "hanoi", {}),
    }
    for name, (role, board, extensions) in expected.items():
        user = users[name]
        assert [r.role for r in user.roles] == [role], name
        assert user.home_switchboard == board and user.is_active
        assert {e.switchboard_code: e.extension for e in user.extensions} == extensions, name
    bots = {n: u for n, u in users.items() if n.startswith("demo-bot-")}
    assert {u.home_switchboard for u in bots.values()} == {"hanoi", "danang", "angiang"}
    assert all([r.role for r in u.roles] == ["counsellor"] and len(u.extensions) == 1 for u in bots.values())
    assert [u.extension for u in first.people if u.account.username == "demo-counsellor-danang"] == [
        "PJSIP/2013"
    ]
    assert {(e.user_id, e.extension) for e in other.extensions} == {(other.id, "PJSIP/2012")}

    # the bots are available where they work; the people decide for themselves
    presence = {p.user_id: p for p in (await session.scalars(select(Presence))).all()}
    assert all(presence[u.id].state == "available" for u in bots.values())
    assert all(presence[u.id].switchboard_code == u.home_switchboard for u in bots.values())
    assert users["demo-counsellor-hanoi"].id not in presence

    # every password printed signs in with the role it says
    for person in first.people:
        r = await login(client, person.account.username, person.password)
        assert r.status_code == 200, (person.account.username, r.text)
        assert r.json()["user"]["roles"] == [person.account.role]
    assert set(first.secrets) == {"hanoi", "danang", "angiang"} and not first.no_credential

    # a second start: the same users, new passwords (the old ones stop working), one credential each
    second = await demo.setup_demo(session, KEYRING)
    assert set(await _users(session)) == set(users)
    assert {u.user_id for u in second.people} == {u.user_id for u in first.people}
    assert not any(u.created for u in second.people + second.bots)
    for before, after in zip(first.people, second.people, strict=True):
        assert before.password != after.password
        assert (await login(client, after.account.username, after.password)).status_code == 200
    assert (await login(client, "demo-admin", first.people[-1].password)).status_code == 401
    active = (
        await session.execute(
            text(
                "SELECT switchboard_code, count(*) FROM switchboard_credentials "
                "WHERE label = :l AND revoked_at IS NULL GROUP BY 1"
            ),
            {"l": demo.CREDENTIAL_LABEL},
        )
    ).all()
    assert dict(active) == {"hanoi": 1, "danang": 1, "angiang": 1}
    assert second.secrets != first.secrets
    revoked = await session.scalars(
        select(SwitchboardCredential).where(SwitchboardCredential.revoked_at.is_not(None))
    )
    assert len(revoked.all()) == 3


async def test_bots_become_available_again_after_a_miss_or_their_wrap_up(session):
    setup = await demo.setup_demo(session, KEYRING)
    missed, wrapping, done, resting = (u.user_id for u in setup.bots[:4])
    for user_id, state, until in (
        (missed, "missed", None),
        (wrapping, "wrap_up", "1 minute"),
        (done, "wrap_up", "-1 second"),
        (resting, "break", None),
    ):
        await session.execute(
            text(
                "UPDATE counsellor_presence SET state = :s, "
                "wrap_up_until = now() + CAST(:until AS interval) WHERE user_id = :u"
            ),
            {"s": state, "until": until, "u": user_id},
        )
    assert await demo.tend_bots(session, setup.bot_ids) == 2
    rows = dict((await session.execute(text("SELECT user_id, state FROM counsellor_presence"))).all())
    assert (rows[missed], rows[wrapping], rows[done], rows[resting]) == (
        "available",
        "wrap_up",
        "available",
        "break",
    )


# ---- one live call ----------------------------------------------------------------------------------


async def test_a_live_call_rings_the_available_counsellor_who_answers_and_wraps_up(
    client, session, server_url
):
    counsellor = await make_user(session, "counsellor", switchboard="hanoi", extension="PJSIP/1012")
    signed_in = await login(client, counsellor.username)
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    r = await client.put("/api/v1/me/presence", json={"state": "available"}, headers=headers)
    assert r.status_code == 200 and r.json()["state"] == "available", r.text
    secrets = {b: await switchboard_secret(session, b) for b in ("hanoi", "danang", "angiang")}

    seen: list[tuple[str, str]] = []

    async def watch(stage: str, result: LiveCallResult) -> None:
        # what the counsellor's console reads at each moment of the call
        r = await client.get("/api/v1/me/presence", headers=headers)
        seen.append((stage, r.json()["state"]))

    started = time.monotonic()
    result = await live_call(
        client,
        Target(server_url, secrets),
        "hanoi",
        kind="answered",
        caller="0912345678",  # a mobile: the caller's region is the asking switchboard's
        ivr_seconds=0.5,
        ring_seconds=0.5,
        talk_seconds=2,
        rng=random.Random(3),
        on_stage=watch,
    )
    assert time.monotonic() - started < 15
    assert result.outcome == "answered", result
    assert set(result.responses) == {200}, result.responses
    assert result.routes[0]["action"] == "dial" and result.dial_targets == ["PJSIP/1012"]
    assert result.counsellor == "PJSIP/1012" and result.answered_switchboard == "hanoi"
    states = dict(seen)
    assert (states["ringing"], states["connected"], states["ended"]) == ("reserved", "on_call", "wrap_up"), (
        seen
    )

    call = await session.scalar(
        select(Call).where(Call.switchboard_code == "hanoi", Call.linkedid == result.linkedid)
    )
    assert call is not None
    assert call.outcome == "answered" and call.counsellor_user_id == counsellor.id
    assert call.answered_at is not None and call.ended_at is not None
    talk = (call.ended_at - call.answered_at).total_seconds()
    assert 1.5 <= talk < 5, talk  # the events were posted at the moments they happened
    decision = await session.scalar(
        select(RoutingDecision).where(RoutingDecision.linkedid == result.linkedid)
    )
    assert decision is not None
    assert (decision.action, decision.target, decision.counsellor_user_id) == (
        "dial",
        "PJSIP/1012",
        counsellor.id,
    )


async def test_a_live_call_from_another_region_is_transferred_and_answered_there(client, session, server_url):
    counsellor = await make_user(session, "counsellor", switchboard="hanoi", extension="PJSIP/1012")
    session.add(Presence(user_id=counsellor.id, switchboard_code="hanoi", state="available"))
    await session.flush()
    secrets = {b: await switchboard_secret(session, b) for b in ("hanoi", "danang", "angiang")}
    result = await live_call(
        client,
        Target(server_url, secrets),
        "danang",
        caller="02438221234",  # a Hà Nội landline: the North's call
        ivr_seconds=0.3,
        ring_seconds=0.3,
        talk_seconds=1,
        rng=random.Random(5),
    )
    assert [(r["switchboard"], r["action"]) for r in result.routes] == [
        ("danang", "transfer"),
        ("hanoi", "dial"),
    ]
    assert (result.routes[0]["target"], result.routes[0]["reason"]) == ("IAX2/hanoi-trunk/111", "area_code")
    assert (result.routes[1]["target"], result.routes[1]["reason"]) == ("PJSIP/1012", "longest_idle")
    assert result.outcome == "answered" and result.answered_switchboard == "hanoi"
    assert [board for board, _ in result.legs] == ["hanoi"]
    # one call, counted where it entered, answered by the counsellor at Hà Nội
    calls = (
        await session.scalars(select(Call).where(Call.linkedid.in_([result.linkedid, result.legs[0][1]])))
    ).all()
    assert [(c.switchboard_code, c.linkedid) for c in calls] == [("danang", result.linkedid)]
    assert calls[0].outcome == "answered" and calls[0].answered_switchboard == "hanoi"
    assert calls[0].counsellor_user_id == counsellor.id


async def test_a_live_caller_waits_asks_again_and_abandons_when_nobody_is_free(client, session, server_url):
    secrets = {b: await switchboard_secret(session, b) for b in ("hanoi", "danang", "angiang")}
    await session.execute(
        text("UPDATE routing_settings SET wait_seconds = 3 WHERE switchboard_code = 'hanoi'")
    )
    engine.clear_cache()
    result = await live_call(
        client,
        Target(server_url, secrets),
        "hanoi",
        kind="abandoned",
        caller="0912345679",
        ivr_seconds=0.3,
        patience_seconds=4,
        rng=random.Random(4),
    )
    # nobody is signed in anywhere: Hà Nội keeps the call (it is the last resort) and says wait
    assert [r["action"] for r in result.routes] == ["wait", "wait"], result.routes
    assert [r.get("seconds") for r in result.routes] == ["3", "3"]
    assert result.outcome == "abandoned" and result.counsellor is None
    call = await session.scalar(select(Call).where(Call.linkedid == result.linkedid))
    assert call is not None and call.outcome == "abandoned"
    attempts = await session.scalars(
        select(RoutingDecision.attempt)
        .where(RoutingDecision.linkedid == result.linkedid)
        .order_by(RoutingDecision.id)
    )
    assert attempts.all() == [1, 2]


# ---- serve --demo, end to end ------------------------------------------------------------------------


@pytest.fixture
def services() -> Iterator[Services]:
    """Whatever the outcome, the services are killed and their PostgreSQL stopped (test_serve.py)."""
    svc = Services()
    try:
        yield svc
    finally:
        svc.close()


class DemoServe(Serve):
    def start(self) -> DemoServe:
        cmd = [sys.executable, "-m", "hotline_api", "serve", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data), "--demo", "--demo-rate", "40"]
        with self._log("out").open("wb") as out, self._log("err").open("wb") as err:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=err,
                env=_env(self.env_extra),
                cwd=self.data.parent,
                start_new_session=True,
            )
        return self


def _demo_passwords(stdout: str) -> dict[str, str]:
    """user name → password, from the table serve --demo prints."""
    found = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 5 and re.fullmatch(r"demo-[a-z-]+", words[0]) and words[1] in ROLES:
            found[words[0]] = words[-1]
    return found


def test_serve_demo_prints_the_users_and_calls_arrive(services: Services):
    data = services.new_data_dir()
    serve = DemoServe(data)
    services.started.append(serve)
    serve.start()
    serve.wait_ready()
    postmaster = _postmaster_pid(data)
    assert postmaster is not None

    passwords = _demo_passwords(serve.stdout)
    assert set(passwords) == {a.username for a in demo.ACCOUNTS}, serve.output()
    assert f"http://127.0.0.1:{serve.port}/console" in serve.stdout
    assert "DEMO MODE" in serve.stderr and "trial installation" in " ".join(serve.stderr.split())

    with httpx.Client(base_url=serve.url, timeout=10) as http:
        r = http.post(
            "/api/v1/auth/login", json={"username": "demo-national", "password": passwords["demo-national"]}
        )
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        deadline = time.monotonic() + 30
        calls: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            r = http.get("/api/v1/calls", headers=headers)
            assert r.status_code == 200, r.text
            calls = r.json()["calls"]
            if len(calls) >= 3 and any(c["counsellor_extension"] for c in calls):
                break
            time.sleep(0.5)
        assert len(calls) >= 3, serve.output()
        # routed to a simulated counsellor, who answers
        assert any(c["counsellor_extension"] for c in calls), calls
        # every role signs in
        for name, password in passwords.items():
            assert (
                http.post("/api/v1/auth/login", json={"username": name, "password": password}).status_code
                == 200
            )

    # Ctrl-C: the simulated callers hang up while the service still records it, then all stops
    assert serve.interrupt() in (0, 130), serve.output()
    assert "Traceback" not in serve.stderr, serve.output()
    assert_nothing_left(data, {postmaster})


def test_serve_demo_refuses_several_workers(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hotline_api",
            "serve",
            "--demo",
            "--workers",
            "2",
            "--port",
            str(free_port()),
        ],
        env=_env({"HOTLINE_DATA_DIR": str(tmp_path)}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers 1" in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert not (tmp_path / "postgres").exists()  # refused before anything was started
