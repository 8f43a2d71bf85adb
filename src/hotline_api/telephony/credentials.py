"""Switchboard credentials: issue, revoke, and check a webhook request against them.

Two ways to prove a request comes from a switchboard (PRODUCT.md §1):
- HTTP Basic, user = the switchboard's code, password = its secret — what the dialplan's CURL() can
  send (``CURLOPT(userpwd)``);
- Standard Webhooks signatures — ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature:
  v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` under the secret's key, within ±5 minutes — what
  the relay sends.

Secrets look like ``whsec_<base64 of 32 random bytes>``; the HMAC key is the decoded part. Two
secrets may be active at once, so a PBX can move to a new one before the old one is revoked. A
secret of one switchboard never admits a request to another's path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.errors import Conflict, NotFound, Unauthorized, Unprocessable
from hotline_api.privacy.crypto import Keyring
from hotline_api.reference.models import Switchboard
from hotline_api.telephony.models import SwitchboardCredential

MAX_ACTIVE = 2
TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
_CONTEXT = "switchboard_credentials.secret"
# Revocation reaches every process within this many seconds; it saves a query per webhook.
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class ActiveSecret:
    id: str
    secret: str

    @property
    def hmac_key(self) -> bytes:
        return base64.b64decode(self.secret.removeprefix(SECRET_PREFIX))


@dataclass
class _Entry:
    until: float
    secrets: list[ActiveSecret]
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]


_cache: dict[str, _Entry] = {}


def clear_cache() -> None:
    _cache.clear()


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


async def get_switchboard(session: AsyncSession, code: str) -> Switchboard:
    board = await session.get(Switchboard, code)
    if board is None:
        raise NotFound(f"there is no switchboard {code!r}; the switchboards are hanoi, danang and angiang")
    return board


async def issue(
    session: AsyncSession, keyring: Keyring, code: str, label: str | None, actor: str
) -> tuple[SwitchboardCredential, str]:
    await get_switchboard(session, code)
    # serialise issuing per switchboard so two admins cannot both take the last free place
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("credentials:" + code))))
    active = await session.scalar(
        select(func.count())
        .select_from(SwitchboardCredential)
        .where(SwitchboardCredential.switchboard_code == code, SwitchboardCredential.revoked_at.is_(None))
    )
    if (active or 0) >= MAX_ACTIVE:
        raise Conflict(f"{code} already has {MAX_ACTIVE} active credentials; revoke the old one first")
    secret = new_secret()
    cred = SwitchboardCredential(
        id="cred_" + secrets.token_hex(8),
        switchboard_code=code,
        secret_enc=keyring.encrypt(secret, _CONTEXT),
        label=label,
        created_by=actor,
    )
    session.add(cred)
    await session.flush()
    await session.refresh(cred, ["created_at"])
    _cache.pop(code, None)
    return cred, secret


async def revoke(session: AsyncSession, code: str, credential_id: str, actor: str) -> SwitchboardCredential:
    cred = await session.get(SwitchboardCredential, credential_id)
    if cred is None or cred.switchboard_code != code:
        raise NotFound(f"{code} has no credential {credential_id!r}")
    if cred.revoked_at is None:
        cred.revoked_at = datetime.now(UTC)
        cred.revoked_by = actor
        await session.flush()
    _cache.pop(code, None)
    return cred


async def list_credentials(session: AsyncSession, code: str) -> list[SwitchboardCredential]:
    await get_switchboard(session, code)
    return list(
        (
            await session.scalars(
                select(SwitchboardCredential)
                .where(SwitchboardCredential.switchboard_code == code)
                .order_by(SwitchboardCredential.created_at)
            )
        ).all()
    )


async def set_allowed_networks(session: AsyncSession, code: str, networks: list[str]) -> list[str]:
    board = await get_switchboard(session, code)
    cleaned = []
    for n in networks:
        try:
            cleaned.append(str(ipaddress.ip_network(n.strip(), strict=False)))
        except ValueError:
            raise Unprocessable(f"{n!r} is not a network such as 203.0.113.0/24", field="networks") from None
    await session.execute(
        update(Switchboard).where(Switchboard.code == code).values(allowed_networks=cleaned)
    )
    board.allowed_networks = cleaned
    _cache.pop(code, None)
    return cleaned


async def _load(conn: AsyncConnection[Any], keyring: Keyring, code: str) -> _Entry:
    hit = _cache.get(code)
    if hit and hit.until > time.monotonic():
        return hit
    cur = await conn.execute("SELECT allowed_networks FROM switchboards WHERE code = %s", (code,))
    board = await cur.fetchone()
    if board is None:
        raise NotFound(f"there is no switchboard {code!r}; the switchboards are hanoi, danang and angiang")
    cur = await conn.execute(
        "SELECT id, secret_enc FROM switchboard_credentials WHERE switchboard_code = %s AND revoked_at IS NULL",
        (code,),
    )
    entry = _Entry(
        until=time.monotonic() + CACHE_SECONDS,
        secrets=[
            ActiveSecret(cid, keyring.decrypt(bytes(enc), _CONTEXT)) for cid, enc in await cur.fetchall()
        ],
        networks=[ipaddress.ip_network(n, strict=False) for n in board[0] or []],
    )
    _cache[code] = entry
    return entry


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _signature_ok(secret: ActiveSecret, msg_id: str, stamp: str, body: bytes, signatures: str) -> bool:
    expected = hmac.new(secret.hmac_key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    for sig in signatures.split():
        version, _, value = sig.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(given, expected):
            return True
    return False


async def authenticate(
    conn: AsyncConnection[Any],
    keyring: Keyring,
    code: str,
    headers: dict[str, str],
    body: bytes,
    client_address: str,
) -> str:
    """Check a webhook request; returns the credential id, or raises Unauthorized/NotFound.

    Never says which part failed beyond what helps a PBX admin fix their configuration.
    """
    entry = await _load(conn, keyring, code)
    if entry.networks:
        try:
            addr = ipaddress.ip_address(client_address)
        except ValueError:
            addr = None
        if addr is None or not any(addr in n for n in entry.networks):
            raise Unauthorized(f"requests for {code} are not accepted from this address")
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if msg_id and stamp and signatures:
        try:
            sent = int(stamp)
        except ValueError:
            raise Unauthorized("webhook-timestamp must be whole seconds since 1970") from None
        if abs(time.time() - sent) > TOLERANCE_SECONDS:
            raise Unauthorized(
                "webhook-timestamp is more than 5 minutes away from our clock: check the PBX's NTP"
            )
        for secret in entry.secrets:
            if _signature_ok(secret, msg_id, stamp, body, signatures):
                return secret.id
        raise Unauthorized("webhook-signature does not match any active secret of this switchboard")
    auth = headers.get("authorization")
    basic = _basic(auth) if auth else None
    if basic is not None:
        user, password = basic
        matched = None
        for secret in entry.secrets:
            # compare against every secret, so timing does not tell which one came close
            if hmac.compare_digest(password.encode(), secret.secret.encode()):
                matched = secret.id
        if matched and hmac.compare_digest(user.encode(), code.encode()):
            return matched
        raise Unauthorized(f"wrong user or secret for switchboard {code}")
    raise Unauthorized(
        "send HTTP Basic credentials (user = switchboard code) or a Standard Webhooks signature"
    )
