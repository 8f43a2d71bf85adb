"""``hotline-api simulate``: the three switchboards' event streams, posted to a running service.

Each simulated call is a Scenario (telephony/scenarios.py) with a plausible Vietnamese caller —
mobile numbers, and landlines from every province of the switchboard's region — and an outcome drawn
from the hotline's real mix (many silent and short calls, about one in twelve counselled). ARI
carries the channel lifecycle, AMI the queue events, and a CDR is posted at hangup, each the way a
PBX sends it: ARI events one per request (as the dialplan's CURL() would) or in batches (a relay).

By default a whole call is posted at once, its timestamps in the call's future. The live mode
(``live_call``, ``run_live``; ``hotline-api simulate --live`` and ``serve --demo``) plays each
call in real time instead: every event posted at the moment it happens, the /route dialogue
followed as the dialplan does, so that a console shows calls arrive, wait, ring and end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from hotline_api.reference.data import provinces
from hotline_api.telephony.scenarios import Scenario, ami_text

SWITCHBOARD_REGION = {"hanoi": "north", "danang": "central", "angiang": "south"}
SWITCHBOARD_WEIGHT = {"hanoi": 0.5, "danang": 0.25, "angiang": 0.25}
# roughly the 111 mix: many silent and short calls, few counselled (PRODUCT.md, facts from the field)
KIND_WEIGHT = {
    "silent": 0.30,
    "not_queued": 0.22,
    "answered": 0.18,
    "missed_then_answered": 0.05,
    "abandoned": 0.15,
    "timeout": 0.05,
    "failed": 0.05,
}
MOBILE_PREFIXES = (
    "090",
    "091",
    "093",
    "094",
    "096",
    "097",
    "098",
    "086",
    "088",
    "089",
    "032",
    "033",
    "034",
    "035",
    "036",
    "037",
    "038",
    "039",
    "070",
    "076",
    "077",
    "078",
    "079",
    "081",
    "082",
    "083",
    "084",
    "085",
    "056",
    "058",
    "059",
)
COUNSELLORS = {
    "hanoi": ["PJSIP/1012", "PJSIP/1013", "PJSIP/1014"],
    "danang": ["PJSIP/2012", "PJSIP/2013"],
    "angiang": ["PJSIP/3012", "PJSIP/3013"],
}


def caller_number(rng: random.Random, switchboard: str) -> str:
    if rng.random() < 0.7:
        return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}"
    region = SWITCHBOARD_REGION[switchboard]
    # now and then a landline from elsewhere: the caller's region is not always the switchboard's
    pool = [p for p in provinces() if p.region == region or rng.random() < 0.1]
    code = rng.choice(rng.choice(pool).area_codes)
    return "0" + code + f"{rng.randrange(10 ** (9 - len(code))):0{9 - len(code)}d}"


def make_call(rng: random.Random, n: int, start: datetime, run: str = "") -> Scenario:
    switchboard = rng.choices(list(SWITCHBOARD_WEIGHT), weights=list(SWITCHBOARD_WEIGHT.values()))[0]
    kind = rng.choices(list(KIND_WEIGHT), weights=list(KIND_WEIGHT.values()))[0]
    counsellors = COUNSELLORS[switchboard]
    # ids look like Asterisk's: [systemname-]epoch.sequence; the run token keeps two runs apart
    linkedid = f"{switchboard}{run}-{int(start.timestamp())}.{n * 20}"
    s = Scenario(
        switchboard=switchboard,
        linkedid=linkedid,
        caller=caller_number(rng, switchboard),
        exten=rng.choice(["111", "111", "111", "18001567"]),
        start=start,
        kind=kind,
        counsellor=rng.choice(counsellors),
        missed_by=rng.choice(counsellors),
        rng=rng,
    )
    s.build()
    return s


@dataclass
class Target:
    url: str
    secrets: dict[str, str]
    sign: bool = False

    def headers(self, switchboard: str, body: bytes, msg_id: str) -> dict[str, str]:
        secret = self.secrets[switchboard]
        if not self.sign:
            token = base64.b64encode(f"{switchboard}:{secret}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        stamp = str(int(time.time()))
        key = base64.b64decode(secret.removeprefix("whsec_"))
        sig = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
        return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": "v1," + sig.decode()}


@dataclass
class Tally:
    calls: Counter[str] = field(default_factory=Counter)
    responses: Counter[int] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    events: int = 0


def requests_for(s: Scenario, batch_ari: bool, with_cel: bool) -> list[tuple[str, bytes, str]]:
    """(source, body, content type) in the order the switchboard would post them."""
    out: list[tuple[str, bytes, str]] = []
    ari = [e for src, e in s.events if src == "ari"]
    if batch_ari:
        out.append(("ari", json.dumps(ari, ensure_ascii=False).encode(), "application/json"))
    else:
        out.extend(("ari", json.dumps(e, ensure_ascii=False).encode(), "application/json") for e in ari)
    queue = [
        e
        for src, e in s.events
        if src == "ami" and (e["Event"].startswith(("Queue", "Agent")) or e["Event"] == "VarSet")
    ]
    if queue:
        out.append(("ami", ami_text(queue), "text/plain"))
    if with_cel:
        cel = [e for src, e in s.events if src == "cel"]
        out.append(("cel", json.dumps(cel, ensure_ascii=False).encode(), "application/json"))
    out.extend(
        ("cdr", json.dumps(e, ensure_ascii=False).encode(), "application/json")
        for src, e in s.events
        if src == "cdr"
    )
    return out


async def _ask(
    client: httpx.AsyncClient, target: Target, switchboard: str, fields: dict[str, str | None], msg_id: str
) -> tuple[int | None, dict[str, str]]:
    """One /route question, form-encoded as the dialplan's CURL() sends it: (status, answer), or
    (None, {}) when the service cannot be reached (the dialplan then falls back to its own Queue())."""
    body = urlencode({k: v for k, v in fields.items() if v is not None}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **target.headers(switchboard, body, msg_id),
    }
    try:
        r = await client.post(
            f"{target.url}/webhooks/asterisk/{switchboard}/route", content=body, headers=headers
        )
    except httpx.TransportError:
        return None, {}
    return r.status_code, dict(parse_qsl(r.text))


async def ask_route(client: httpx.AsyncClient, target: Target, s: Scenario, tally: Tally) -> None:
    """The dialplan's question before the queue: a dial answer names the counsellor who will
    answer in this simulated call (their extension must be registered for a name to show)."""
    fields: dict[str, str | None] = {
        "linkedid": s.linkedid,
        "uniqueid": s.linkedid,
        "caller": s.caller,
        "exten": s.exten,
        "attempt": "1",
    }
    status, answer = await _ask(client, target, s.switchboard, fields, f"sim_{s.linkedid}_route")
    if status is None:
        return
    tally.responses[status] += 1
    tally.routes[answer.get("action", "none")] += 1
    if answer.get("action") == "dial" and answer.get("target"):
        s.counsellor = answer["target"]
        s.build()


async def _post(
    client: httpx.AsyncClient,
    target: Target,
    switchboard: str,
    source: str,
    body: bytes,
    ctype: str,
    msg_id: str,
    responses: Counter[int],
) -> int:
    """Post one request as a PBX would, retrying when the service is unreachable or busy (503);
    returns how many events it accepted."""
    headers = {"Content-Type": ctype, **target.headers(switchboard, body, msg_id)}
    for attempt in range(5):
        try:
            r = await client.post(
                f"{target.url}/webhooks/asterisk/{switchboard}/{source}", content=body, headers=headers
            )
        except httpx.TransportError:
            await asyncio.sleep(0.2 * 2**attempt)
            continue
        responses[r.status_code] += 1
        if r.status_code == 200:
            return int(r.json().get("received", 0))
        if r.status_code == 503:
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))
            continue
        break
    return 0


async def post_call(
    client: httpx.AsyncClient,
    target: Target,
    s: Scenario,
    tally: Tally,
    batch_ari: bool,
    with_cel: bool,
    route: bool = False,
) -> None:
    if route and s.kind not in ("failed", "silent", "not_queued"):
        await ask_route(client, target, s, tally)
    for i, (source, body, ctype) in enumerate(requests_for(s, batch_ari, with_cel)):
        tally.events += await _post(
            client, target, s.switchboard, source, body, ctype, f"sim_{s.linkedid}_{i}", tally.responses
        )
    tally.calls[s.kind] += 1


async def run(
    target: Target,
    count: int,
    rate: float,
    seed: int | None,
    batch_ari: bool = False,
    with_cel: bool = False,
    progress: Any = None,
    concurrency: int = 16,
    route: bool = False,
) -> Tally:
    rng = random.Random(seed)
    run_token = os.urandom(3).hex()
    tally = Tally()
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as client:
        tasks = []
        started = time.monotonic()
        for n in range(count):
            if rate > 0:
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            call = make_call(rng, n, datetime.now(UTC), run_token)

            async def one(c: Scenario = call) -> None:
                async with semaphore:
                    await post_call(client, target, c, tally, batch_ari, with_cel, route)
                if progress is not None:
                    progress()

            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return tally


# ---- live mode --------------------------------------------------------------------------------
#
# Each call is played at the pace of a real one: its events are posted one per request at the moment
# they happen, so that a console shows a call ring, go through the IVR, wait, be offered to a
# counsellor, be answered and end. The call follows the /route dialogue as the example dialplan
# does (docs/asterisk.md §7): asked when the caller joins the queue, again after every `wait` and
# every unanswered `dial`; a `transfer` continues as a leg at the switchboard named, with its origin.

log = logging.getLogger(__name__)
Seconds = float | tuple[float, float]  # a duration, or a range drawn from uniformly
# a member of the switchboard's own Asterisk queue, not registered in the service: who answers
# when the dialplan falls back to Queue() (action=queue, or the service unreachable)
QUEUE_MEMBER = {"hanoi": "PJSIP/1099", "danang": "PJSIP/2099", "angiang": "PJSIP/3099"}
# how long a caller of each kind waits in the queue before hanging up
PATIENCE: dict[str, tuple[float, float]] = {
    "answered": (180.0, 300.0),
    "missed_then_answered": (180.0, 300.0),
    "timeout": (90.0, 180.0),
    "abandoned": (3.0, 45.0),
}
# a call's linkedid and the uniqueids of its channels: base.N, base.N+3 (a missed phone), base.N+7
# (the counsellor's phone), base.N+9 (a trunk); the process token keeps two simulators apart
_PROCESS_TOKEN = os.urandom(3).hex()
_numbers = itertools.count(1)
Stage = Callable[[str, "LiveCallResult"], Awaitable[None]]


@dataclass
class LiveCallResult:
    """What happened to one live call."""

    switchboard: str
    linkedid: str
    kind: str
    caller: str
    # answered, abandoned, timeout (the queue gave up), ivr (ended before the queue), failed,
    # stopped (the simulator was stopped during the call)
    outcome: str = "in_progress"
    # every /route answer in order, each with the switchboard that asked ("switchboard") and its
    # HTTP status ("status"; "none" when the service could not be reached)
    routes: list[dict[str, str]] = field(default_factory=list)
    counsellor: str | None = None  # the dial target that answered
    answered_switchboard: str | None = None
    missed: list[str] = field(default_factory=list)  # dial targets that rang out
    legs: list[tuple[str, str]] = field(default_factory=list)  # (switchboard, linkedid) after transfers
    responses: Counter[int] = field(default_factory=Counter)
    events: int = 0  # events the service accepted

    @property
    def dial_targets(self) -> list[str]:
        return [r["target"] for r in self.routes if r.get("action") == "dial" and r.get("target")]


class _Stopped(Exception):
    """The simulator is stopping: the caller hangs up now."""


def _draw(rng: random.Random, value: Seconds) -> float:
    return rng.uniform(*value) if isinstance(value, tuple) else float(value)


def _now() -> datetime:
    return datetime.now(UTC)


def _switchboard_in(dial_string: str, here: str) -> str | None:
    """The switchboard a transfer's dial string leads to (``IAX2/hanoi-trunk/111`` → hanoi)."""
    for board in SWITCHBOARD_REGION:
        if board != here and board in dial_string:
            return board
    return None


