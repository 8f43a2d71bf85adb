from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from hotline_api.audit import service as audit
from hotline_api.auth import service
from hotline_api.auth.deps import AdminUser, CurrentUser, SettingsDep, actor_of, client_address
from hotline_api.auth.schemas import (
    LoginRequest,
    LoginResponse,
    PasswordChange,
    PasswordReset,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from hotline_api.db.session import SessionDep
from hotline_api.errors import Unauthorized, Unprocessable, error_responses

auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
users_router = APIRouter(prefix="/api/v1/users", tags=["users"])


@auth_router.post(
    "/login",
    response_model=LoginResponse,
    responses=error_responses(401, 422, 429),
    summary="Sign in: a bearer token for API clients, the same token as an HttpOnly cookie for the console",
)
async def login(
    body: LoginRequest, request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> LoginResponse:
    address = client_address(request)
    try:
        user = await service.authenticate(session, body.username, body.password, address, settings)
    except Unauthorized:
        await session.commit()  # the failed attempt counts towards the throttle
        raise
    token, row = await service.issue_token(session, user, settings, address)
    await audit.record(
        session, audit.Actor(f"user:{user.username}", user.id, address), "login", "user", user.id
    )
    csrf = service.csrf_for(token)
    max_age = settings.token_ttl_hours * 3600
    response.set_cookie(
        settings.cookie_name, token, max_age=max_age, httponly=True, secure=True, samesite="strict", path="/"
    )
    # readable by the console's script, which echoes it in X-CSRF-Token
    response.set_cookie(
        settings.csrf_cookie_name,
        csrf,
        max_age=max_age,
        httponly=False,
        secure=True,
        samesite="strict",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return LoginResponse(
        access_token=token, expires_at=row.expires_at, csrf_token=csrf, user=service.user_out(user)
    )


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403))
async def logout(
    principal: CurrentUser, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    await service.revoke_token(session, principal.token_id)
    await audit.record(session, actor_of(principal, request), "logout", "user", principal.user_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(settings.cookie_name, path="/", secure=True, httponly=True, samesite="strict")
    response.delete_cookie(settings.csrf_cookie_name, path="/", secure=True, samesite="strict")
    return response


@auth_router.get("/me", response_model=UserOut, responses=error_responses(401))
async def me(principal: CurrentUser, session: SessionDep) -> UserOut:
    return service.user_out(await service.get_user(session, principal.user_id))


class SessionOut(BaseModel):
    user: UserOut
    expires_at: datetime
    idle_minutes: int = Field(description="the console signs out after this long without activity")
    csrf_token: str | None = Field(
        description="for a cookie-authenticated console: the X-CSRF-Token to send (null for a bearer token)"
    )


@auth_router.get(
    "/session",
    response_model=SessionOut,
    responses=error_responses(401),
    summary="The current sign-in: who, until when, the console's inactivity limit",
)
async def current_session(
    principal: CurrentUser, request: Request, session: SessionDep, settings: SettingsDep
) -> SessionOut:
    from hotline_api.auth.models import AuthToken

    token = await session.get(AuthToken, principal.token_id)
    assert token is not None
    csrf = None
    if principal.via_cookie:
        csrf = service.csrf_for(request.cookies.get(settings.cookie_name, ""))
    response_user = service.user_out(await service.get_user(session, principal.user_id))
    return SessionOut(
        user=response_user,
        expires_at=token.expires_at,
        idle_minutes=settings.console_idle_minutes,
        csrf_token=csrf,
    )


@auth_router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 422),
    summary="Change my password; every session of mine ends (sign in again with the new one)",
)
async def change_password(
    body: PasswordChange, principal: CurrentUser, request: Request, session: SessionDep
) -> None:
    from hotline_api.auth import passwords

    user = await service.get_user(session, principal.user_id)
    if not passwords.verify_password(user.password_hash, body.current_password):
        raise Unprocessable("the current password is wrong", field="current_password")
    if body.new_password == body.current_password:
        raise Unprocessable("the new password must differ from the current one", field="new_password")
    await service.set_password(session, user, body.new_password)
    await audit.record(session, actor_of(principal, request), "change_password", "user", user.id)


# ---- user administration (admin) ---------------------------------------------------------------


@users_router.get("", response_model=list[UserOut], responses=error_responses(401, 403))
async def list_users(_: AdminUser, session: SessionDep, switchboard: str | None = None) -> list[UserOut]:
    return [service.user_out(u) for u in await service.list_users(session, switchboard)]


@users_router.post(
    "",
    response_model=UserCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
async def create_user(
    body: UserCreate, admin: AdminUser, request: Request, session: SessionDep
) -> UserCreated:
    user, one_time = await service.create_user(session, body)
    await audit.record(
        session,
        actor_of(admin, request),
        "create",
        "user",
        user.id,
        {"roles": sorted(body.roles), "home_switchboard": body.home_switchboard},
    )
    return UserCreated(user=service.user_out(user), one_time_password=one_time)


@users_router.get("/{user_id}", response_model=UserOut, responses=error_responses(401, 403, 404))
async def get_user(user_id: int, _: AdminUser, session: SessionDep) -> UserOut:
    return service.user_out(await service.get_user(session, user_id))


@users_router.patch("/{user_id}", response_model=UserOut, responses=error_responses(401, 403, 404, 409, 422))
async def update_user(
    user_id: int, body: UserUpdate, admin: AdminUser, request: Request, session: SessionDep
) -> UserOut:
    user = await service.get_user(session, user_id)
    changed = await service.update_user(session, user, body)
    if changed:
        details: dict[str, object] = {"fields": changed}
        if "roles" in changed:
            details["roles"] = sorted(r.role for r in user.roles)
        await audit.record(session, actor_of(admin, request), "update", "user", user.id, details)
    return service.user_out(await service.get_user(session, user_id))


@users_router.post(
    "/{user_id}/password",
    response_model=UserCreated,
    responses=error_responses(401, 403, 404, 422),
    summary="Reset a user's password; their sessions end",
)
async def reset_password(
    user_id: int, body: PasswordReset, admin: AdminUser, request: Request, session: SessionDep
) -> UserCreated:
    from hotline_api.auth import passwords

    user = await service.get_user(session, user_id)
    one_time = None
    new = body.new_password
    if new is None:
        new = one_time = passwords.generate_password()
    await service.set_password(session, user, new, must_change=True)
    await audit.record(session, actor_of(admin, request), "reset_password", "user", user.id)
    return UserCreated(user=service.user_out(user), one_time_password=one_time)


@users_router.post(
    "/{user_id}/revoke-sessions",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def revoke_sessions(user_id: int, admin: AdminUser, request: Request, session: SessionDep) -> None:
    user = await service.get_user(session, user_id)
    await service.revoke_all_tokens(session, user.id)
    await audit.record(session, actor_of(admin, request), "revoke_sessions", "user", user.id)
