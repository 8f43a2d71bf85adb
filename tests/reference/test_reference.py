from __future__ import annotations

import csv
from pathlib import Path

from tests.factories import signed_in

SHARED_CSV = Path(__file__).resolve().parents[3] / "shared" / "reference" / "provinces-2025.csv"


async def test_reference_needs_a_credential(client):
    assert (await client.get("/api/v1/reference/provinces")).status_code == 401


async def test_regions_switchboards_and_numbers(client, session):
    me = await signed_in(session, "counsellor")
    regions = (await client.get("/api/v1/reference/regions", headers=me.headers)).json()
    assert {r["code"] for r in regions} == {"north", "central", "south"}
    assert {r["name_vi"] for r in regions} == {"Miền Bắc", "Miền Trung", "Miền Nam"}
    boards = {
        b["code"]: b for b in (await client.get("/api/v1/reference/switchboards", headers=me.headers)).json()
    }
    assert set(boards) == {"hanoi", "danang", "angiang"}
    assert (
        boards["hanoi"]["region"] == "north"
        and boards["hanoi"]["is_national"]
        and boards["hanoi"]["always_open"]
    )
    assert boards["danang"]["region"] == "central" and not boards["danang"]["always_open"]
    assert boards["angiang"]["region"] == "south"
    assert all(b["timezone"] == "Asia/Ho_Chi_Minh" for b in boards.values())
    numbers = (await client.get("/api/v1/reference/hotline-numbers", headers=me.headers)).json()
    assert {n["number"] for n in numbers} == {"111", "18001567"}


async def test_all_34_provinces_with_every_area_code(client, session):
    me = await signed_in(session, "analyst")
    provinces = (await client.get("/api/v1/reference/provinces", headers=me.headers)).json()
    assert len(provinces) == 34
    assert sum(len(p["area_codes"]) for p in provinces) == 63
    by_code = {p["code"]: p for p in provinces}
    assert by_code["79"]["name_vi"] == "Hồ Chí Minh"
    assert sorted(by_code["79"]["area_codes"]) == ["254", "274", "28"]
    assert by_code["79"]["formed_from"] == ["Hồ Chí Minh", "Bình Dương", "Bà Rịa–Vũng Tàu"]
    if SHARED_CSV.exists():  # the shipped copy matches the design reference
        with SHARED_CSV.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                p = by_code[row["code"]]
                assert p["name_vi"] == row["name_vi"] and p["region"] == row["region"]
                assert sorted(p["area_codes"]) == sorted(row["area_codes"].split())
    south = (await client.get("/api/v1/reference/provinces?region=south", headers=me.headers)).json()
    assert {p["name_en"] for p in south} >= {"An Giang", "Ca Mau", "Ho Chi Minh City"}


async def test_area_code_lookup_old_and_new_codes(client, session):
    me = await signed_in(session, "counsellor")
    # 219 was Hà Giang's code; Hà Giang merged into Tuyên Quang (north)
    r = await client.get("/api/v1/reference/area-codes/0219", headers=me.headers)
    assert r.status_code == 200
    assert r.json()["province"]["name_vi"] == "Tuyên Quang" and r.json()["province"]["region"] == "north"
    r = await client.get("/api/v1/reference/area-codes/235", headers=me.headers)  # Quảng Nam → Đà Nẵng
    assert r.json()["province"]["code"] == "48" and r.json()["province"]["region"] == "central"
    r = await client.get("/api/v1/reference/area-codes/999", headers=me.headers)
    assert r.status_code == 404
    assert "999" in r.json()["error"]["message"]
    r = await client.get("/api/v1/reference/provinces/00", headers=me.headers)
    assert r.status_code == 404