class _Leg:
    """One switchboard's part of a live call: its scenario and the events already posted."""

    def __init__(self, call: _LiveCall, switchboard: str, origin: str | None) -> None:
        self.call = call
        number = next(_numbers)
        self.s = Scenario(
            switchboard=switchboard,
            linkedid=f"{switchboard}{call.run}-{int(time.time())}.{number * 20}",
            caller=call.result.caller,
            exten=call.exten,
            start=_now(),
            kind=call.result.kind,
            origin=origin,
            rng=call.rng,
        )
        self.phase = "new"  # new, ringing_in, ivr, queued, offered, connected, transferred, ended
        self.posted = 0
        self.requests = 0

    async def flush(self) -> None:
        """Post the events the scenario has gained since the last flush, one per request."""
        new, self.posted = self.s.events[self.posted :], len(self.s.events)
        for source, event in new:
            if source == "ami":
                if not (event["Event"].startswith(("Queue", "Agent")) or event["Event"] == "VarSet"):
                    continue  # ARI carries the channels' lifecycle
                body, ctype = ami_text([event]), "text/plain"
            elif source == "cel" and not self.call.with_cel:
                continue
            else:
                body, ctype = json.dumps(event, ensure_ascii=False).encode(), "application/json"
            self.requests += 1
            self.call.result.events += await _post(
                self.call.client,
                self.call.target,
                self.s.switchboard,
                source,
                body,
                ctype,
                f"live_{self.s.linkedid}_{self.requests}",
                self.call.result.responses,
            )

    async def hang_up_now(self) -> None:
        """The caller hangs up at once, whatever the phase (the simulator is stopping)."""
        t = _now()
        if self.phase in ("new", "ended"):
            return
        if self.phase == "ringing_in":
            self.s.answer_ivr(t)
            self.s.hang_up(t)
        elif self.phase == "ivr":
            self.s.hang_up(t)
        elif self.phase in ("queued", "offered"):
            self.s.abandon(t)
            self.s.hang_up(t)
        else:  # connected to a counsellor or a trunk
            self.s.complete(t)
        self.phase = "ended"
        await self.flush()


