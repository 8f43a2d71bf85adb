"""Real service processes over a database of their own, for tests across processes."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg

from hotline_api.privacy.crypto import encode_key
from tests.conftest import free_port
from tests.factories import KEYRING

COUNSELLORS = 3


def service_env(url: str) -> dict[str, str]:
    keys = ",".join(f"{kid}:{encode_key(key)}" for kid, key in KEYRING.keys.items())
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        {
            "HOTLINE_DATABASE_URL": url,
            "HOTLINE_ENCRYPTION_KEYS": keys,
            "HOTLINE_ACTIVE_KEY_ID": KEYRING.active_key_id,
            "HOTLINE_HASH_KEY": base64.b64encode(KEYRING.hash_key).decode(),
            "HOTLINE_LOG_LEVEL": "warning",
        }
    )
    return env


def seed(conninfo: str) -> str:
    """Three counsellors at Hà Nội, every switchboard open; returns Hà Nội's webhook secret."""
    all_day = json.dumps({str(d): ["00:00", "23:59"] for d in range(1, 8)})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE routing_settings SET opening_hours = %s::jsonb, ring_timeout_seconds = 120", (all_day,)
        )
        for n in range(COUNSELLORS):
            uid = conn.execute(
                "INSERT INTO users (username, display_name, password_hash, home_switchboard, languages, is_active) "
                "VALUES (%s, %s, 'x', 'hanoi', '{vi}', true) RETURNING id",
                (f"c{n}", f"Tư vấn viên {n}"),
            ).fetchone()[0]  # type: ignore[index]
            conn.execute("INSERT INTO user_roles (user_id, role) VALUES (%s, 'counsellor')", (uid,))
            conn.execute(
                "INSERT INTO user_extensions (user_id, switchboard_code, extension) VALUES (%s, 'hanoi', %s)",
                (uid, f"PJSIP/10{n}"),
            )
            conn.execute(
                "INSERT INTO counsellor_presence (user_id, switchboard_code, state, since, idle_since) "
                "VALUES (%s, 'hanoi', 'offline', now(), now())",
                (uid,),
            )

    return issue_secret(conninfo)


def issue_secret(conninfo: str) -> str:
    from hotline_api.telephony.credentials import new_secret

    secret = new_secret()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO switchboard_credentials (id, switchboard_code, secret_enc, label, created_by) "
            "VALUES ('cred_race', 'hanoi', %s, 'race', 'system:test')",
            (KEYRING.encrypt(secret, "switchboard_credentials.secret"),),
        )
    return secret


@contextmanager
def running(url: str, count: int) -> Iterator[list[int]]:
    """``count`` uvicorn processes of the service on ``url``; their ports."""
    ports = [free_port() for _ in range(count)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "hotline_api.app:app_factory",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=service_env(url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 30
        for port, proc in zip(ports, procs, strict=True):
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server on {port} did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]
                time.sleep(0.1)
        yield ports
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
