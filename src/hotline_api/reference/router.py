from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from hotline_api.auth.deps import CurrentUser
from hotline_api.db.session import SessionDep
from hotline_api.errors import NotFound, error_responses
from hotline_api.reference.models import AreaCode, HotlineNumber, Province, Region, Switchboard

router = APIRouter(prefix="/api/v1/reference", tags=["reference"])


class RegionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name_vi: str
    name_en: str


class SwitchboardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name_vi: str
    name_en: str
    region: str
    timezone: str
    is_national: bool
    always_open: bool


class HotlineNumberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: str
    name_vi: str
    name_en: str


class ProvinceOut(BaseModel):
    code: str
    name_vi: str
    name_en: str
    region: str
    area_codes: list[str]
    formed_from: list[str]


class AreaCodeOut(BaseModel):
    area_code: str
    province: ProvinceOut


async def _provinces(session: SessionDep, where: object = None) -> list[ProvinceOut]:
    stmt = select(Province).order_by(Province.code)
    if where is not None:
        stmt = stmt.where(where)  # type: ignore[arg-type]
    provinces = (await session.scalars(stmt)).all()
    codes: dict[str, list[str]] = {}
    for ac in (await session.scalars(select(AreaCode).order_by(AreaCode.code))).all():
        codes.setdefault(ac.province_code, []).append(ac.code)
    return [
        ProvinceOut(
            code=p.code,
            name_vi=p.name_vi,
            name_en=p.name_en,
            region=p.region,
            area_codes=codes.get(p.code, []),
            formed_from=[s.strip() for s in p.formed_from.split(";")],
        )
        for p in provinces
    ]


@router.get("/regions", response_model=list[RegionOut], responses=error_responses(401))
async def regions(_: CurrentUser, session: SessionDep) -> list[Region]:
    return list((await session.scalars(select(Region).order_by(Region.code))).all())


@router.get("/switchboards", response_model=list[SwitchboardOut], responses=error_responses(401))
async def switchboards(_: CurrentUser, session: SessionDep) -> list[Switchboard]:
    return list((await session.scalars(select(Switchboard).order_by(Switchboard.code))).all())


@router.get("/hotline-numbers", response_model=list[HotlineNumberOut], responses=error_responses(401))
async def hotline_numbers(_: CurrentUser, session: SessionDep) -> list[HotlineNumber]:
    return list((await session.scalars(select(HotlineNumber).order_by(HotlineNumber.number))).all())


@router.get("/provinces", response_model=list[ProvinceOut], responses=error_responses(401))
async def provinces(_: CurrentUser, session: SessionDep, region: str | None = None) -> list[ProvinceOut]:
    return await _provinces(session, Province.region == region if region else None)


@router.get("/provinces/{code}", response_model=ProvinceOut, responses=error_responses(401, 404))
async def province(code: str, _: CurrentUser, session: SessionDep) -> ProvinceOut:
    found = await _provinces(session, Province.code == code)
    if not found:
        raise NotFound(f"no province has the code {code!r}")
    return found[0]


@router.get(
    "/area-codes/{area_code}",
    response_model=AreaCodeOut,
    responses=error_responses(401, 404),
    summary="The province and region of a fixed-line area code (old and new codes alike)",
)
async def area_code(area_code: str, _: CurrentUser, session: SessionDep) -> AreaCodeOut:
    code = area_code.lstrip("0")
    row = await session.get(AreaCode, code)
    if row is None:
        raise NotFound(f"no province uses the area code {area_code!r}")
    return AreaCodeOut(
        area_code=code, province=(await _provinces(session, Province.code == row.province_code))[0]
    )
