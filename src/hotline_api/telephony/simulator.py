"""``hotline-api simulate``: the three switchboards' event streams, posted to a running service.

Each simulated call is a Scenario (telephony/scenarios.py) with a plausible Vietnamese caller —
mobile numbers, and landlines from every province of the switchboard's region — and an outcome drawn
from the hotline's real mix (many silent and short calls, about one in twelve counselled). ARI
carries the channel lifecycle, AMI the queue events, and a CDR is posted at hangup, each the way a
PBX sends it: ARI events one per request (as the dialplan's CURL() would) or in batches (a relay).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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


async def ask_route(client: httpx.AsyncClient, target: Target, s: Scenario, tally: Tally) -> None:
    """The dialplan's question before the queue: a dial answer names the counsellor who will
    answer in this simulated call (their extension must be registered for a name to show)."""
    from urllib.parse import parse_qsl, urlencode

    body = urlencode(
        {"linkedid": s.linkedid, "uniqueid": s.linkedid, "caller": s.caller, "exten": s.exten, "attempt": "1"}
    ).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **target.headers(s.switchboard, body, f"sim_{s.linkedid}_route"),
    }
    try:
        r = await client.post(
            f"{target.url}/webhooks/asterisk/{s.switchboard}/route", content=body, headers=headers
        )
    except httpx.TransportError:
        return
    tally.responses[r.status_code] += 1
    answer = dict(parse_qsl(r.text))
    tally.routes[answer.get("action", "none")] += 1
    if answer.get("action") == "dial" and answer.get("target"):
        s.counsellor = answer["target"]
        s.build()


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
        headers = {"Content-Type": ctype, **target.headers(s.switchboard, body, f"sim_{s.linkedid}_{i}")}
        for attempt in range(5):
            try:
                r = await client.post(
                    f"{target.url}/webhooks/asterisk/{s.switchboard}/{source}", content=body, headers=headers
                )
            except httpx.TransportError:
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            tally.responses[r.status_code] += 1
            if r.status_code == 200:
                tally.events += int(r.json().get("received", 0))
                break
            if r.status_code == 503:
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                continue
            break
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
