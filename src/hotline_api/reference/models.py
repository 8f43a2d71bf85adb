"""Reference data: regions, switchboards, hotline numbers, provinces and their area codes.

Loaded by migration from reference/data/; codes are stored, labels sit beside them in both languages.
"""

from __future__ import annotations

from sqlalchemy import ARRAY, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline_api.db.base import Base


class Region(Base):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_vi: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)


class Switchboard(Base):
    __tablename__ = "switchboards"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_vi: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    timezone: Mapped[str] = mapped_column(Text, default="Asia/Ho_Chi_Minh")
    is_national: Mapped[bool] = mapped_column(default=False)
    always_open: Mapped[bool] = mapped_column(default=False)
    # source networks allowed to post this switchboard's webhooks; empty: any (credentials still apply)
    allowed_networks: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")


class HotlineNumber(Base):
    __tablename__ = "hotline_numbers"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_vi: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)


class Province(Base):
    __tablename__ = "provinces"

    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    name_vi: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    # the provinces merged into this one on 1 July 2025, in Vietnamese ("Lào Cai; Yên Bái")
    formed_from: Mapped[str] = mapped_column(Text)


class AreaCode(Base):
    """A fixed-line area code (without the trunk 0): a merged province keeps all its old codes."""

    __tablename__ = "area_codes"

    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    province_code: Mapped[str] = mapped_column(ForeignKey("provinces.code"), index=True)
