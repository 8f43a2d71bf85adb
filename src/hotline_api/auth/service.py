"""Users, sign-in tokens and the login throttle. Services flush; the request commits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.base import ExecutableOption

from hotline_api.auth import passwords
from hotline_api.auth.models import AuthToken, LoginAttempt, User, UserExtension, UserRole
from hotline_api.auth.schemas import ExtensionIn, UserCreate, UserOut, UserUpdate
from hotline_api.config import Settings
from hotline_api.errors import Conflict, NotFound, TooManyRequests, Unauthorized, Unprocessable
from hotline_api.reference.models import Switchboard


@dataclass(frozen=True)
class Principal:
    """The signed-in user as a request sees them."""

    user_id: int
    username: str
    roles: frozenset[str]
    home_switchboard: str
    token_id: int
    via_cookie: bool
    password_must_change: bool = False

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def actor_label(self) -> str:
        return f"user:{self.username}"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def csrf_for(token: str) -> str:
    """The CSRF token bound to a session token: only who holds the session can compute it."""
    return hmac.new(token.encode(), b"hotline-api csrf", hashlib.sha256).hexdigest()


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=sorted(r.role for r in user.roles),
        home_switchboard=user.home_switchboard,
        extensions=[
            ExtensionIn(switchboard=e.switchboard_code, extension=e.extension) for e in user.extensions
        ],
        languages=list(user.languages),
        is_active=user.is_active,
        created_at=user.created_at,
        password_must_change=user.password_must_change,
    )


def _with_children() -> tuple[ExecutableOption, ...]:
    return (selectinload(User.roles), selectinload(User.extensions))


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.scalar(select(User).where(User.id == user_id).options(*_with_children()))
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


async def list_users(session: AsyncSession, switchboard: str | None = None) -> list[User]:
    stmt = select(User).options(*_with_children()).order_by(User.username)
    if switchboard:
        stmt = stmt.where(User.home_switchboard == switchboard)
    return list((await session.scalars(stmt)).all())


async def count_users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def _check_switchboards(session: AsyncSession, codes: set[str], field: str) -> None:
    if not codes:
        return
    known = set((await session.scalars(select(Switchboard.code).where(Switchboard.code.in_(codes)))).all())
    missing = sorted(codes - known)
    if missing:
        raise Unprocessable(f"unknown switchboard {missing[0]!r}", field=field)


async def _set_extensions(session: AsyncSession, user: User, extensions: list[ExtensionIn]) -> None:
    await _check_switchboards(session, {e.switchboard for e in extensions}, "extensions")
    per_board = [e.switchboard for e in extensions]
    if len(per_board) != len(set(per_board)):
        raise Unprocessable("one extension per switchboard", field="extensions")
    for ext in extensions:
        taken = await session.scalar(
            select(UserExtension.user_id).where(
                UserExtension.switchboard_code == ext.switchboard,
                UserExtension.extension == ext.extension,
                UserExtension.user_id != user.id,
            )
        )
        if taken is not None:
            raise Conflict(
                f"extension {ext.extension} at {ext.switchboard} belongs to another user", field="extensions"
            )
    user.extensions = [
        UserExtension(switchboard_code=e.switchboard, extension=e.extension) for e in extensions
    ]


async def create_user(
    session: AsyncSession, data: UserCreate, *, must_change: bool = True
) -> tuple[User, str | None]:
    """Create a user; returns the one-time password when none was given.

    The password is someone else's choice (an admin's, or generated): its owner must change it at
    the first sign-in, unless ``must_change`` is false (the demo's users).
    """
    if await session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise Conflict(f"the user name {data.username!r} is taken", field="username")
    await _check_switchboards(session, {data.home_switchboard}, "home_switchboard")
    one_time = None
    password = data.password
    if password is None:
        password = one_time = passwords.generate_password()
    problem = passwords.password_problem(password)
    if problem:
        raise Unprocessable(problem, field="password")
    user = User(
        username=data.username,
        display_name=data.display_name,
        password_hash=passwords.hash_password(password),
        home_switchboard=data.home_switchboard,
        languages=data.languages,
        is_active=True,
        password_must_change=must_change,
        roles=[UserRole(role=r) for r in data.roles],
        extensions=[],
    )
    session.add(user)
    await session.flush()
    await _set_extensions(session, user, data.extensions)
    await session.flush()
    await session.refresh(user, ["created_at"])
    return user, one_time


LAST_ADMIN_LOCK = 0x686C_6164  # "hlad"


async def update_user(session: AsyncSession, user: User, data: UserUpdate) -> list[str]:
    """Apply the fields given; returns the names of the fields changed (for the audit entry)."""
    changed: list[str] = []
    was_admin = user.is_active and any(r.role == "admin" for r in user.roles)
    stays_admin = (data.is_active if data.is_active is not None else user.is_active) and (
        "admin" in data.roles if data.roles is not None else was_admin
    )
    if was_admin and not stays_admin:
        # the last active admin cannot be removed: nobody could then manage users or credentials
        # (two admins demoting each other at once take turns on this lock)
        await session.execute(select(func.pg_advisory_xact_lock(LAST_ADMIN_LOCK)))
        others = await session.scalar(
            select(func.count())
            .select_from(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == "admin", User.is_active, User.id != user.id)
        )
        if not others:
            raise Conflict("this is the last active admin: make another user admin first", field="roles")
    if data.display_name is not None and data.display_name != user.display_name:
        user.display_name = data.display_name
        changed.append("display_name")
    if data.roles is not None and sorted(data.roles) != sorted(r.role for r in user.roles):
        user.roles = [UserRole(role=r) for r in data.roles]
        changed.append("roles")
    if data.home_switchboard is not None and data.home_switchboard != user.home_switchboard:
        await _check_switchboards(session, {data.home_switchboard}, "home_switchboard")
        user.home_switchboard = data.home_switchboard
        changed.append("home_switchboard")
    if data.extensions is not None:
        await _set_extensions(session, user, data.extensions)
        changed.append("extensions")
    if data.languages is not None and data.languages != list(user.languages):
        user.languages = data.languages
        changed.append("languages")
    if data.is_active is not None and data.is_active != user.is_active:
        user.is_active = data.is_active
        changed.append("is_active")
        if not data.is_active:
            await revoke_all_tokens(session, user.id)
    await session.flush()
    return changed


async def set_password(
    session: AsyncSession, user: User, new_password: str, *, must_change: bool = False
) -> None:
    """Set a password and end every session of the user; ``must_change`` when someone else chose
    it (an admin's reset)."""
    problem = passwords.password_problem(new_password)
    if problem:
        raise Unprocessable(problem, field="new_password")
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = datetime.now(UTC)
    user.password_must_change = must_change
    await revoke_all_tokens(session, user.id)
    await session.flush()


# ---- tokens ---------------------------------------------------------------------------------


async def issue_token(
    session: AsyncSession, user: User, settings: Settings, client_address: str | None
) -> tuple[str, AuthToken]:
    token = secrets.token_urlsafe(32)
    row = AuthToken(
        user_id=user.id,
        token_hash=token_digest(token),
        expires_at=datetime.now(UTC) + timedelta(hours=settings.token_ttl_hours),
        client_address=client_address,
    )
    session.add(row)
    await session.flush()
    return token, row


async def principal_for_token(session: AsyncSession, token: str, via_cookie: bool) -> Principal:
    row = (
        await session.execute(
            select(AuthToken, User)
            .join(User, User.id == AuthToken.user_id)
            .where(AuthToken.token_hash == token_digest(token))
            .options(selectinload(User.roles))
        )
    ).one_or_none()
    if row is None:
        raise Unauthorized("the credential is not valid")
    tok, user = row
    if tok.revoked_at is not None:
        raise Unauthorized("the session has ended; sign in again")
    if tok.expires_at <= datetime.now(UTC):
        raise Unauthorized("the session has expired; sign in again")
    if not user.is_active:
        raise Unauthorized("the account is disabled")
    return Principal(
        user_id=user.id,
        username=user.username,
        roles=frozenset(r.role for r in user.roles),
        home_switchboard=user.home_switchboard,
        token_id=tok.id,
        via_cookie=via_cookie,
        password_must_change=user.password_must_change,
    )


async def revoke_token(session: AsyncSession, token_id: int) -> None:
    await session.execute(
        update(AuthToken)
        .where(AuthToken.id == token_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


async def revoke_all_tokens(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


# ---- sign-in and its throttle ---------------------------------------------------------------


async def _throttle(session: AsyncSession, username: str, address: str, settings: Settings) -> None:
    since = datetime.now(UTC) - timedelta(minutes=settings.login_failure_window_minutes)
    window = settings.login_failure_window_minutes * 60
    for column, value, limit in (
        (LoginAttempt.username, username, settings.login_max_failures_per_user),
        (LoginAttempt.client_address, address, settings.login_max_failures_per_address),
    ):
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(LoginAttempt.at)).where(
                    column == value, LoginAttempt.at > since
                )
            )
        ).one()
        if count >= limit:
            retry = window - int((datetime.now(UTC) - oldest).total_seconds())
            raise TooManyRequests(
                "too many failed sign-ins; wait before trying again or ask an admin to reset the password",
                retry_after=retry,
            )


async def authenticate(
    session: AsyncSession, username: str, password: str, address: str, settings: Settings
) -> User:
    """The user for these credentials. A failure is recorded (the caller commits it) and raises."""
    username = username.strip().lower()
    await _throttle(session, username, address, settings)
    user = await session.scalar(select(User).where(User.username == username).options(*_with_children()))
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        session.add(LoginAttempt(username=username[:64], client_address=address))
        await session.flush()
        raise Unauthorized("wrong user name or password")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    # a success clears the user's failures (not the address's)
    await session.execute(delete(LoginAttempt).where(LoginAttempt.username == username))
    return user
