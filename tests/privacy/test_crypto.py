from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import text

from hotline_api.config import Settings
from hotline_api.privacy.crypto import CryptoError, Keyring, UnknownKeyError, key_id_of, new_key
from hotline_api.privacy.keys import KeyMismatchError, check_keys, load_or_create_keyring
from hotline_api.privacy.normalise import name_tokens, normalise_phone, unaccent

K1, K2, H = new_key(), new_key(), os.urandom(32)


def test_round_trip_and_rotation_with_two_keys() -> None:
    old = Keyring(keys={"k1": K1}, active_key_id="k1", hash_key=H)
    sealed_old = old.encrypt("0912 345 678 — Nguyễn Thị Hoa", "calls.caller")
    assert key_id_of(sealed_old) == "k1"
    assert b"Nguy" not in sealed_old and b"0912" not in sealed_old

    rotated = Keyring(keys={"k1": K1, "k2": K2}, active_key_id="k2", hash_key=H)
    sealed_new = rotated.encrypt("Trần Văn Nam", "calls.caller")
    assert key_id_of(sealed_new) == "k2"
    # both keys open what they sealed; the new ring reads the old value
    assert rotated.decrypt(sealed_old, "calls.caller") == "0912 345 678 — Nguyễn Thị Hoa"
    assert rotated.decrypt(sealed_new, "calls.caller") == "Trần Văn Nam"
    assert rotated.needs_rotation(sealed_old) and not rotated.needs_rotation(sealed_new)
    # the old ring alone cannot read the new key's value, and says which key is missing
    with pytest.raises(UnknownKeyError, match="k2"):
        old.decrypt(sealed_new, "calls.caller")


def test_same_value_seals_differently_and_tampering_is_detected() -> None:
    ring = Keyring(keys={"k1": K1}, active_key_id="k1", hash_key=H)
    a, b = ring.encrypt("0912345678", "x"), ring.encrypt("0912345678", "x")
    assert a != b  # random nonce
    tampered = bytearray(a)
    tampered[-1] ^= 1
    with pytest.raises(CryptoError):
        ring.decrypt(bytes(tampered), "x")
    with pytest.raises(CryptoError):  # bound to its purpose
        ring.decrypt(a, "cases.notes")
    with pytest.raises(CryptoError):
        ring.decrypt(b"garbage", "x")


def test_wrong_key_with_same_id_is_refused() -> None:
    ring = Keyring(keys={"k1": K1}, active_key_id="k1", hash_key=H)
    impostor = Keyring(keys={"k1": K2}, active_key_id="k1", hash_key=H)
    with pytest.raises(CryptoError):
        impostor.decrypt(ring.encrypt("secret", "x"), "x")


def test_keyring_rejects_bad_configuration() -> None:
    with pytest.raises(CryptoError, match="active key"):
        Keyring(keys={"k1": K1}, active_key_id="k9", hash_key=H)
    with pytest.raises(CryptoError, match="32 bytes"):
        Keyring(keys={"k1": b"short"}, active_key_id="k1", hash_key=H)


def test_keyed_hash_matches_without_revealing() -> None:
    ring = Keyring(keys={"k1": K1}, active_key_id="k1", hash_key=H)
    other = Keyring(keys={"k1": K1}, active_key_id="k1", hash_key=os.urandom(32))
    a = ring.keyed_hash("+84912345678", "phone")
    assert a == ring.keyed_hash("+84912345678", "phone")
    assert a != ring.keyed_hash("+84912345679", "phone")
    assert a != ring.keyed_hash("+84912345678", "name")  # purposes are separate spaces
    assert a != other.keyed_hash("+84912345678", "phone")  # useless without the key
    assert len(a) == 32


def test_normalise_phone_numbers() -> None:
    assert normalise_phone("0912 345 678") == "+84912345678"
    assert normalise_phone("+84 912-345-678") == "+84912345678"
    assert normalise_phone("84912345678") == "+84912345678"
    assert normalise_phone("(0236) 3822 123") == "+842363822123"  # Đà Nẵng landline
    assert normalise_phone("111") == "111"  # the short number is kept as digits
    assert normalise_phone("anonymous") is None
    assert normalise_phone("") is None


