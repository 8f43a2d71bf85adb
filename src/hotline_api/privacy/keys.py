"""Where the keys come from, and the check that they can read the data already stored.

Keys come from the environment (``HOTLINE_ENCRYPTION_KEYS``, ``HOTLINE_ACTIVE_KEY_ID``,
``HOTLINE_HASH_KEY``) or, when none is set, from ``<data>/keys/keys.json``, created on first start
(mode 0600 in a 0700 folder). Losing that file loses every encrypted record: docs/keys.md says how
to back it up.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from hotline_api.config import Settings
from hotline_api.privacy.crypto import CryptoError, Keyring, decode_key, encode_key, new_key
from hotline_api.privacy.models import KeyCheck

KEY_FILE = "keys.json"
_CHECK_TEXT = "hotline-api key check"
_CHECK_CONTEXT = "key_checks"
HASH_KEY_ID = "#hash"


class KeyMismatchError(RuntimeError):
    """The configured keys cannot read what is stored: the service must not start."""


def parse_key_list(text: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, value = item.partition(":")
        if not sep:
            raise CryptoError("HOTLINE_ENCRYPTION_KEYS entries must look like key_id:base64key")
        keys[kid.strip()] = decode_key(value)
    if not keys:
        raise CryptoError("HOTLINE_ENCRYPTION_KEYS names no key")
    return keys


def keyring_from_settings(settings: Settings) -> Keyring | None:
    """The keyring configured in the environment, or None when none is."""
    if settings.encryption_keys is None:
        if settings.hash_key is not None:
            raise CryptoError("HOTLINE_HASH_KEY is set but HOTLINE_ENCRYPTION_KEYS is not")
        return None
    keys = parse_key_list(settings.encryption_keys.get_secret_value())
    if settings.hash_key is None:
        raise CryptoError("HOTLINE_ENCRYPTION_KEYS is set but HOTLINE_HASH_KEY is not")
    active = settings.active_key_id or sorted(keys)[-1]
    return Keyring(
        keys=keys, active_key_id=active, hash_key=base64.b64decode(settings.hash_key.get_secret_value())
    )


def load_or_create_keyring(settings: Settings) -> tuple[Keyring, Path | None]:
    """The keyring, and the path of the key file when this call created it."""
    configured = keyring_from_settings(settings)
    if configured is not None:
        return configured, None
    path = settings.keys_dir / KEY_FILE
    created = None
    if not path.exists():
        created = path
        write_key_file(path, new_key_file())
    return read_key_file(path), created


def new_key_file() -> dict[str, object]:
    kid = "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return {
        "encryption_keys": {kid: encode_key(new_key())},
        "active_key_id": kid,
        "hash_key": encode_key(os.urandom(32)),
    }


def write_key_file(path: Path, content: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(content, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def read_key_file(path: Path) -> Keyring:
    try:
        content = json.loads(path.read_text())
        keys = {kid: decode_key(v) for kid, v in content["encryption_keys"].items()}
        return Keyring(
            keys=keys, active_key_id=content["active_key_id"], hash_key=decode_key(content["hash_key"])
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CryptoError(f"the key file {path} cannot be read: {exc}") from exc


_KEY_CHECK_LOCK = 0x4B45_5953  # "KEYS"


async def check_keys(session: AsyncSession, keyring: Keyring) -> None:
    """Refuse keys that cannot read stored data; record the active keys when first used.

    Raises KeyMismatchError naming what is wrong. Flushes; the caller commits.
    """
    # processes starting at once on a new database (serve --workers N, two services) would each
    # record the keys, and all but one fail to start on the duplicate: one at a time, to the commit
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEY_CHECK_LOCK})
    rows = (await session.scalars(select(KeyCheck))).all()
    problems: list[str] = []
    known = set()
    for row in rows:
        known.add(row.key_id)
        if row.kind == "hash":
            if row.check_value != keyring.hash_key_check():
                problems.append("the hash key differs from the one that hashed the stored data")
        elif row.key_id not in keyring.keys:
            problems.append(f"encryption key {row.key_id!r} has sealed data here but is not configured")
        else:
            try:
                ok = keyring.decrypt_bytes(row.check_value, _CHECK_CONTEXT) == _CHECK_TEXT.encode()
            except CryptoError:
                ok = False
            if not ok:
                problems.append(f"the configured key {row.key_id!r} is not the one that sealed stored data")
    if problems:
        raise KeyMismatchError(
            "the configured keys cannot read the existing data: "
            + "; ".join(problems)
            + ". Restore the key file or the HOTLINE_ENCRYPTION_KEYS / HOTLINE_HASH_KEY in use before."
        )
    if HASH_KEY_ID not in known:
        session.add(KeyCheck(key_id=HASH_KEY_ID, kind="hash", check_value=keyring.hash_key_check()))
    for kid in keyring.keys:
        if kid not in known:
            sealed = Keyring(keys={kid: keyring.keys[kid]}, active_key_id=kid, hash_key=keyring.hash_key)
            session.add(
                KeyCheck(
                    key_id=kid,
                    kind="encryption",
                    check_value=sealed.encrypt_bytes(_CHECK_TEXT.encode(), _CHECK_CONTEXT),
                )
            )
    await session.flush()
