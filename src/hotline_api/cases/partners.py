"""The partner directory (PRODUCT.md §3, issue 6 item 5): the organisations a case is referred to —
police, border guards, NGOs, the Women's Union, social protection, health, legal aid, embassies.

An organisation's name is not personal data: it is stored readable and searched with PostgreSQL's
``unaccent()`` (``Hoi Lien hiep Phu nu`` finds ``Hội Liên hiệp Phụ nữ``). Its contact points — the
people to call, their numbers and addresses — are personal data: one encrypted JSON value
(``contact_points_enc``, context ``partners.contact_points``), shown only in the one-partner view so
that no single request lists every official's number.

Counsellors read the directory; supervisors, national supervisors and admins manage it; analysts
have no access. A partner is deactivated, never deleted: old referrals keep pointing at it. Every
change is audited with the names of the fields changed, never their values.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.audit import service as audit
from hotline_api.auth.deps import actor_of, require_roles
from hotline_api.auth.service import Principal
from hotline_api.cases import codes
from hotline_api.cases.models import Code, Partner
from hotline_api.db.session import SessionDep
from hotline_api.errors import Conflict, NotFound, Unprocessable, error_responses
from hotline_api.privacy.crypto import Keyring
from hotline_api.privacy.normalise import normalise_phone, unaccent
from hotline_api.reference.models import Province

CONTACT_POINTS_CONTEXT = "partners.contact_points"
READ_ROLES = ("counsellor", "supervisor", "national_supervisor", "admin")
MANAGE_ROLES = ("supervisor", "national_supervisor", "admin")
# the largest id PostgreSQL's bigint holds: a larger one in a URL is a 422, not a database error
MAX_ID = 2**63 - 1

router = APIRouter(prefix="/api/v1/partners", tags=["partners"])
PartnerReader = Annotated[Principal, Depends(require_roles(*READ_ROLES))]
PartnerManager = Annotated[Principal, Depends(require_roles(*MANAGE_ROLES))]
PartnerId = Annotated[int, Path(ge=1, le=MAX_ID, description="the partner's id")]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KIND = r"^[a-z][a-z0-9_]{0,47}$"


def plain_text(value: str) -> str:
    """A client's free text as it is stored: NFC (a decomposed "ễ" from some keyboards is the same
    letter), trimmed, and without control characters or lone surrogates, which PostgreSQL and
    UTF-8 refuse (they would otherwise surface as a 500)."""
    text = unicodedata.normalize("NFC", value).strip()
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t":
            raise ValueError("must not contain control characters")
    return text


def _single_line(value: str | None) -> str | None:
    if value is None:
        return None
    text = plain_text(value)
    if "\n" in text or "\t" in text:
        raise ValueError("must be one line")
    return text


# ---- schemas -------------------------------------------------------------------------------------


class ContactPoint(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="a person or a desk, e.g. Trực ban")
    role: str | None = Field(default=None, max_length=200, description="their function")
    phone: str | None = Field(default=None, max_length=40, description="any common form: 0243 …, +84 …")
    email: str | None = Field(default=None, max_length=254)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        text = _single_line(v) or ""
        if not text:
            raise ValueError("must not be empty")
        return text

    @field_validator("role")
    @classmethod
    def _role(cls, v: str | None) -> str | None:
        return _single_line(v) or None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        text = _single_line(v)
        if not text:
            return None
        if normalise_phone(text) is None:
            raise ValueError("is not a phone number")
        return text

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        text = _single_line(v)
        if not text:
            return None
        if not _EMAIL.match(text):
            raise ValueError("is not an e-mail address")
        return text


def _partner_name(v: str | None) -> str | None:
    if v is None:
        return None
    text = _single_line(v) or ""
    if not text:
        raise ValueError("must not be empty")
    return text


class PartnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=300, description="the organisation's name, in Vietnamese")
    kind: str = Field(description="code list partner_kind: police, border_guard, ngo, womens_union …")
    province: str | None = Field(default=None, max_length=4, description="province code, e.g. 01")
    contact_points: list[ContactPoint] = Field(default_factory=list, max_length=20)
    active: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _partner_name(v) or ""


class PartnerPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    kind: str | None = None
    province: str | None = Field(default=None, max_length=4, description="null clears it (national)")
    contact_points: list[ContactPoint] | None = Field(
        default=None, max_length=20, description="replaces the whole list"
    )
    active: bool | None = Field(default=None, description="false deactivates the partner")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return _partner_name(v)


class PartnerSummary(BaseModel):
    id: int
    name: str
    kind: str
    province: str | None
    active: bool
    contact_points_count: int
    created_at: datetime
    updated_at: datetime


class ContactPointOut(BaseModel):
    """A stored contact point as it is shown (not validated again: a number once accepted stays
    readable whatever a later phone-number library thinks of it)."""

    name: str
    role: str | None = None
    phone: str | None = None
    email: str | None = None


class PartnerOut(PartnerSummary):
    contact_points: list[ContactPointOut]


class PartnerPage(BaseModel):
    partners: list[PartnerSummary]
    total: int


# ---- service -------------------------------------------------------------------------------------


def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


def encode_contact_points(keyring: Keyring, points: list[ContactPoint]) -> bytes | None:
    if not points:
        return None
    body = json.dumps([p.model_dump() for p in points], ensure_ascii=False, separators=(",", ":"))
    return keyring.encrypt(body, CONTACT_POINTS_CONTEXT)


def decode_contact_points(keyring: Keyring, blob: bytes | None) -> list[ContactPointOut]:
    if blob is None:
        return []
    points = json.loads(keyring.decrypt(blob, CONTACT_POINTS_CONTEXT))
    return [ContactPointOut.model_validate(p) for p in points]


def _count_points(keyring: Keyring, blob: bytes | None) -> int:
    return len(decode_contact_points(keyring, blob))


def summary_of(partner: Partner, count: int) -> PartnerSummary:
    return PartnerSummary(
        id=partner.id,
        name=partner.name,
        kind=partner.kind,
        province=partner.province_code,
        active=partner.active,
        contact_points_count=count,
        created_at=partner.created_at,
        updated_at=partner.updated_at,
    )


def partner_out(partner: Partner, keyring: Keyring) -> PartnerOut:
    points = decode_contact_points(keyring, partner.contact_points_enc)
    return PartnerOut(**summary_of(partner, len(points)).model_dump(), contact_points=points)


async def check_province(session: AsyncSession, province: str | None, field: str = "province") -> None:
    if province is not None and await session.get(Province, province) is None:
        raise Unprocessable(f"{field}: {province!r} is not one of the 34 province codes", field=field)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def name_matches(query: str) -> list[ColumnElement[bool]]:
    """Every word of the query somewhere in the name, diacritics and case not mattering: the query
    is unaccented here, the stored name by PostgreSQL's unaccent()."""
    words = unaccent(query).split()
    return [func.unaccent(Partner.name).ilike(f"%{_escape_like(word)}%", escape="\\") for word in words]