class _LiveCall:
    def __init__(
        self,
        client: httpx.AsyncClient,
        target: Target,
        switchboard: str,
        kind: str,
        caller: str,
        exten: str,
        rng: random.Random,
        timing: dict[str, Seconds],
        always_answer: frozenset[str],
        stop: asyncio.Event | None,
        on_stage: Stage | None,
        with_cel: bool,
        run: str,
    ) -> None:
        self.client, self.target, self.rng, self.exten = client, target, rng, exten
        self.timing, self.always_answer, self.stop = timing, always_answer, stop
        self.on_stage, self.with_cel, self.run = on_stage, with_cel, run
        self.legs: list[_Leg] = []
        self.result = LiveCallResult(switchboard=switchboard, linkedid="", kind=kind, caller=caller)
        self.deadline = 0.0  # loop time at which the waiting caller gives up

    # -- pacing --

    async def pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.stop is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except TimeoutError:
            return
        raise _Stopped

    def patience_left(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    async def stage(self, name: str) -> None:
        if self.on_stage is not None:
            await self.on_stage(name, self.result)

    # -- the call --

    async def play(self) -> LiveCallResult:
        leg = _Leg(self, self.result.switchboard, None)
        self.legs.append(leg)
        self.result.linkedid = leg.s.linkedid
        try:
            await self._play(leg)
        except _Stopped:
            self.result.outcome = "stopped"
            for each in reversed(self.legs):  # the far end first, then where the call entered
                await each.hang_up_now()
            await self.stage("ended")
        return self.result

    async def _play(self, leg: _Leg) -> None:
        s = leg.s
        s.begin(_now())
        leg.phase = "ringing_in"
        await leg.flush()
        await self.stage("ringing_in")
        if self.result.kind == "failed":
            await self.pause(1.0)
            s.congestion(_now())
            leg.phase = "ended"
            await leg.flush()
            self.result.outcome = "failed"
            await self.stage("ended")
            return
        await self.pause(0.6)
        s.answer_ivr(_now())
        leg.phase = "ivr"
        await leg.flush()
        await self.pause(_draw(self.rng, self.timing["ivr"]))
        s.choose(_now())
        await leg.flush()
        if self.result.kind in ("silent", "not_queued"):
            await self.pause(_draw(self.rng, self.timing["leave"]))
            s.hang_up(_now())
            leg.phase = "ended"
            await leg.flush()
            self.result.outcome = "ivr"
            await self.stage("ended")
            return
        await self.pause(0.5)
        self.deadline = asyncio.get_running_loop().time() + _draw(self.rng, self.timing["patience"])
        await self._queue(leg, origin=None)
        await self.stage("ended")

    async def _route(
        self, leg: _Leg, attempt: int, previous: str | None, origin: str | None
    ) -> dict[str, str]:
        fields: dict[str, str | None] = {
            "linkedid": leg.s.linkedid,
            "uniqueid": leg.s.linkedid,
            "caller": leg.s.caller,
            "exten": leg.s.exten,
            "attempt": str(attempt),
            "previous_target": previous,
            "origin": origin,
        }
        status, answer = await _ask(
            self.client, self.target, leg.s.switchboard, fields, f"live_{leg.s.linkedid}_route{attempt}"
        )
        if status is not None:
            self.result.responses[status] += 1
        answer = dict(answer or {"action": "queue", "reason": "unreachable"})
        self.result.routes.append(
            {**answer, "switchboard": leg.s.switchboard, "status": str(status or "none")}
        )
        return answer

    async def _give_up(self, leg: _Leg) -> None:
        """The caller's patience runs out while waiting or while a phone rings."""
        await self.pause(self.patience_left())
        t = _now()
        if self.result.kind == "timeout":
            leg.s.queue_timeout(t)
            self.result.outcome = "timeout"
        else:
            leg.s.abandon(t)
            self.result.outcome = "abandoned"
        leg.s.hang_up(t)
        leg.phase = "ended"
        await leg.flush()

    async def _talk(self, leg: _Leg, counsellor: str, ring: float) -> None:
        """``counsellor``'s phone rings for ``ring`` seconds, they answer, they talk, the caller hangs up."""
        leg.s.ring(_now(), counsellor)
        leg.phase = "offered"
        await leg.flush()
        await self.stage("ringing")
        if ring > self.patience_left():
            await self._give_up(leg)
            return
        await self.pause(ring)
        leg.s.connect(_now())
        leg.phase = "connected"
        await leg.flush()
        self.result.counsellor = counsellor
        self.result.answered_switchboard = leg.s.switchboard
        await self.stage("connected")
        await self.pause(_draw(self.rng, self.timing["talk"]))
        leg.s.complete(_now())
        leg.phase = "ended"
        await leg.flush()
        self.result.outcome = "answered"

    async def _queue(self, leg: _Leg, origin: str | None) -> None:
        """The caller waits at this leg's switchboard, following the /route answers."""
        leg.s.join_queue(_now())
        leg.phase = "queued"
        await leg.flush()
        attempt, previous = 1, None
        while True:
            answer = await self._route(leg, attempt, previous, origin)
            if attempt == 1:
                await self.stage("queued")
            action, dial = answer.get("action"), answer.get("target")
            previous = None
            if action == "dial" and dial:
                timeout = float(answer.get("timeout") or 20)
                miss = (
                    self.result.kind == "missed_then_answered"
                    and not self.result.missed
                    and dial not in self.always_answer
                )
                if not miss:
                    await self._talk(
                        leg, dial, min(_draw(self.rng, self.timing["ring"]), max(timeout - 1, 0.5))
                    )
                    return
                # the phone rings out; the dialplan asks again, naming the counsellor who did not answer
                leg.s.offer_missed(_now(), dial)
                leg.phase = "offered"
                await leg.flush()
                await self.stage("ringing")
                if timeout > self.patience_left():
                    await self._give_up(leg)
                    return
                await self.pause(timeout)
                leg.s.missed(_now(), int(timeout))
                leg.phase = "queued"
                await leg.flush()
                self.result.missed.append(dial)
                attempt, previous = attempt + 1, dial
                continue
            if action == "wait":
                seconds = float(answer.get("seconds") or 15)
                if seconds > self.patience_left():
                    await self._give_up(leg)
                    return
                await self.pause(seconds)
                attempt += 1
                continue
            board = _switchboard_in(dial or "", leg.s.switchboard) if action == "transfer" else None
            if action == "transfer" and dial:
                await self._transfer(leg, dial, board, origin)
                return
            # queue (or no answer at all): the switchboard's own Queue() and its members take it
            if self.result.kind in ("abandoned", "timeout"):
                await self._give_up(leg)
                return
            await self.pause(min(self.rng.uniform(3, 15), max(self.patience_left(), 0)))
            await self._talk(
                leg, QUEUE_MEMBER.get(leg.s.switchboard, "PJSIP/9099"), _draw(self.rng, self.timing["ring"])
            )
            return

    async def _transfer(self, leg: _Leg, dial: str, board: str | None, origin: str | None) -> None:
        """Over the trunk to ``board``: there a new leg (HOTLINE_ORIGIN set) asks /route again."""
        leg.s.transfer(_now(), dial)
        await leg.flush()
        await self.pause(0.3)
        leg.s.connect(_now())  # the other switchboard's trunk answers
        leg.phase = "transferred"
        await leg.flush()
        await self.stage("transferred")
        if board is None:  # a dial string that leads outside the simulated switchboards
            await self.pause(_draw(self.rng, self.timing["talk"]))
        else:
            there = _Leg(self, board, origin or f"{leg.s.switchboard}:{leg.s.linkedid}")
            self.legs.append(there)
            self.result.legs.append((board, there.s.linkedid))
            there.s.begin(_now())
            there.phase = "ringing_in"
            await there.flush()
            await self.pause(0.3)
            there.s.answer_ivr(_now())  # no second IVR: straight to /route
            there.phase = "ivr"
            await there.flush()
            await self._queue(there, there.s.origin)
        # the caller hangs up (or was hung up on) there: the trunk leg here ends with it
        leg.s.complete(_now())
        leg.phase = "ended"
        await leg.flush()
        if board is None:
            self.result.outcome = "transferred"


async def live_call(
    client: httpx.AsyncClient,
    target: Target,
    switchboard: str,
    *,
    kind: str = "answered",
    caller: str | None = None,
    exten: str = "111",
    talk_seconds: Seconds = (20.0, 90.0),
    ivr_seconds: Seconds = (2.0, 6.0),
    ring_seconds: Seconds = (2.0, 6.0),
    leave_seconds: Seconds = (1.0, 4.0),
    patience_seconds: Seconds | None = None,
    always_answer: Collection[str] = (),
    rng: random.Random | None = None,
    stop: asyncio.Event | None = None,
    on_stage: Stage | None = None,
    with_cel: bool = False,
    run_token: str | None = None,
) -> LiveCallResult:
    """Place one call at ``switchboard`` and play it in real time; returns when it has ended.

    ``kind`` is the caller's behaviour (KIND_WEIGHT's kinds): ``failed`` never gets through;
    ``silent`` and ``not_queued`` hang up in the IVR; the others join the queue and ask /route.
    A ``dial`` answer rings the counsellor it names, who answers after ``ring_seconds`` (before
    the answer's ring timeout) — except the first offer of a ``missed_then_answered`` call, which
    rings out unless the target is in ``always_answer``. ``wait`` waits ``seconds`` and asks
    again (attempt 2, 3 …); ``transfer`` continues at the switchboard its dial string names;
    ``queue`` lets the switchboard's own queue answer. A waiting caller hangs up after
    ``patience_seconds`` (by kind when None; ``abandoned`` callers are impatient). When ``stop``
    is set the caller hangs up at once. ``on_stage(name, result)`` is awaited after the events
    of each stage were accepted: ``ringing_in``, ``queued`` (first /route answer), ``ringing``
    (a counsellor's phone rings), ``connected``, ``transferred``, ``ended``.
    """
    rng = rng or random.Random()
    call = _LiveCall(
        client,
        target,
        switchboard,
        kind,
        caller if caller is not None else caller_number(rng, switchboard),
        exten,
        rng,
        {
            "ivr": ivr_seconds,
            "leave": leave_seconds,
            "ring": ring_seconds,
            "talk": talk_seconds,
            "patience": patience_seconds
            if patience_seconds is not None
            else PATIENCE.get(kind, (180.0, 300.0)),
        },
        frozenset(always_answer),
        stop,
        on_stage,
        with_cel,
        _PROCESS_TOKEN if run_token is None else run_token,
    )
    return await call.play()


async def run_live(
    target: Target,
    rate_per_minute: float,
    stop_event: asyncio.Event,
    seed: int | None = None,
    *,
    kinds: dict[str, float] | None = None,
    switchboards: Collection[str] | None = None,
    always_answer: Collection[str] = (),
    talk_seconds: Seconds = (20.0, 90.0),
    with_cel: bool = False,
    on_call: Callable[[LiveCallResult], None] | None = None,
    max_calls: int | None = None,
) -> Tally:
    """Keep placing live calls across the three switchboards (or ``switchboards``; weighted as
    SWITCHBOARD_WEIGHT) of the kinds of ``kinds`` or KIND_WEIGHT, about ``rate_per_minute`` a minute at random moments, until ``stop_event`` is set
    (every call still going then hangs up at once), or until ``max_calls`` were placed and have
    ended. Returns the tally of the calls made (``calls`` by outcome, see LiveCallResult)."""
    rng = random.Random(seed)
    weights = kinds or KIND_WEIGHT
    boards = {b: w for b, w in SWITCHBOARD_WEIGHT.items() if switchboards is None or b in switchboards}
    run_token = os.urandom(3).hex()
    tally = Tally()
    tasks: set[asyncio.Task[LiveCallResult]] = set()

    def done(task: asyncio.Task[LiveCallResult]) -> None:
        tasks.discard(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            log.warning("a simulated call failed: %r", task.exception())
            return
        result = task.result()
        tally.calls[result.outcome] += 1  # live: what happened (the kind is only the caller's intent)
        tally.responses.update(result.responses)
        tally.routes.update(r.get("action", "none") for r in result.routes)
        tally.events += result.events
        if on_call is not None:
            on_call(result)

    async with httpx.AsyncClient(timeout=30) as client:
        placed = 0
        while not stop_event.is_set() and (max_calls is None or placed < max_calls):
            placed += 1
            switchboard = rng.choices(list(boards), weights=list(boards.values()))[0]
            kind = rng.choices(list(weights), weights=list(weights.values()))[0]
            call_rng = random.Random(rng.getrandbits(64))
            task = asyncio.create_task(
                live_call(
                    client,
                    target,
                    switchboard,
                    kind=kind,
                    exten=call_rng.choice(["111", "111", "111", "18001567"]),
                    talk_seconds=talk_seconds,
                    always_answer=always_answer,
                    rng=call_rng,
                    stop=stop_event,
                    with_cel=with_cel,
                    run_token=run_token,
                )
            )
            tasks.add(task)
            task.add_done_callback(done)
            if max_calls is not None and placed >= max_calls:
                break
            # arrivals at random (a Poisson stream), as calls come in
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), rng.expovariate(rate_per_minute / 60))
        while tasks:
            # the calls still going end by themselves, or hang up at once when stopped
            stopping = stop_event.is_set()
            await asyncio.wait(set(tasks), timeout=20 if stopping else 1)
            if stopping:
                break
    return tally
