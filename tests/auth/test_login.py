from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from hotline_api.auth.models import AuthToken
from tests.factories import PASSWORD, login, make_user, signed_in


async def test_login_gives_token_and_secure_cookies(client, session):
    user = await make_user(session, "counsellor", username="hoa.nguyen")
    r = await login(client, "Hoa.Nguyen")  # user names are case-insensitive
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["csrf_token"]
    assert body["user"]["username"] == "hoa.nguyen" and body["user"]["roles"] == ["counsellor"]
    assert "password" not in r.text.lower().replace("password_", "")
    cookies = r.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("hotline_session="))
    for flag in ("HttpOnly", "Secure", "SameSite=strict"):
        assert flag.lower() in session_cookie.lower()
    csrf_cookie = next(c for c in cookies if c.startswith("hotline_csrf="))
    assert "httponly" not in csrf_cookie.lower() and "secure" in csrf_cookie.lower()
    assert r.headers["cache-control"] == "no-store"
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == user.id


async def test_wrong_password_and_unknown_user_look_the_same(client, session):
    await make_user(session, username="minh.le")
    a = await login(client, "minh.le", "wrong password here")
    b = await login(client, "nobody.here", "wrong password here")
    assert a.status_code == b.status_code == 401
    assert a.json()["error"]["message"] == b.json()["error"]["message"] == "wrong user name or password"


async def test_disabled_user_cannot_sign_in(client, session):
    await make_user(session, username="old.staff", active=False)
    assert (await login(client, "old.staff")).status_code == 401


async def test_repeated_failures_are_throttled(client, session):
    await make_user(session, username="target.user")
    for _ in range(5):
        assert (await login(client, "target.user", "guess-guess-guess")).status_code == 401
    r = await login(client, "target.user")  # even the right password waits now
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 15 * 60
    assert "too many failed sign-ins" in r.json()["error"]["message"]
    # another user from the same address is not locked out by this user's failures
    await make_user(session, username="colleague")
    assert (await login(client, "colleague")).status_code == 200


async def test_failures_from_one_address_are_throttled_across_user_names(client, session):
    for i in range(20):
        assert (await login(client, f"sprayed{i}", "guess-guess-guess")).status_code == 401
    await make_user(session, username="innocent")
    assert (await login(client, "innocent")).status_code == 429


async def test_logout_revokes_the_token(client, session):
    await make_user(session, username="ca.dem")
    token = (await login(client, "ca.dem")).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    r = await client.post("/api/v1/auth/logout", headers=headers)
    assert r.status_code == 204
    assert any(
        c.startswith("hotline_session=") and "max-age=0" in c.lower()
        for c in r.headers.get_list("set-cookie")
    )
    after = await client.get("/api/v1/auth/me", headers=headers)
    assert after.status_code == 401
    assert "sign in again" in after.json()["error"]["message"]


async def test_expired_token_is_refused(client, session):
    me = await signed_in(session, "counsellor")
    await session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == me.user.id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    r = await client.get("/api/v1/auth/me", headers=me.headers)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_garbage_token_is_refused(client):
    r = await client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


async def test_cookie_session_needs_csrf_token_for_changes(client, session):
    await make_user(session, "admin", username="cookie.admin")
    r = await login(client, "cookie.admin")
    token, csrf = r.json()["access_token"], r.json()["csrf_token"]
    # a browser sends the cookie by itself; here we send it the same way (httpx will not send a
    # Secure cookie over plain http, so the header is set by hand)
    cookie = {"Cookie": f"hotline_session={token}"}
    assert (await client.get("/api/v1/auth/me", headers=cookie)).status_code == 200  # reads need no CSRF
    new_user = {
        "username": "csrf.victim",
        "display_name": "X",
        "roles": ["analyst"],
        "home_switchboard": "hanoi",
    }
    forged = await client.post("/api/v1/users", headers=cookie, json=new_user)
    assert forged.status_code == 403 and "X-CSRF-Token" in forged.json()["error"]["message"]
    wrong = await client.post("/api/v1/users", headers={**cookie, "X-CSRF-Token": "0" * 64}, json=new_user)
    assert wrong.status_code == 403
    ok = await client.post("/api/v1/users", headers={**cookie, "X-CSRF-Token": csrf}, json=new_user)
    assert ok.status_code == 201
    # a bearer token is not sent by browsers on their own: no CSRF token needed
    bearer = await client.post(
        "/api/v1/users",
        headers={"Authorization": f"Bearer {token}"},
        json={**new_user, "username": "bearer.made"},
    )
    assert bearer.status_code == 201
    # logout through the cookie needs it too
    assert (await client.post("/api/v1/auth/logout", headers=cookie)).status_code == 403
    assert (
        await client.post("/api/v1/auth/logout", headers={**cookie, "X-CSRF-Token": csrf})
    ).status_code == 204


async def test_change_own_password_ends_sessions(client, session):
    await make_user(session, username="doi.mat.khau")
    token = (await login(client, "doi.mat.khau")).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    bad = await client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": "nope", "new_password": "một mật khẩu mới dài"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "current_password"
    short = await client.post(
        "/api/v1/auth/password", headers=headers, json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert short.status_code == 422 and "12 characters" in short.json()["error"]["message"]
    ok = await client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "một mật khẩu mới dài"},
    )
    assert ok.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    assert (await login(client, "doi.mat.khau", "một mật khẩu mới dài")).status_code == 200


async def test_login_validation_errors_name_the_field(client):
    r = await client.post("/api/v1/auth/login", json={"username": "x"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "password"
    r = await client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