async def _check_unique(session: AsyncSession, name: str, province: str | None, exclude: int | None) -> None:
    """One directory entry per organisation: the same name (diacritics and case aside) in the same
    province is the same partner."""
    same_name = func.lower(func.unaccent(Partner.name)) == unaccent(name).lower()
    q = select(Partner.id).where(
        same_name,
        Partner.province_code.is_(None) if province is None else Partner.province_code == province,
    )
    if exclude is not None:
        q = q.where(Partner.id != exclude)
    other = await session.scalar(q.limit(1))
    if other is not None:
        raise Conflict(
            f"partner {other} already has this name in this province: change that one", field="name"
        )


async def partner_or_404(session: AsyncSession, partner_id: int, *, for_update: bool = False) -> Partner:
    partner = await session.get(Partner, partner_id, with_for_update=for_update or None)
    if partner is None:
        raise NotFound(f"no partner {partner_id}")
    return partner


# ---- HTTP ----------------------------------------------------------------------------------------


@router.get(
    "",
    response_model=PartnerPage,
    responses=error_responses(401, 403, 422),
    summary="The partner directory: filter by kind, province, active; search by name (diacritics ignored)",
)
async def list_partners(
    _: PartnerReader,
    request: Request,
    session: SessionDep,
    q: Annotated[
        str | None, Query(max_length=200, description="words of the name, with or without diacritics")
    ] = None,
    kind: Annotated[str | None, Query(pattern=_KIND, description="code list partner_kind")] = None,
    province: Annotated[str | None, Query(max_length=4, description="province code, e.g. 01")] = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PartnerPage:
    conds: list[ColumnElement[bool]] = []
    if q is not None:
        try:
            text = plain_text(q)
        except ValueError as exc:
            raise Unprocessable(f"q {exc}", field="q") from exc
        words = name_matches(text)
        if not words:
            raise Unprocessable("q has no words to search for", field="q")
        conds += words
    if kind is not None:
        # a retired kind is still a filter (old partners keep it); an unknown one is a mistake
        if (
            await session.scalar(select(Code.code).where(Code.list_name == "partner_kind", Code.code == kind))
            is None
        ):
            raise Unprocessable(f"kind: {kind!r} is not a code of the list partner_kind", field="kind")
        conds.append(Partner.kind == kind)
    if province is not None:
        await check_province(session, province)
        conds.append(Partner.province_code == province)
    if active is not None:
        conds.append(Partner.active.is_(active))
    total = int(await session.scalar(select(func.count()).select_from(Partner).where(*conds)) or 0)
    rows = (
        await session.scalars(
            select(Partner).where(*conds).order_by(Partner.name, Partner.id).limit(limit).offset(offset)
        )
    ).all()
    keyring = _keyring(request)
    return PartnerPage(
        partners=[summary_of(p, _count_points(keyring, p.contact_points_enc)) for p in rows], total=total
    )


@router.get(
    "/{partner_id}",
    response_model=PartnerOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One partner with its contact points",
)
async def get_partner(
    partner_id: PartnerId, _: PartnerReader, request: Request, session: SessionDep
) -> PartnerOut:
    return partner_out(await partner_or_404(session, partner_id), _keyring(request))


@router.post(
    "",
    response_model=PartnerOut,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
    summary="Add a partner (supervisors, national supervisors, admins)",
)
async def create_partner(
    body: PartnerIn, p: PartnerManager, request: Request, session: SessionDep
) -> PartnerOut:
    keyring = _keyring(request)
    await codes.check(session, "kind", "partner_kind", body.kind)
    await check_province(session, body.province)
    await _check_unique(session, body.name, body.province, None)
    now = datetime.now(UTC)
    partner = Partner(
        name=body.name,
        kind=body.kind,
        province_code=body.province,
        contact_points_enc=encode_contact_points(keyring, body.contact_points),
        active=body.active,
        created_at=now,
        updated_at=now,
    )
    session.add(partner)
    await session.flush()
    fields = sorted(k for k, v in body.model_dump().items() if v is not None and v != [])
    await audit.record(session, actor_of(p, request), "create", "partner", partner.id, {"fields": fields})
    return partner_out(partner, keyring)


@router.patch(
    "/{partner_id}",
    response_model=PartnerOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Change a partner; active=false deactivates it (partners are never deleted)",
)
async def change_partner(
    partner_id: PartnerId, body: PartnerPatch, p: PartnerManager, request: Request, session: SessionDep
) -> PartnerOut:
    keyring = _keyring(request)
    partner = await partner_or_404(session, partner_id, for_update=True)
    data: dict[str, Any] = body.model_dump(exclude_unset=True)
    if not data:
        raise Unprocessable("nothing to change", field="body")
    for field in ("name", "kind", "active"):
        if field in data and data[field] is None:
            raise Unprocessable(f"{field} cannot be null", field=field)
    if "kind" in data:
        # a partner keeping a kind retired since is still editable
        await codes.check(session, "kind", "partner_kind", data["kind"], current=[partner.kind])
    if "province" in data:
        await check_province(session, data["province"])
    if "name" in data or "province" in data:
        await _check_unique(
            session, data.get("name", partner.name), data.get("province", partner.province_code), partner.id
        )
    changed: list[str] = []
    for field, value in data.items():
        if field == "contact_points":
            partner.contact_points_enc = encode_contact_points(keyring, body.contact_points or [])
            changed.append(field)
            continue
        column = "province_code" if field == "province" else field
        if getattr(partner, column) != value:
            setattr(partner, column, value)
            changed.append(field)
    if changed:
        partner.updated_at = datetime.now(UTC)
        action = "update"
        if changed == ["active"]:
            action = "reactivate" if partner.active else "deactivate"
        await audit.record(
            session, actor_of(p, request), action, "partner", partner.id, {"fields": sorted(changed)}
        )
    return partner_out(partner, keyring)


__all__ = ["router"]
