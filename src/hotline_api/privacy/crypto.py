"""Authenticated encryption of personal values, and keyed hashes for matching without decrypting.

Every encrypted value records the id of the key that sealed it, so keys can rotate: the active key
seals, every configured key opens. Values are AES-256-GCM with a random 96-bit nonce; the
associated data binds a value to its purpose (``calls.caller_number``, say), so a ciphertext copied
into another column does not decrypt there.

Blob layout (bytea)::

    0x01 | len(key_id) (1 byte) | key_id (ASCII) | nonce (12 bytes) | ciphertext + tag (16 bytes)

Matching goes through HMAC-SHA256 under a separate hash key (see ``keyed_hash``): equal inputs give
equal hashes, and without the key a hash cannot be tested against a guessed phone number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
_AAD_PREFIX = b"hotline-api/v1\x00"
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class CryptoError(Exception):
    """A value cannot be sealed or opened with the configured keys."""


class UnknownKeyError(CryptoError):
    pass


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise CryptoError("a key is not valid base64") from exc
    if len(key) != 32:
        raise CryptoError(f"a key must be 32 bytes (256 bits), this one is {len(key)}")
    return key


@dataclass(frozen=True)
class Keyring:
    """The encryption keys by id, which one seals new values, and the hash key."""

    keys: dict[str, bytes]
    active_key_id: str
    hash_key: bytes
    _aead: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise CryptoError(f"the active key id {self.active_key_id!r} is not among the configured keys")
        for kid, key in self.keys.items():
            if not KEY_ID_RE.match(kid):
                raise CryptoError(f"key id {kid!r} must be 1-64 letters, digits, '.', '_' or '-'")
            if len(key) != 32:
                raise CryptoError(f"key {kid!r} must be 32 bytes")
            self._aead[kid] = AESGCM(key)
        if len(self.hash_key) < 32:
            raise CryptoError("the hash key must be at least 32 bytes")

    # ---- encryption -------------------------------------------------------------------------

    def encrypt_bytes(self, plaintext: bytes, context: str) -> bytes:
        kid = self.active_key_id
        nonce = os.urandom(12)
        sealed = self._aead[kid].encrypt(nonce, plaintext, _AAD_PREFIX + context.encode())
        kid_bytes = kid.encode("ascii")
        return bytes([FORMAT_VERSION, len(kid_bytes)]) + kid_bytes + nonce + sealed

    def decrypt_bytes(self, blob: bytes, context: str) -> bytes:
        kid, nonce, sealed = _split(blob)
        aead = self._aead.get(kid)
        if aead is None:
            raise UnknownKeyError(f"the value was sealed with key {kid!r}, which is not configured")
        try:
            return aead.decrypt(nonce, sealed, _AAD_PREFIX + context.encode())
        except InvalidTag as exc:
            raise CryptoError(f"the value does not open with key {kid!r} for {context!r}") from exc

    def encrypt(self, plaintext: str, context: str) -> bytes:
        return self.encrypt_bytes(plaintext.encode("utf-8"), context)

    def decrypt(self, blob: bytes, context: str) -> str:
        return self.decrypt_bytes(blob, context).decode("utf-8")

    def encrypt_optional(self, plaintext: str | None, context: str) -> bytes | None:
        return None if plaintext is None else self.encrypt(plaintext, context)

    def decrypt_optional(self, blob: bytes | None, context: str) -> str | None:
        return None if blob is None else self.decrypt(blob, context)

    def needs_rotation(self, blob: bytes) -> bool:
        return key_id_of(blob) != self.active_key_id

    # ---- matching ---------------------------------------------------------------------------

    def keyed_hash(self, value: str, purpose: str) -> bytes:
        """HMAC-SHA256 of a normalised value; ``purpose`` separates the spaces (phone, name…)."""
        msg = purpose.encode() + b"\x00" + value.encode("utf-8")
        return hmac.new(self.hash_key, msg, hashlib.sha256).digest()

    def keyed_hash_bytes(self, value: bytes, purpose: str) -> bytes:
        return hmac.new(self.hash_key, purpose.encode() + b"\x00" + value, hashlib.sha256).digest()

    def hash_key_check(self) -> bytes:
        return self.keyed_hash("hotline-api hash key check", "key-check")


def key_id_of(blob: bytes) -> str:
    return _split(blob)[0]


def _split(blob: bytes) -> tuple[str, bytes, bytes]:
    if len(blob) < 2 or blob[0] != FORMAT_VERSION:
        raise CryptoError("not an encrypted value of a known format")
    n = blob[1]
    if len(blob) < 2 + n + 12 + 16:
        raise CryptoError("the encrypted value is truncated")
    kid = blob[2 : 2 + n].decode("ascii", errors="replace")
    nonce = blob[2 + n : 2 + n + 12]
    return kid, nonce, blob[2 + n + 12 :]
