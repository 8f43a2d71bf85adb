from __future__ import annotations

import json
import logging

import pytest

from hotline_api.config import Settings
from tests.factories import login, make_user, signed_in


async def test_metrics_need_admin_or_metrics_token(client, session, app):
    admin = await signed_in(session, "admin")
    counsellor = await signed_in(session, "counsellor")
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=counsellor.headers)).status_code == 403
    await client.get("/healthz")
    r = await client.get("/metrics", headers=admin.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert 'hotline_http_requests_total{method="GET",route="/healthz",status="200"}' in r.text
    assert "hotline_http_request_duration_seconds_bucket" in r.text


async def test_metrics_token(client, app):
    from pydantic import SecretStr

    original = app.state.settings
    app.state.settings = original.model_copy(
        update={"metrics_token": SecretStr("prometheus-scrape-token-1234")}
    )
    try:
        r = await client.get("/metrics", headers={"Authorization": "Bearer prometheus-scrape-token-1234"})
        assert r.status_code == 200
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer prometheus-scrape-token-9999"})
        assert wrong.status_code == 401
    finally:
        app.state.settings = original


async def test_security_headers_and_request_id(client):
    r = await client.get("/healthz", headers={"X-Request-ID": "abc12345-from-proxy"})
    assert r.headers["x-request-id"] == "abc12345-from-proxy"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"


async def test_error_bodies_say_what_went_wrong(client):
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "not_found" and err["request_id"] == r.headers["x-request-id"]


async def test_logs_are_json_with_request_id_and_no_personal_data(client, session):
    import io

    from hotline_api.observability import configure_logging

    configure_logging("info")
    root = logging.getLogger()
    service_handler = root.handlers[0]
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(service_handler.formatter)
    for f in service_handler.filters:
        capture.addFilter(f)
    # what the service logs; the test's own HTTP client logs its URLs, which is not the service
    capture.addFilter(lambda rec: not rec.name.startswith(("httpx", "httpcore")))
    root.addHandler(capture)
    try:
        await make_user(session, username="log.check")
        secret_number = "0912345678"
        await client.get(f"/api/v1/reference/provinces?phone={secret_number}")
        await login(client, "log.check", "Nguyễn-wrong-password")
    finally:
        root.removeHandler(capture)
    lines = [line for line in buffer.getvalue().splitlines() if line]
    parsed = [json.loads(line) for line in lines]
    access = [p for p in parsed if p["logger"] == "hotline_api.access"]
    assert len(access) == 2 and all(p["request_id"] for p in access)
    assert {"method", "route", "status", "duration_ms"} <= set(access[0])
    assert access[0]["route"] == "/api/v1/reference/provinces"
    text = "\n".join(lines)
    assert secret_number not in text and "Nguyễn-wrong-password" not in text and "log.check" not in text


async def test_database_outage_answers_503_with_retry_after(settings):
    """A request that needs the database while it is away gets 503 and Retry-After, not a 500."""
    from tests.factories import dead_database_client

    async with dead_database_client(settings) as c:
        r = await c.get("/api/v1/auth/me", headers={"Authorization": "Bearer whatever"})
        assert r.status_code == 503
        assert r.headers["retry-after"] == "5"
        assert r.json()["error"]["code"] == "service_unavailable"
        ready = await c.get("/readyz")
        assert ready.status_code == 503


@pytest.mark.parametrize("path", ["/readyz"])
async def test_readyz_reports_schema(client, path):
    r = await client.get(path)
    assert r.json()["schema"]


async def test_readyz_says_when_schema_is_behind(app, client):
    original = app.state.head_revision
    app.state.head_revision = "9999_future"
    try:
        r = await client.get("/readyz")
        assert r.status_code == 503 and "hotline-api migrate" in r.json()["reason"]
    finally:
        app.state.head_revision = original


def test_settings_defaults_are_safe():
    s = Settings(_env_file=None)
    assert s.host == "127.0.0.1"
    assert s.migrate_on_start is True


async def test_a_silent_switchboard_shows_in_metrics(client, session, app):
    from tests.factories import switchboard_secret
    from tests.telephony.conftest import post, scenario

    admin = await signed_in(session, "admin")
    secret = await switchboard_secret(session, "danang")
    s = scenario("not_queued", switchboard="danang")
    await post(client, "danang", "cdr", [e for src, e in s.events if src == "cdr"], secret)
    text = (await client.get("/metrics", headers=admin.headers)).text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith('hotline_switchboard_last_event_timestamp_seconds{switchboard="danang"}')
    )
    import time

    assert abs(float(line.split()[-1]) - time.time()) < 60
    assert 'hotline_webhook_events_total{result="stored",source="cdr",switchboard="danang"}' in text
    # after a restart the gauge starts from the database
    from hotline_api.app import load_last_event_times
    from hotline_api.observability import WEBHOOK_LAST_EVENT

    WEBHOOK_LAST_EVENT.clear()
    await load_last_event_times(session)
    text = (await client.get("/metrics", headers=admin.headers)).text
    assert 'hotline_switchboard_last_event_timestamp_seconds{switchboard="danang"}' in text
