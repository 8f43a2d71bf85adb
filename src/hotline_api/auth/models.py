from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline_api.db.base import Base

ROLES = ("counsellor", "supervisor", "national_supervisor", "analyst", "admin")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # the sign-in name, stored lower-case; staff names are not callers' personal data
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    home_switchboard: Mapped[str] = mapped_column(ForeignKey("switchboards.code"))
    # ISO 639-1 codes of the languages the user counsels in: vi, en, km, zh …
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(8)), default=lambda: ["vi"])
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    password_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # a password someone else chose (an admin, the first start): every request but changing it is
    # refused (403 password_change_required) until its owner does
    password_must_change: Mapped[bool] = mapped_column(default=False, server_default=false())

    roles: Mapped[list[UserRole]] = relationship(lazy="raise", cascade="all, delete-orphan")
    extensions: Mapped[list[UserExtension]] = relationship(lazy="raise", cascade="all, delete-orphan")


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="known_role"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class UserExtension(Base):
    """The extension a user answers on at a switchboard (``PJSIP/1012`` at Hanoi, say)."""

    __tablename__ = "user_extensions"
    __table_args__ = (UniqueConstraint("switchboard_code", "extension"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"), primary_key=True)
    extension: Mapped[str] = mapped_column(String(32))


class AuthToken(Base):
    """A sign-in: the token itself is never stored, only its SHA-256."""

    __tablename__ = "auth_tokens"
    __table_args__ = (
        Index("ix_auth_tokens_user_id_active", "user_id", postgresql_where="revoked_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    client_address: Mapped[str | None] = mapped_column(Text)


class LoginAttempt(Base):
    """Failed sign-ins, counted per user name and per address to throttle guessing."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "client_address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
