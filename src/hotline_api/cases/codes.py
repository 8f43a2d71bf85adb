"""Code lists (PRODUCT.md §3): codes stored in records, labels in Vietnamese and English served to
the console; an admin adds codes and retires them — a retired code stays readable in old records
but is no longer accepted in new ones. Each change raises the list's version."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.audit import service as audit
from hotline_api.auth.deps import AdminUser, CurrentUser, actor_of
from hotline_api.cases.models import Code, CodeList
from hotline_api.db.session import SessionDep
from hotline_api.errors import Conflict, NotFound, Unprocessable, error_responses

router = APIRouter(prefix="/api/v1/codes", tags=["code lists"])
ListName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class CodeOut(BaseModel):
    code: str
    label_vi: str
    label_en: str
    retired: bool


class CodeListOut(BaseModel):
    name: str
    label_vi: str
    label_en: str
    version: int
    codes: list[CodeOut]


class CodeListsOut(BaseModel):
    lists: list[CodeListOut]


class CodeIn(BaseModel):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$", description="lower case, digits and _")
    label_vi: str = Field(min_length=1, max_length=200)
    label_en: str = Field(min_length=1, max_length=200)


class CodePatch(BaseModel):
    label_vi: str | None = Field(default=None, min_length=1, max_length=200)
    label_en: str | None = Field(default=None, min_length=1, max_length=200)
    retired: bool | None = Field(default=None, description="true retires the code; false brings it back")


async def check(
    session: AsyncSession,
    field: str,
    list_name: str,
    values: str | Iterable[str] | None,
    *,
    current: Iterable[str] = (),
) -> None:
    """Unprocessable naming ``field`` unless every value is a live code of the list. A value the
    record already holds (``current``) is accepted even when retired since: old records stay editable."""
    if values is None:
        return
    wanted = {values} if isinstance(values, str) else set(values)
    if not wanted:
        return
    rows = (
        await session.execute(
            select(Code.code, Code.retired_in).where(Code.list_name == list_name, Code.code.in_(wanted))
        )
    ).all()
    known = {code: retired for code, retired in rows}
    keep = set(current)
    for value in sorted(wanted):
        if value not in known:
            raise Unprocessable(f"{field}: {value!r} is not a code of the list {list_name}", field=field)
        if known[value] is not None and value not in keep:
            raise Unprocessable(f"{field}: the code {value!r} of {list_name} is retired", field=field)


@router.get("", response_model=CodeListsOut, responses=error_responses(401), summary="Every code list")
async def all_lists(_: CurrentUser, session: SessionDep, include_retired: bool = False) -> CodeListsOut:
    lists = (await session.scalars(select(CodeList).order_by(CodeList.name))).all()
    codes = (await session.scalars(select(Code).order_by(Code.list_name, Code.position, Code.code))).all()
    by_list: dict[str, list[CodeOut]] = {}
    for c in codes:
        if c.retired_in is not None and not include_retired:
            continue
        by_list.setdefault(c.list_name, []).append(
            CodeOut(code=c.code, label_vi=c.label_vi, label_en=c.label_en, retired=c.retired_in is not None)
        )
    return CodeListsOut(
        lists=[
            CodeListOut(
                name=cl.name,
                label_vi=cl.label_vi,
                label_en=cl.label_en,
                version=cl.version,
                codes=by_list.get(cl.name, []),
            )
            for cl in lists
        ]
    )


@router.get(
    "/{name}", response_model=CodeListOut, responses=error_responses(401, 404), summary="One code list"
)
async def one_list(
    name: ListName, _: CurrentUser, session: SessionDep, include_retired: bool = False
) -> CodeListOut:
    everything = await all_lists(_, session, include_retired)
    for cl in everything.lists:
        if cl.name == name:
            return cl
    raise NotFound(f"no code list {name}")


async def _bump(session: AsyncSession, name: str, who: str) -> CodeList:
    cl = await session.get(CodeList, name, with_for_update=True)
    if cl is None:
        raise NotFound(f"no code list {name}")
    cl.version += 1
    cl.updated_at = datetime.now(UTC)
    cl.updated_by = who
    return cl


@router.post(
    "/{name}",
    response_model=CodeListOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Add a code to a list (admin)",
)
async def add_code(
    name: ListName, body: CodeIn, admin: AdminUser, request: Request, session: SessionDep
) -> CodeListOut:
    cl = await _bump(session, name, admin.actor_label)
    if await session.get(Code, (name, body.code)) is not None:
        raise Conflict(f"{name} already has the code {body.code}; change its labels or bring it back instead")
    last = await session.scalar(
        select(Code.position).where(Code.list_name == name).order_by(Code.position.desc()).limit(1)
    )
    session.add(
        Code(
            list_name=name,
            code=body.code,
            label_vi=body.label_vi,
            label_en=body.label_en,
            position=(last or 0) + 1,
            added_in=cl.version,
        )
    )
    await audit.record(
        session, actor_of(admin, request), "create", "code", f"{name}:{body.code}", {"version": cl.version}
    )
    await session.flush()
    return await one_list(name, admin, session, include_retired=True)


@router.patch(
    "/{name}/{code}",
    response_model=CodeListOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Change a code's labels, retire it or bring it back (admin)",
)
async def change_code(
    name: ListName, code: str, body: CodePatch, admin: AdminUser, request: Request, session: SessionDep
) -> CodeListOut:
    cl = await _bump(session, name, admin.actor_label)
    row = await session.get(Code, (name, code), with_for_update=True)
    if row is None:
        raise NotFound(f"{name} has no code {code}")
    changed: list[str] = []
    if body.label_vi is not None:
        row.label_vi, changed = body.label_vi, [*changed, "label_vi"]
    if body.label_en is not None:
        row.label_en, changed = body.label_en, [*changed, "label_en"]
    if body.retired is True and row.retired_in is None:
        if cl.system:
            raise Conflict(f"{name} is a list the service's rules rely on: its codes cannot be retired")
        row.retired_in, changed = cl.version, [*changed, "retired"]
    elif body.retired is False and row.retired_in is not None:
        row.retired_in, changed = None, [*changed, "retired"]
    if not changed:
        raise Unprocessable("nothing to change: send label_vi, label_en or retired", field="body")
    await audit.record(
        session,
        actor_of(admin, request),
        "update",
        "code",
        f"{name}:{code}",
        {"fields": changed, "version": cl.version},
    )
    await session.flush()
    return await one_list(name, admin, session, include_retired=True)


__all__ = ["check", "router"]
