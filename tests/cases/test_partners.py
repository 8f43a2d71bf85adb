"""The partner directory over HTTP: who may read and manage it, search without diacritics, the code
list and province checks, contact points encrypted at rest, deactivation, the audit trail, and bad
input answered with a 4xx naming the field."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from hotline_api.cases.models import Code, Partner
from tests.cases.conftest import audit_entries, make_partner
from tests.factories import signed_in

CONTACTS = [
    {
        "name": "Trần Văn Bình",
        "role": "Trực ban",
        "phone": "0214 3820 113",
        "email": "trucban@congan.laocai.vn",
    },
    {"name": "Lê Thị Hoa", "role": None, "phone": "+84 912 000 111", "email": None},
]
WOMENS_UNION = {
    "name": "Hội Liên hiệp Phụ nữ tỉnh Lào Cai",
    "kind": "womens_union",
    "province": "15",
    "contact_points": CONTACTS,
}


async def test_who_may_read_and_manage_the_directory(client, session):
    partner = await make_partner(session)
    roles = {
        "counsellor": await signed_in(session, "counsellor"),
        "supervisor": await signed_in(session, "supervisor"),
        "national_supervisor": await signed_in(session, "national_supervisor", switchboard="angiang"),
        "admin": await signed_in(session, "admin"),
        "analyst": await signed_in(session, "analyst"),
    }
    read = {"counsellor": 200, "supervisor": 200, "national_supervisor": 200, "admin": 200, "analyst": 403}
    manage = {"counsellor": 403, "supervisor": 201, "national_supervisor": 201, "admin": 201, "analyst": 403}
    actions: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
        ("GET", "/api/v1/partners", None, read),
        ("GET", f"/api/v1/partners/{partner.id}", None, read),
        ("POST", "/api/v1/partners", {"name": "Tổ chức {role}", "kind": "ngo"}, manage),
        (
            "PATCH",
            f"/api/v1/partners/{partner.id}",
            {"name": "Công an tỉnh Lào Cai ({role})"},
            {k: 200 if v == 201 else v for k, v in manage.items()},
        ),
    ]
    failures = []
    for method, url, body, expected in actions:
        for role, who in roles.items():
            payload = None if body is None else {k: v.format(role=role) for k, v in body.items()}
            r = await client.request(method, url, json=payload, headers=who.headers)
            if r.status_code != expected[role]:
                failures.append(f"{role} {method} {url}: {r.status_code}, expected {expected[role]}")
            elif r.status_code >= 400:
                assert r.json()["error"]["code"] == "forbidden"
    assert not failures, "\n".join(failures)
    # without a credential: nothing
    assert (await client.get("/api/v1/partners")).status_code == 401


async def test_a_partner_with_its_contact_points_encrypted_at_rest_and_audited(client, session):
    supervisor = await signed_in(session, "supervisor")
    counsellor = await signed_in(session, "counsellor", switchboard="danang")
    r = await client.post("/api/v1/partners", json=WOMENS_UNION, headers=supervisor.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "Hội Liên hiệp Phụ nữ tỉnh Lào Cai"
    assert (created["kind"], created["province"], created["active"]) == ("womens_union", "15", True)
    assert created["contact_points"] == CONTACTS
    assert created["contact_points_count"] == 2

    # at rest: one encrypted value, no readable name, number or address
    raw = await session.scalar(
        text("SELECT contact_points_enc FROM partners WHERE id = :id"), {"id": created["id"]}
    )
    assert raw is not None
    for needle in ("Trần Văn Bình".encode(), b"3820", b"trucban", b"912 000"):
        assert needle not in bytes(raw)

    # a counsellor of any switchboard reads it; the list leaves the contact points out
    one = await client.get(f"/api/v1/partners/{created['id']}", headers=counsellor.headers)
    assert one.status_code == 200 and one.json()["contact_points"] == CONTACTS
    listed = await client.get("/api/v1/partners", params={"province": "15"}, headers=counsellor.headers)
    assert listed.status_code == 200
    entry = next(p for p in listed.json()["partners"] if p["id"] == created["id"])
    assert entry["contact_points_count"] == 2 and "contact_points" not in entry

    # the change is audited by field name, never by value
    [audited] = await audit_entries(session, "partner", "create", created["id"])
    assert audited.actor_user_id == supervisor.user.id
    assert audited.details == {"fields": ["active", "contact_points", "kind", "name", "province"]}
    assert "Lào Cai" not in str(audited.details) and "Bình" not in str(audited.details)

    # replacing the contact points, and clearing them
    r = await client.patch(
        f"/api/v1/partners/{created['id']}",
        json={"contact_points": [{"name": "Phòng Gia đình – Xã hội", "phone": "02143 840 222"}]},
        headers=supervisor.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["contact_points"] == [
        {"name": "Phòng Gia đình – Xã hội", "role": None, "phone": "02143 840 222", "email": None}
    ]
    r = await client.patch(
        f"/api/v1/partners/{created['id']}", json={"contact_points": []}, headers=supervisor.headers
    )
    assert r.json()["contact_points"] == [] and r.json()["contact_points_count"] == 0
    updates = await audit_entries(session, "partner", "update", created["id"])
    assert [u.details for u in updates] == [{"fields": ["contact_points"]}] * 2


async def test_search_by_name_with_and_without_diacritics(client, session):
    counsellor = await signed_in(session, "counsellor")
    union = await make_partner(session, "Hội Liên hiệp Phụ nữ tỉnh Lào Cai", "womens_union", "15")
    police = await make_partner(session, "Công an tỉnh An Giang", "police", "91")
    centre = await make_partner(
        session, "Trung tâm Công tác xã hội thành phố Đà Nẵng", "social_protection", "48"
    )
    guards = await make_partner(
        session, "Đồn Biên phòng cửa khẩu Lào Cai", "border_guard", "15", active=False
    )

    async def found(**params: Any) -> list[int]:
        r = await client.get("/api/v1/partners", params=params, headers=counsellor.headers)
        assert r.status_code == 200, r.text
        ours = {union.id, police.id, centre.id, guards.id}
        return [p["id"] for p in r.json()["partners"] if p["id"] in ours]

    assert await found(q="Hoi Lien hiep Phu nu") == [union.id]
    assert await found(q="Hội Liên hiệp Phụ nữ") == [union.id]
    assert await found(q="hội liên HIỆP") == [union.id]
    # decomposed input (some keyboards) is the same text
    assert await found(q="Phụ nữ".replace("ụ", "u\u0323").replace("ữ", "u\u031b\u0303")) == [union.id]
    # every word, in any order
    assert await found(q="lao cai phu nu") == [union.id]
    assert sorted(await found(q="Lao Cai")) == sorted([union.id, guards.id])
    # Đ is a letter of its own: "Da Nang" finds "Đà Nẵng", and so does "đà nẵng"
    assert await found(q="Da Nang") == [centre.id]
    assert await found(q="đà nẵng") == [centre.id]
    assert await found(q="Don Bien phong") == [guards.id]
    # LIKE's wildcards are plain characters
    assert await found(q="%") == []
    assert await found(q="_") == []
    assert await found(q="cong an an giang") == [police.id]
    assert sorted(await found(q="cong")) == sorted([police.id, centre.id])
    # filters
    assert sorted(await found(province="15")) == sorted([union.id, guards.id])
    assert await found(province="15", active=True) == [union.id]
    assert await found(province="15", active=False) == [guards.id]
    assert await found(kind="police") == [police.id]
    assert await found(kind="border_guard", q="lao cai") == [guards.id]
    r = await client.get("/api/v1/partners", params={"q": "lao cai", "limit": 1}, headers=counsellor.headers)
    assert r.json()["total"] >= 2 and len(r.json()["partners"]) == 1


async def test_kind_and_province_are_checked_and_retired_kinds_refused(client, session):
    supervisor = await signed_in(session, "supervisor")
    session.add(
        Code(
            list_name="partner_kind", code="old_kind", label_vi="Cũ", label_en="Old", added_in=1, retired_in=2
        )
    )
    await session.flush()

    async def refused(body: dict[str, Any], status: int = 422) -> str:
        r = await client.post("/api/v1/partners", json=body, headers=supervisor.headers)
        assert r.status_code == status, r.text
        field: str = r.json()["error"]["field"]
        return field

    assert await refused({"name": "Tổ chức A", "kind": "spaceship"}) == "kind"
    assert await refused({"name": "Tổ chức A", "kind": "old_kind"}) == "kind"
    assert await refused({"name": "Tổ chức A", "kind": "ngo", "province": "99"}) == "province"
    assert await refused({"name": "Tổ chức A", "kind": "ngo", "province": "0123456"}) == "province"

    # a partner holding a kind retired since stays editable without changing its kind
    old = await make_partner(session, "Tổ chức cũ", "old_kind", None)
    r = await client.patch(
        f"/api/v1/partners/{old.id}",
        json={"kind": "old_kind", "name": "Tổ chức cũ (đổi tên)"},
        headers=supervisor.headers,
    )
    assert r.status_code == 200, r.text
    # … but no other partner takes it
    other = await make_partner(session, "Tổ chức khác", "ngo", None)
    r = await client.patch(
        f"/api/v1/partners/{other.id}", json={"kind": "old_kind"}, headers=supervisor.headers
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "kind"


async def test_bad_input_is_refused_naming_the_field(client, session):
    supervisor = await signed_in(session, "supervisor")
    partner = await make_partner(session)
    base = {"name": "Tổ chức Rồng Xanh", "kind": "ngo"}
    cases: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("POST", "/api/v1/partners", {"kind": "ngo"}, "name"),
        ("POST", "/api/v1/partners", {**base, "name": "   "}, "name"),
        ("POST", "/api/v1/partners", {**base, "name": "Tổ chức\x00"}, "name"),
        ("POST", "/api/v1/partners", {**base, "name": "x" * 301}, "name"),
        ("POST", "/api/v1/partners", {**base, "kind": 12}, "kind"),
        (
            "POST",
            "/api/v1/partners",
            {**base, "contact_points": [{"phone": "0243"}]},
            "contact_points.0.name",
        ),
        (
            "POST",
            "/api/v1/partners",
            {**base, "contact_points": [{"name": "A", "phone": "không có số"}]},
            "contact_points.0.phone",
        ),
        (
            "POST",
            "/api/v1/partners",
            {**base, "contact_points": [{"name": "A", "email": "không-phải-email"}]},
            "contact_points.0.email",
        ),
        ("POST", "/api/v1/partners", {**base, "contact_points": [{"name": "A"}] * 21}, "contact_points"),
        ("POST", "/api/v1/partners", {**base, "active": "maybe"}, "active"),
        ("PATCH", f"/api/v1/partners/{partner.id}", {}, "body"),
        ("PATCH", f"/api/v1/partners/{partner.id}", {"name": None}, "name"),
        ("PATCH", f"/api/v1/partners/{partner.id}", {"active": None}, "active"),
        ("PATCH", f"/api/v1/partners/{partner.id}", {"kind": None}, "kind"),
        ("PATCH", "/api/v1/partners/99999999999999999999", {"name": "A"}, "path.partner_id"),
        ("GET", "/api/v1/partners/0", None, "path.partner_id"),
        ("GET", "/api/v1/partners/abc", None, "path.partner_id"),
        ("GET", "/api/v1/partners?kind=spaceship", None, "kind"),
        ("GET", "/api/v1/partners?kind=DROP%20TABLE", None, "query.kind"),
        ("GET", "/api/v1/partners?province=99", None, "province"),
        ("GET", "/api/v1/partners?q=%20%20", None, "q"),
        ("GET", "/api/v1/partners?q=a%00b", None, "q"),
        ("GET", "/api/v1/partners?limit=0", None, "query.limit"),
        ("GET", "/api/v1/partners?active=perhaps", None, "query.active"),
    ]
    failures = []
    for method, url, body, field in cases:
        r = await client.request(method, url, json=body, headers=supervisor.headers)
        got = (
            r.json().get("error", {}).get("field")
            if r.headers.get("content-type") == "application/json"
            else None
        )
        if r.status_code != 422 or got != field:
            failures.append(f"{method} {url} {body!r:.60}: {r.status_code} field={got}, expected 422 {field}")
    assert not failures, "\n".join(failures)
    # not a JSON body at all
    r = await client.post(
        "/api/v1/partners",
        content=b"{not json",
        headers={**supervisor.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    # an unknown partner: 404
    r = await client.get("/api/v1/partners/987654321", headers=supervisor.headers)
    assert r.status_code == 404 and "987654321" in r.json()["error"]["message"]


async def test_one_entry_per_organisation(client, session):
    supervisor = await signed_in(session, "supervisor")
    await make_partner(session, "Công an tỉnh Lào Cai", "police", "15")
    r = await client.post(
        "/api/v1/partners",
        json={"name": "CÔNG AN TỈNH LAO CAI", "kind": "police", "province": "15"},
        headers=supervisor.headers,
    )
    assert r.status_code == 409 and r.json()["error"]["field"] == "name"
    # the same name in another province is another partner
    r = await client.post(
        "/api/v1/partners",
        json={"name": "Công an tỉnh Lào Cai", "kind": "police", "province": "01"},
        headers=supervisor.headers,
    )
    assert r.status_code == 201


async def test_partners_are_deactivated_never_deleted(client, session):
    supervisor = await signed_in(session, "national_supervisor")
    counsellor = await signed_in(session, "counsellor")
    partner = await make_partner(session, "Tổ chức Hy vọng", "ngo", "01")
    r = await client.patch(
        f"/api/v1/partners/{partner.id}", json={"active": False}, headers=supervisor.headers
    )
    assert r.status_code == 200 and r.json()["active"] is False
    assert (
        await client.delete(f"/api/v1/partners/{partner.id}", headers=supervisor.headers)
    ).status_code == 405
    # still in the directory for those who read old referrals, out of the active list
    assert (await client.get(f"/api/v1/partners/{partner.id}", headers=counsellor.headers)).status_code == 200
    active = await client.get(
        "/api/v1/partners", params={"active": True, "q": "Hy vong"}, headers=counsellor.headers
    )
    assert partner.id not in [p["id"] for p in active.json()["partners"]]
    r = await client.patch(
        f"/api/v1/partners/{partner.id}", json={"active": True}, headers=supervisor.headers
    )
    assert r.json()["active"] is True
    actions = [e.action for e in await audit_entries(session, "partner", object_id=partner.id)]
    assert actions == ["deactivate", "reactivate"]
    # a change that changes nothing is not a change
    r = await client.patch(
        f"/api/v1/partners/{partner.id}", json={"active": True}, headers=supervisor.headers
    )
    assert r.status_code == 200
    assert len(await audit_entries(session, "partner", object_id=partner.id)) == 2
    assert (
        await session.scalar(select(func.count()).select_from(Partner).where(Partner.id == partner.id)) == 1
    )
