from __future__ import annotations

from tests.factories import login, signed_in


async def test_admin_creates_user_with_one_time_password(client, session):
    admin = await signed_in(session, "admin")
    r = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={
            "username": "thu.pham",
            "display_name": "Phạm Thị Thu",
            "roles": ["counsellor", "supervisor"],
            "home_switchboard": "angiang",
            "languages": ["vi", "km"],
            "extensions": [
                {"switchboard": "angiang", "extension": "PJSIP/2001"},
                {"switchboard": "hanoi", "extension": "PJSIP/1099"},
            ],
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    password = body["one_time_password"]
    assert password and len(password) >= 20
    user = body["user"]
    assert user["display_name"] == "Phạm Thị Thu"
    assert user["roles"] == ["counsellor", "supervisor"]
    assert sorted(e["switchboard"] for e in user["extensions"]) == ["angiang", "hanoi"]
    assert user["languages"] == ["vi", "km"]
    signed = await login(client, "thu.pham", password)
    assert signed.status_code == 200
    listed = await client.get("/api/v1/users?switchboard=angiang", headers=admin.headers)
    assert [u["username"] for u in listed.json()] == ["thu.pham"]


async def test_bad_user_input_is_refused_with_the_field(client, session):
    admin = await signed_in(session, "admin")
    base: dict[str, object] = {
        "username": "ok.name",
        "display_name": "A",
        "roles": ["counsellor"],
        "home_switchboard": "hanoi",
    }
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"username": "Bad Name"}, 422, "username"),
        ({"roles": ["boss"]}, 422, "roles"),
        ({"roles": []}, 422, "roles"),
        ({"home_switchboard": "saigon"}, 422, "home_switchboard"),
        ({"languages": ["vietnamese"]}, 422, "languages"),
        ({"password": "short"}, 422, "password"),
        ({"extensions": [{"switchboard": "nowhere", "extension": "PJSIP/1"}]}, 422, "extensions"),
    ]
    for change, status, field in cases:
        r = await client.post("/api/v1/users", headers=admin.headers, json={**base, **change})
        assert r.status_code == status, (change, r.text)
        assert r.json()["error"]["field"].startswith(field), (change, r.json())


async def test_duplicates_conflict(client, session):
    admin = await signed_in(session, "admin")
    first = {
        "username": "dup.user",
        "display_name": "A",
        "roles": ["counsellor"],
        "home_switchboard": "hanoi",
        "extensions": [{"switchboard": "hanoi", "extension": "PJSIP/1012"}],
    }
    assert (await client.post("/api/v1/users", headers=admin.headers, json=first)).status_code == 201
    again = await client.post("/api/v1/users", headers=admin.headers, json=first)
    assert again.status_code == 409 and again.json()["error"]["field"] == "username"
    same_ext = await client.post(
        "/api/v1/users", headers=admin.headers, json={**first, "username": "other.user"}
    )
    assert same_ext.status_code == 409 and "PJSIP/1012" in same_ext.json()["error"]["message"]


async def test_only_admins_manage_users(client, session):
    for role in ("counsellor", "supervisor", "national_supervisor", "analyst"):
        someone = await signed_in(session, role)
        assert (await client.get("/api/v1/users", headers=someone.headers)).status_code == 403
        r = await client.post(
            "/api/v1/users",
            headers=someone.headers,
            json={
                "username": f"by.{role}",
                "display_name": "A",
                "roles": ["admin"],
                "home_switchboard": "hanoi",
            },
        )
        assert r.status_code == 403


async def test_deactivating_a_user_ends_their_sessions(client, session):
    admin = await signed_in(session, "admin")
    victim = await signed_in(session, "counsellor")
    assert (await client.get("/api/v1/auth/me", headers=victim.headers)).status_code == 200
    r = await client.patch(
        f"/api/v1/users/{victim.user.id}", headers=admin.headers, json={"is_active": False}
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=victim.headers)).status_code == 401


async def test_role_change_and_password_reset(client, session):
    admin = await signed_in(session, "admin")
    user = await signed_in(session, "counsellor")
    r = await client.patch(
        f"/api/v1/users/{user.user.id}",
        headers=admin.headers,
        json={"roles": ["counsellor", "supervisor"], "home_switchboard": "danang"},
    )
    assert r.json()["roles"] == ["counsellor", "supervisor"] and r.json()["home_switchboard"] == "danang"
    r = await client.post(f"/api/v1/users/{user.user.id}/password", headers=admin.headers, json={})
    new = r.json()["one_time_password"]
    assert (await client.get("/api/v1/auth/me", headers=user.headers)).status_code == 401
    assert (await login(client, user.user.username, new)).status_code == 200
    missing = await client.patch("/api/v1/users/999999", headers=admin.headers, json={"is_active": False})
    assert missing.status_code == 404


async def test_the_last_active_admin_cannot_be_removed(client, session):
    from tests.factories import signed_in

    first = await signed_in(session, "admin")
    url = f"/api/v1/users/{first.user.id}"
    for change in ({"roles": ["supervisor"]}, {"is_active": False}):
        r = await client.patch(url, headers=first.headers, json=change)
        assert r.status_code == 409, r.text
        assert "last active admin" in r.json()["error"]["message"]
    second = await signed_in(session, "admin", "analyst")
    r = await client.patch(url, headers=first.headers, json={"roles": ["supervisor"]})
    assert r.status_code == 200 and r.json()["roles"] == ["supervisor"]
    # now the second is the last one
    r = await client.patch(
        f"/api/v1/users/{second.user.id}", headers=second.headers, json={"roles": ["analyst"]}
    )
    assert r.status_code == 409
