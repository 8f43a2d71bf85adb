"""The reference data shipped with the package (read by the migration and by tests)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

REGIONS = [
    {"code": "north", "name_vi": "Miền Bắc", "name_en": "North"},
    {"code": "central", "name_vi": "Miền Trung", "name_en": "Central"},
    {"code": "south", "name_vi": "Miền Nam", "name_en": "South"},
]

SWITCHBOARDS = [
    {
        "code": "hanoi",
        "name_vi": "Tổng đài quốc gia Hà Nội",
        "name_en": "Hanoi national switchboard",
        "region": "north",
        "timezone": "Asia/Ho_Chi_Minh",
        "is_national": True,
        "always_open": True,
    },
    {
        "code": "danang",
        "name_vi": "Tổng đài khu vực Đà Nẵng",
        "name_en": "Da Nang regional switchboard",
        "region": "central",
        "timezone": "Asia/Ho_Chi_Minh",
        "is_national": False,
        "always_open": False,
    },
    {
        "code": "angiang",
        "name_vi": "Tổng đài khu vực An Giang",
        "name_en": "An Giang regional switchboard",
        "region": "south",
        "timezone": "Asia/Ho_Chi_Minh",
        "is_national": False,
        "always_open": False,
    },
]

HOTLINE_NUMBERS = [
    {
        "number": "111",
        "name_vi": "Đường dây nóng 111 (miễn phí, 24/7)",
        "name_en": "Hotline 111 (free, 24/7)",
    },
    {
        "number": "18001567",
        "name_vi": "Đường dây nóng 1800 1567 (miễn phí, 24/7)",
        "name_en": "Hotline 1800 1567 (free, 24/7)",
    },
]


@dataclass(frozen=True)
class ProvinceRow:
    code: str
    name_vi: str
    name_en: str
    region: str
    area_codes: tuple[str, ...]
    formed_from: str


def provinces() -> list[ProvinceRow]:
    text = resources.files("hotline_api.reference").joinpath("data/provinces-2025.csv").read_text("utf-8")
    rows = []
    for row in csv.DictReader(text.splitlines()):
        rows.append(
            ProvinceRow(
                code=row["code"],
                name_vi=row["name_vi"],
                name_en=row["name_en"],
                region=row["region"],
                area_codes=tuple(row["area_codes"].split()),
                formed_from=row["formed_from"],
            )
        )
    return rows
