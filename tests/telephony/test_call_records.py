"""Call records built from events: outcomes, counsellors, missed offers, overflow legs, the sweeper,
and the same record whatever the order and duplication of the events."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from hotline_api.calls import service as calls_service
from hotline_api.calls.models import Call, CallLeg, CallOffer
from hotline_api.db.session import driver_connection
from hotline_api.telephony import intake
from hotline_api.telephony.scenarios import Scenario, ami_text
from tests.factories import KEYRING, make_user, signed_in, switchboard_secret
from tests.telephony.conftest import new_linkedid, post, scenario, send_all


async def _call(session: AsyncSession, linkedid: str) -> Call:
    call = await session.scalar(
        select(Call).where(Call.linkedid == linkedid).execution_options(populate_existing=True)
    )
    assert call is not None, linkedid
    return call


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("answered", "answered"),
        ("missed_then_answered", "answered"),
        ("abandoned", "abandoned"),
        ("timeout", "timeout"),
        ("not_queued", "not_queued"),
        ("silent", "not_queued"),
        ("failed", "failed"),
    ],
)
async def test_outcomes_from_every_source(client, session, kind, outcome):
    secret = await switchboard_secret(session)
    answerer = await make_user(session, "counsellor", extension="PJSIP/1012")
    misser = await make_user(session, "counsellor", extension="PJSIP/1013")
    s = scenario(kind, caller="0243 822 1234")  # a Hà Nội landline
    await send_all(client, s, secret)
    call = await _call(session, s.linkedid)
    assert call.outcome == outcome
    assert call.switchboard_code == "hanoi" and call.dialled_number == "111"
    assert call.caller_region == "north" and call.caller_province == "01"
    assert KEYRING.decrypt(call.caller_number_enc or b"", "calls.caller_number") == "+842438221234"
    # CDR times are whole seconds: the earliest fact may be the CDR's truncated start
    assert call.started_at is not None and timedelta(0) <= s.start - call.started_at < timedelta(seconds=1)
    if outcome == "answered":
        assert call.counsellor_user_id == answerer.id and call.counsellor_extension == "PJSIP/1012"
        assert call.wait_seconds is not None and call.wait_seconds > 0
        assert call.talk_seconds is not None and call.talk_seconds >= 30
    else:
        assert call.counsellor_user_id is None and call.talk_seconds is None
    if outcome in {"abandoned", "timeout"}:
        assert call.wait_seconds is not None and call.wait_seconds > 0
    if outcome == "timeout":
        assert call.wait_seconds is not None and call.wait_seconds >= 300
    if outcome in {"not_queued", "failed"}:
        assert call.wait_started_at is None and call.wait_seconds is None
    if outcome == "failed":
        assert call.ivr_answered_at is None and call.hangup_cause == 34
    offers = (await session.scalars(select(CallOffer).where(CallOffer.call_id == call.id))).all()
    if kind == "missed_then_answered":
        assert [(o.extension, o.user_id, o.result) for o in offers] == [("PJSIP/1013", misser.id, "noanswer")]
    else:
        assert offers == []


async def test_each_source_alone_tells_the_outcome(client, session):
    """A switchboard may send only ARI, or only AMI with Queue(): either is enough."""
    secret = await switchboard_secret(session)
    await make_user(session, "counsellor", extension="PJSIP/1012")
    for sources, kind, outcome in [
        ({"ari"}, "answered", "answered"),
        ({"ami"}, "answered", "answered"),
        ({"ami"}, "abandoned", "abandoned"),
        ({"ami"}, "timeout", "timeout"),
        ({"ari"}, "timeout", "not_queued"),  # ARI alone never shows the wait (the /route dialogue does)
        ({"ari"}, "failed", "failed"),
        ({"cdr"}, "failed", "failed"),
        ({"cel"}, "not_queued", "not_queued"),
    ]:
        s = scenario(kind)
        await send_all(client, s, secret, sources)
        call = await _call(session, s.linkedid)
        assert call.outcome == outcome, (sources, kind)


async def test_local_channels_are_ignored(client, session):
    secret = await switchboard_secret(session)
    lk = new_linkedid()
    event = {
        "Event": "Newchannel",
        "Timestamp": "1748744102.5",
        "Channel": "Local/1012@agents-00000001;1",
        "ChannelState": "0",
        "Uniqueid": lk + "5",
        "Linkedid": lk,
        "CallerIDNum": "0912345678",
        "Exten": "111",
    }
    r = await post(client, "hanoi", "ami", [event], secret)
    assert r.status_code == 200 and r.json()["stored"] == 1
    assert await session.scalar(select(func.count()).select_from(Call).where(Call.linkedid == lk)) == 0


async def test_ami_without_timestamps_uses_arrival_time(client, session):
    secret = await switchboard_secret(session)
    s = scenario("abandoned")
    ami = [{k: v for k, v in e.items() if k != "Timestamp"} for src, e in s.events if src == "ami"]
    r = await post(client, "hanoi", "ami", ami_text(ami), secret, content_type="text/plain")
    assert r.status_code == 200
    call = await _call(session, s.linkedid)
    assert call.outcome == "abandoned"
    assert call.started_at is not None and abs(call.started_at - datetime.now(UTC)) < timedelta(minutes=1)


# ---- overflow between switchboards ------------------------------------------------------------------


def _overflow_pair() -> tuple[Scenario, Scenario]:
    start = datetime.now(UTC) - timedelta(hours=1)
    hanoi = scenario("abandoned", switchboard="hanoi", start=start, caller="0905111222")
    danang = scenario(
        "answered",
        switchboard="danang",
        start=start + timedelta(seconds=40),
        caller="0905111222",
        counsellor="PJSIP/2012",
        origin=f"hanoi:{hanoi.linkedid}",
    )
    # the Hà Nội leg did not end by abandoning: it was transferred; drop the abandon event
    hanoi.events = [(src, e) for src, e in hanoi.events if e.get("Event") != "QueueCallerAbandon"]
    return hanoi, danang


def _record(call: Call) -> dict[str, Any]:
    keys = (
        "switchboard_code",
        "linkedid",
        "started_at",
        "answered_at",
        "ended_at",
        "outcome",
        "counsellor_user_id",
        "answered_switchboard",
        "wait_started_at",
        "caller_hash",
        "dialled_number",
    )
    return {k: getattr(call, k) for k in keys}


@pytest.mark.parametrize("order", ["origin_first", "leg_first"])
async def test_an_overflowed_call_is_one_call(client, session, order):
    hanoi_secret = await switchboard_secret(session, "hanoi")
    danang_secret = await switchboard_secret(session, "danang")
    counsellor = await make_user(session, "counsellor", switchboard="danang", extension="PJSIP/2012")
    hanoi, danang = _overflow_pair()
    if order == "origin_first":
        await send_all(client, hanoi, hanoi_secret)
        await send_all(client, danang, danang_secret, {"ari"})
        await send_all(client, danang, danang_secret, {"ami", "cel", "cdr"})
    else:
        # the danang leg's AMI events (no HOTLINE_ORIGIN) come first and make a provisional call
        await send_all(client, danang, danang_secret, {"ami"})
        assert (
            await session.scalar(
                select(func.count()).select_from(Call).where(Call.linkedid == danang.linkedid)
            )
            == 1
        )
        await send_all(client, danang, danang_secret, {"ari", "cel", "cdr"})
        await send_all(client, hanoi, hanoi_secret)
    calls = (
        await session.scalars(select(Call).where(Call.linkedid.in_([hanoi.linkedid, danang.linkedid])))
    ).all()
    assert len(calls) == 1, "the overflowed call must be counted once"
    call = calls[0]
    assert call.switchboard_code == "hanoi" and call.linkedid == hanoi.linkedid  # where it entered
    assert call.outcome == "answered"
    assert call.answered_switchboard == "danang" and call.counsellor_user_id == counsellor.id
    assert call.started_at is not None and timedelta(0) <= hanoi.start - call.started_at < timedelta(
        seconds=1
    )
    legs = (await session.scalars(select(CallLeg).where(CallLeg.call_id == call.id))).all()
    assert [(leg.switchboard_code, leg.linkedid) for leg in legs] == [("danang", danang.linkedid)]
    from hotline_api.telephony.models import WebhookEvent

    orphans = await session.scalar(
        select(func.count())
        .select_from(WebhookEvent)
        .where(WebhookEvent.linkedid == danang.linkedid, WebhookEvent.call_id != call.id)
    )
    assert orphans == 0


async def test_origin_naming_an_unknown_switchboard_is_refused(client, session):
    secret = await switchboard_secret(session, "danang")
    s = scenario("answered", switchboard="danang", origin="saigon:1748744102.1")
    event = next(e for src, e in s.events if src == "ari")
    r = await post(client, "danang", "ari", event, secret)
    assert r.status_code == 422 and "unknown switchboard 'saigon'" in r.json()["error"]["message"]


# ---- the sweeper ---------------------------------------------------------------------------------


async def test_sweeper_closes_calls_whose_end_never_came(client, session):
    secret = await switchboard_secret(session)
    await make_user(session, "counsellor", extension="PJSIP/1012")
    s = scenario("answered", start=datetime.now(UTC) - timedelta(hours=6))
    events = [(src, e) for src, e in s.events if src == "ami"]
    no_end = [(src, e) for src, e in events if e["Event"] not in {"Hangup", "AgentComplete"}]
    s.events = no_end
    await send_all(client, s, secret)
    call = await _call(session, s.linkedid)
    assert call.outcome == "in_progress"
    fresh = scenario("abandoned", start=datetime.now(UTC) - timedelta(minutes=5))
    fresh.events = fresh.events[:3]
    await send_all(client, fresh, secret)
    closed = await calls_service.sweep(session, timedelta(hours=4))
    assert closed == 1
    call = await _call(session, s.linkedid)
    assert call.outcome == "answered"  # what the events prove
    assert call.sweeper_end_at == call.last_event_at and call.swept_at is not None and call.ended_at is None
    assert (await _call(session, fresh.linkedid)).outcome == "in_progress"
    # the real end arrives after all: it wins, and the call is no longer marked as swept
    hangup = [(src, e) for src, e in events if e["Event"] == "Hangup"]
    s.events = hangup
    await send_all(client, s, secret)
    call = await _call(session, s.linkedid)
    assert call.ended_at is not None and call.talk_seconds is not None
    assert call.talk_seconds == (call.ended_at - call.answered_at).total_seconds()  # type: ignore[operator]


async def test_sweeper_runs_in_one_process_at_a_time(engine):
    from sqlalchemy import text

    from hotline_api.calls.sweeper import _SWEEP_LOCK, sweep_once
    from hotline_api.db.session import make_sessionmaker

    maker = make_sessionmaker(engine)
    async with engine.connect() as other:
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _SWEEP_LOCK})
        assert await sweep_once(maker, timedelta(hours=4)) is None  # someone else is sweeping
        await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SWEEP_LOCK})
        await other.commit()
    assert await sweep_once(maker, timedelta(days=3650)) == 0


# ---- any order, any duplication: the same record ---------------------------------------------------

FIELDS = (
    "started_at",
    "last_event_at",
    "dialled_number",
    "caller_hash",
    "caller_province",
    "caller_region",
    "ivr_answered_at",
    "wait_started_at",
    "answered_at",
    "counsellor_extension",
    "counsellor_user_id",
    "answered_switchboard",
    "timed_out_at",
    "queue_refused_at",
    "ended_at",
    "hangup_cause",
    "outcome",
    "wait_seconds",
    "talk_seconds",
)


async def _snapshot(session: AsyncSession, linkedid: str) -> dict[str, Any]:
    call = await session.scalar(select(Call).where(Call.linkedid == linkedid))
    assert call is not None
    snap = {f: getattr(call, f) for f in FIELDS}
    snap["caller"] = KEYRING.decrypt_optional(call.caller_number_enc, "calls.caller_number")
    offers = (await session.scalars(select(CallOffer).where(CallOffer.call_id == call.id))).all()
    snap["offers"] = sorted((o.extension, o.offered_at, o.result) for o in offers)
    return snap


async def _ingest(
    session: AsyncSession, s: Scenario, batches: list[list[tuple[str, dict[str, Any]]]]
) -> None:
    import json

    for batch in batches:
        by_source: dict[str, list[dict[str, Any]]] = {}
        for src, e in batch:
            by_source.setdefault(src, []).append(e)
        for src, events in by_source.items():
            body = ami_text(events) if src == "ami" else json.dumps(events).encode()
            ctype = "text/plain" if src == "ami" else "application/json"
            conn = await driver_connection(session)
            async with conn.transaction():
                await intake.ingest(conn, KEYRING, s.switchboard, src, body, ctype, None, datetime.now(UTC))


async def _same_record_whatever_the_order(
    database_url: str, kind: str, seed: int, dup_rate: float, max_batch: int, sources: frozenset[str]
) -> None:
    calls_service.clear_cache()
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            trans = await conn.begin()
            session = AsyncSession(
                bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
            await make_user(session, "counsellor", extension="PJSIP/1012")
            await make_user(session, "counsellor", extension="PJSIP/1013")
            start = datetime(2026, 3, 8, 23, 50, tzinfo=UTC)
            ordered = scenario(kind, start=start, rng=random.Random(seed))
            shuffled = scenario(kind, start=start, rng=random.Random(seed))
            pick = [(src, e) for src, e in ordered.events if src in sources]
            stream = [(src, e) for src, e in shuffled.events if src in sources]
            await _ingest(session, ordered, [[ev] for ev in pick])
            rnd = random.Random(seed * 7919 + 1)
            mixed = stream + [ev for ev in stream if rnd.random() < dup_rate]
            rnd.shuffle(mixed)
            batches = []
            while mixed:
                size = rnd.randint(1, max_batch)
                batches.append(mixed[:size])
                mixed = mixed[size:]
            await _ingest(session, shuffled, batches)
            a = await _snapshot(session, ordered.linkedid)
            b = await _snapshot(session, shuffled.linkedid)
            await session.close()
            await trans.rollback()
        assert a == b
    finally:
        await engine.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(
        ["answered", "missed_then_answered", "abandoned", "timeout", "not_queued", "failed"]
    ),
    seed=st.integers(min_value=0, max_value=10_000),
    dup_rate=st.floats(min_value=0, max_value=1),
    max_batch=st.integers(min_value=1, max_value=25),
    sources=st.sets(st.sampled_from(["ari", "ami", "cdr", "cel"]), min_size=1).map(frozenset),
)
def test_any_order_and_any_duplication_give_the_same_record(
    database_url, kind, seed, dup_rate, max_batch, sources
):
    asyncio.run(_same_record_whatever_the_order(database_url, kind, seed, dup_rate, max_batch, sources))


# ---- reading calls -----------------------------------------------------------------------------------


async def test_calls_are_read_within_scope_and_numbers_are_audited(client, session):
    from hotline_api.audit.models import AuditEntry

    hanoi = await switchboard_secret(session, "hanoi")
    angiang = await switchboard_secret(session, "angiang")
    handler = await signed_in(session, "counsellor")
    from hotline_api.auth.models import UserExtension

    session.add(UserExtension(user_id=handler.user.id, switchboard_code="hanoi", extension="PJSIP/1012"))
    await session.flush()
    answered = scenario("answered", caller="0912000111")
    other = scenario("abandoned", caller="0912000222")
    south = scenario("not_queued", switchboard="angiang", caller="02963123456")
    await send_all(client, answered, hanoi)
    await send_all(client, other, hanoi)
    await send_all(client, south, angiang)

    colleague = await signed_in(session, "counsellor")
    supervisor = await signed_in(session, "supervisor")
    south_supervisor = await signed_in(session, "supervisor", switchboard="angiang")
    national = await signed_in(session, "national_supervisor")

    def numbers(page: dict[str, Any]) -> dict[str, str | None]:
        return {c["linkedid"]: c["caller_number"] for c in page["calls"]}

    mine = (await client.get("/api/v1/calls", headers=handler.headers)).json()
    assert set(numbers(mine)) == {answered.linkedid, other.linkedid}
    assert numbers(mine)[answered.linkedid] == "+84912000111"  # the call they handled
    assert numbers(mine)[other.linkedid] is None
    theirs = (await client.get("/api/v1/calls", headers=colleague.headers)).json()
    assert set(numbers(theirs).values()) == {None}
    sup = (await client.get("/api/v1/calls", headers=supervisor.headers)).json()
    assert numbers(sup) == {answered.linkedid: "+84912000111", other.linkedid: "+84912000222"}
    south_view = (await client.get("/api/v1/calls", headers=south_supervisor.headers)).json()
    assert numbers(south_view) == {south.linkedid: "+842963123456"}
    everything = (await client.get("/api/v1/calls", headers=national.headers)).json()
    assert len(everything["calls"]) == 3 and None not in numbers(everything).values()
    for role in ("analyst", "admin"):
        someone = await signed_in(session, role)
        assert (await client.get("/api/v1/calls", headers=someone.headers)).status_code == 403

    # filters
    by_outcome = (await client.get("/api/v1/calls?outcome=abandoned", headers=national.headers)).json()
    assert [c["linkedid"] for c in by_outcome["calls"]] == [other.linkedid]
    by_region = (await client.get("/api/v1/calls?region=south", headers=national.headers)).json()
    assert [c["linkedid"] for c in by_region["calls"]] == [south.linkedid]
    by_number = (
        await client.post("/api/v1/calls/search", json={"number": "091 200 0222"}, headers=national.headers)
    ).json()
    assert [c["linkedid"] for c in by_number["calls"]] == [other.linkedid]
    # a number never travels in a URL: the query parameter is not accepted
    everything_again = await client.get(
        "/api/v1/calls", params={"number": "091 200 0222"}, headers=national.headers
    )
    assert len(everything_again.json()["calls"]) == 3
    bad_number = await client.post("/api/v1/calls/search", json={"number": "abc"}, headers=national.headers)
    assert bad_number.status_code == 422 and bad_number.json()["error"]["field"] == "number"
    today = datetime.now(UTC).astimezone().date().isoformat()
    assert (
        await client.get(f"/api/v1/calls?date_from=2020-01-01&date_to={today}", headers=national.headers)
    ).status_code == 200
    bad = await client.get("/api/v1/calls?outcome=lost", headers=national.headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "outcome"
    page = (await client.get("/api/v1/calls?limit=2", headers=national.headers)).json()
    rest = (
        await client.get(f"/api/v1/calls?before_id={page['next_before_id']}", headers=national.headers)
    ).json()
    assert len(page["calls"]) == 2 and len(rest["calls"]) == 1

    # detail with its timeline; outside the scope it does not exist
    call_id = next(c["id"] for c in mine["calls"] if c["linkedid"] == answered.linkedid)
    detail = await client.get(f"/api/v1/calls/{call_id}", headers=handler.headers)
    assert detail.status_code == 200
    body = detail.json()
    assert body["outcome"] == "answered" and body["caller_number"] == "+84912000111"
    assert len(body["timeline"]) == len(answered.events)
    assert {t["source"] for t in body["timeline"]} == {"ari", "ami", "cdr", "cel"}
    assert (await client.get(f"/api/v1/calls/{call_id}", headers=south_supervisor.headers)).status_code == 404

    views = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "view_number"))).all()
    assert any(handler.user.id == v.actor_user_id and answered_id_in(v.details, call_id) for v in views)
    searches = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "search_by_number"))
    ).all()
    assert len(searches) == 1 and "0912000222" not in str(searches[0].details)


def answered_id_in(details: dict[str, Any], call_id: int) -> bool:
    return call_id in details.get("call_ids", [])
