"""A password someone else chose — an admin's, generated or typed, at creation or by a reset — is
changed by its owner at the first sign-in, before anything else; changing one's own password ends
every session and needs the current one."""

from __future__ import annotations

import httpx

from tests.factories import PASSWORD, login, signed_in

NEW = "một câu dài mà chỉ tôi nhớ 2026"


def bearer(r: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_a_given_password_must_be_changed_before_anything_else(client, session):
    admin = await signed_in(session, "admin")
    created = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={
            "username": "an.nguyen",
            "display_name": "Nguyễn Văn An",
            "roles": ["counsellor", "analyst"],
            "home_switchboard": "hanoi",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["user"]["password_must_change"] is True
    given = created.json()["one_time_password"]

    first = await login(client, "an.nguyen", given)
    assert first.status_code == 200 and first.json()["user"]["password_must_change"] is True
    headers = bearer(first)
    # everything but the account itself is refused, each time with the reason
    for method, path in (
        ("GET", "/api/v1/cases"),
        ("GET", "/api/v1/me/overdue-contacts"),
        ("GET", "/api/v1/reports/summary"),
        ("GET", "/api/v1/reference/regions"),
        ("GET", "/api/v1/codes"),
        ("GET", "/api/v1/stream"),
        ("PUT", "/api/v1/me/presence"),
    ):
        r = await client.request(method, path, headers=headers, json={"state": "available"})
        assert r.status_code == 403, (method, path, r.status_code)
        assert r.json()["error"]["code"] == "password_change_required", (method, path)
    me = await client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200 and me.json()["password_must_change"] is True
    assert (await client.get("/api/v1/auth/session", headers=headers)).status_code == 200

    # the given password cannot simply be typed again, and the current one must be right
    same = await client.post(
        "/api/v1/auth/password", headers=headers, json={"current_password": given, "new_password": given}
    )
    assert same.status_code == 422 and same.json()["error"]["field"] == "new_password"
    wrong = await client.post(
        "/api/v1/auth/password", headers=headers, json={"current_password": "x" + given, "new_password": NEW}
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "current_password"
    short = await client.post(
        "/api/v1/auth/password", headers=headers, json={"current_password": given, "new_password": "ngắn quá"}
    )
    assert short.status_code == 422 and "12" in short.json()["error"]["message"]

    changed = await client.post(
        "/api/v1/auth/password", headers=headers, json={"current_password": given, "new_password": NEW}
    )
    assert changed.status_code == 204
    # every session ended, this one too; the given password no longer signs in
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    assert (await login(client, "an.nguyen", given)).status_code == 401
    again = await login(client, "an.nguyen", NEW)
    assert again.status_code == 200 and again.json()["user"]["password_must_change"] is False
    assert (await client.get("/api/v1/cases", headers=bearer(again))).status_code == 200
    assert (await client.get("/api/v1/reference/regions", headers=bearer(again))).status_code == 200

    # an admin's reset hands over a new password someone else knows: changed at the next sign-in
    user_id = created.json()["user"]["id"]
    reset = await client.post(f"/api/v1/users/{user_id}/password", headers=admin.headers, json={})
    assert reset.status_code == 200 and reset.json()["user"]["password_must_change"] is True
    after_reset = await login(client, "an.nguyen", reset.json()["one_time_password"])
    blocked = await client.get("/api/v1/cases", headers=bearer(after_reset))
    assert blocked.json()["error"]["code"] == "password_change_required"
    # … also when the admin typed it
    typed = await client.post(
        f"/api/v1/users/{user_id}/password",
        headers=admin.headers,
        json={"new_password": "mật khẩu admin gõ 2026"},
    )
    assert typed.json()["user"]["password_must_change"] is True


async def test_changing_ones_own_password_ends_every_session(client, session):
    user = await signed_in(session, "supervisor")
    other = bearer(await login(client, user.user.username))
    assert (await client.get("/api/v1/cases", headers=user.headers)).status_code == 200
    r = await client.post(
        "/api/v1/auth/password",
        headers=user.headers,
        json={"current_password": PASSWORD, "new_password": NEW},
    )
    assert r.status_code == 204
    for headers in (user.headers, other):
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    again = await login(client, user.user.username, NEW)
    # a password its owner chose is not to be changed again
    assert again.json()["user"]["password_must_change"] is False
    assert (await client.get("/api/v1/cases", headers=bearer(again))).status_code == 200
