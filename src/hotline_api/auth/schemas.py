from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hotline_api.auth.models import ROLES

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,62}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}$"


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ExtensionIn(BaseModel):
    switchboard: str = Field(min_length=1, max_length=32)
    extension: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9/_.@-]+$",
        description="the dial target at that switchboard, e.g. PJSIP/1012",
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    roles: list[str]
    home_switchboard: str
    extensions: list[ExtensionIn]
    languages: list[str]
    is_active: bool
    created_at: datetime
    password_must_change: bool = Field(
        default=False,
        description="the password was chosen by someone else: the user must change it "
        "(POST /api/v1/auth/password) before anything else",
    )


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime
    csrf_token: str = Field(
        description="send as X-CSRF-Token with every state-changing request "
        "authenticated by the session cookie"
    )
    user: UserOut


def _check_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    return sorted(set(roles))


class UserCreate(BaseModel):
    username: str = Field(pattern=USERNAME_PATTERN, description="lower-case letters, digits, . _ -")
    display_name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1)
    home_switchboard: str
    extensions: list[ExtensionIn] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["vi"])
    password: str | None = Field(default=None, description="omit to have a one-time password generated")

    _roles = field_validator("roles")(_check_roles)

    @field_validator("languages")
    @classmethod
    def _languages(cls, v: list[str]) -> list[str]:
        import re

        for lang in v:
            if not re.match(LANGUAGE_PATTERN, lang):
                raise ValueError(f"language {lang!r} must be an ISO 639 code such as vi, en, km")
        return v


class UserCreated(BaseModel):
    user: UserOut
    one_time_password: str | None = Field(default=None, description="shown once; give it to the person")


class UserUpdate(BaseModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    roles: list[str] | None = Field(default=None, min_length=1)
    home_switchboard: str | None = None
    extensions: list[ExtensionIn] | None = None
    languages: list[str] | None = None
    is_active: bool | None = None

    _roles = field_validator("roles")(lambda v: None if v is None else _check_roles(v))


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordReset(BaseModel):
    new_password: str | None = Field(default=None, description="omit to have a one-time password generated")