def test_name_tokens_ignore_diacritics_and_case() -> None:
    assert unaccent("Nguyễn Thị Đào") == "Nguyen Thi Dao"
    assert name_tokens("NGUYỄN  thị Đào, Nguyễn") == ["nguyen", "thi", "dao"]
    assert name_tokens("Nguyen Thi Dao") == name_tokens("Nguyễn Thị Đào")


def test_keys_created_once_in_a_closed_folder(tmp_path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    ring, created = load_or_create_keyring(settings)
    assert created == tmp_path / "keys" / "keys.json"
    assert created is not None
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert stat.S_IMODE(created.parent.stat().st_mode) == 0o700
    again, created_again = load_or_create_keyring(settings)
    assert created_again is None
    assert again.keys == ring.keys and again.hash_key == ring.hash_key


def test_keys_from_environment(monkeypatch) -> None:
    import base64

    monkeypatch.setenv(
        "HOTLINE_ENCRYPTION_KEYS", f"a:{base64.b64encode(K1).decode()},b:{base64.b64encode(K2).decode()}"
    )
    monkeypatch.setenv("HOTLINE_ACTIVE_KEY_ID", "a")
    monkeypatch.setenv("HOTLINE_HASH_KEY", base64.b64encode(H).decode())
    ring, created = load_or_create_keyring(Settings(_env_file=None))
    assert created is None and ring.active_key_id == "a" and set(ring.keys) == {"a", "b"}
    monkeypatch.delenv("HOTLINE_HASH_KEY")
    with pytest.raises(CryptoError, match="HOTLINE_HASH_KEY"):
        load_or_create_keyring(Settings(_env_file=None))


async def test_service_refuses_keys_that_cannot_read_stored_data(session) -> None:
    # start from a clean slate inside this test's transaction
    await session.execute(text("DELETE FROM key_checks"))
    ring = Keyring(keys={"k1": K1}, active_key_id="k1", hash_key=H)
    await check_keys(session, ring)  # first start: records checks for k1 and the hash key
    await check_keys(session, ring)  # same keys: fine
    # a new key added for rotation is fine, as long as k1 is still there
    await check_keys(session, Keyring(keys={"k1": K1, "k2": K2}, active_key_id="k2", hash_key=H))

    with pytest.raises(KeyMismatchError, match="'k1'"):  # k1 missing
        await check_keys(session, Keyring(keys={"k2": K2}, active_key_id="k2", hash_key=H))
    with pytest.raises(KeyMismatchError, match="not the one"):  # same id, other key
        await check_keys(session, Keyring(keys={"k1": K2, "k2": K2}, active_key_id="k1", hash_key=H))
    with pytest.raises(KeyMismatchError, match="hash key"):
        await check_keys(
            session, Keyring(keys={"k1": K1, "k2": K2}, active_key_id="k1", hash_key=os.urandom(32))
        )


async def test_processes_starting_at_once_on_a_new_database_record_the_keys_once(pg_server) -> None:
    """Two service processes (or workers) starting together on a new database both find no key
    checks; without the lock the second failed to start on the duplicate row."""
    import asyncio

    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from hotline_api.db import migrate

    db = "hotline_key_race"
    pg_server.drop_database(db)
    pg_server.ensure_database(db)
    migrate.upgrade(pg_server.url(db))
    engine = create_async_engine(pg_server.url(db))
    ring = Keyring(keys={"k1": K1}, active_key_id="k1", hash_key=H)
    both_read = asyncio.Event()
    readers = 0

    async def start() -> None:
        nonlocal readers
        async with AsyncSession(engine) as session:
            readers += 1
            if readers == 2:
                both_read.set()
            await both_read.wait()  # both begin before either has committed
            await check_keys(session, ring)
            await asyncio.sleep(0.2)  # the rest of a start-up, still in the transaction
            await session.commit()

    try:
        await asyncio.wait_for(asyncio.gather(start(), start()), 30)
        async with engine.connect() as conn:
            kinds = (await conn.execute(text("SELECT kind FROM key_checks ORDER BY kind"))).scalars().all()
        assert kinds == ["encryption", "hash"]
    finally:
        await engine.dispose()
        pg_server.drop_database(db)
