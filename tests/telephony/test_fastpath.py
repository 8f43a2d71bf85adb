"""The switchboards' requests skip FastAPI's routing (hotline_api/fastpath.py) but must look exactly
like every other request from outside: request id, security headers, error bodies, metrics."""

from __future__ import annotations

from tests.factories import basic_auth, signed_in, switchboard_secret
from tests.telephony.conftest import new_linkedid, post, scenario


async def test_events_and_route_keep_headers_errors_and_metrics(client, session):
    secret = await switchboard_secret(session, "danang")
    s = scenario(switchboard="danang")
    source, event = next((src, e) for src, e in s.events if src == "ari")
    ok = await post(client, "danang", source, event, secret, headers={"X-Request-ID": "fastpath-test-1"})
    assert ok.status_code == 200 and ok.json()["received"] == 1
    assert ok.headers["x-request-id"] == "fastpath-test-1"
    assert ok.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in ok.headers

    # a HotlineError raised by the handler is rendered as everywhere else
    wrong = await post(client, "danang", "ari", event, "whsec_wrong")
    assert wrong.status_code == 401
    body = wrong.json()["error"]
    assert body["code"] and body["message"] and body["request_id"] == wrong.headers["x-request-id"]
    too_big = await post(client, "danang", "ari", b"x" * (1024 * 1024 + 1), secret)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"]

    answer = await client.post(
        "/webhooks/asterisk/danang/route",
        data={"linkedid": new_linkedid(), "caller": "0912345678"},
        headers=basic_auth("danang", secret),
    )
    assert answer.status_code == 200 and "action=" in answer.text
    assert answer.headers["x-request-id"]

    # what the fast path does not take goes through FastAPI: an unknown source is refused there
    other = await post(client, "danang", "sip", event, secret)
    assert other.status_code in (404, 422)
    get = await client.get("/webhooks/asterisk/danang/ari")
    assert get.status_code == 405

    admin = await signed_in(session, "admin")
    metrics = (await client.get("/metrics", headers=admin.headers)).text
    assert 'route="/webhooks/asterisk/{switchboard}/{source}",status="200"' in metrics
    assert 'route="/webhooks/asterisk/{switchboard}/{source}",status="401"' in metrics
    assert 'route="/webhooks/asterisk/{switchboard}/route",status="200"' in metrics
