"""Durable webhook ingest: events per second, beside two references served the same way.

    python benchmarks/ingest.py [--duration 15] [--connections 32] [--workers 2]

Starts an embedded PostgreSQL (fsync and synchronous_commit on, as in production), migrates it, and
for each of three apps — ``bare`` (validates the JSON body, no database), ``naive`` (inserts the raw
body and commits) and ``service`` (the real intake) — starts uvicorn with the same options and drives
it with wrk (Debian's package) on loopback: unique ARI events, one per request (as the dialplan's
CURL() sends them) and in batches of 20 (as a relay does). Prints events/s, latency percentiles, the
ratio to the naive endpoint, and checks that every acknowledged event is in the database.
Needs: ``apt-get install wrk``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from hotline_api.db import migrate  # noqa: E402
from hotline_api.db.embedded import EmbeddedPostgres  # noqa: E402
from hotline_api.privacy.crypto import Keyring, encode_key, new_key  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def run_wrk(port: int, seconds: int, connections: int, batch: int, auth: str | None) -> dict[str, float]:
    env = {**os.environ, "BATCH": str(batch), "PATH_": "/webhooks/asterisk/hanoi/ari"}
    if auth:
        env["AUTH"] = auth
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "benchmarks" / "ingest.lua"),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    m = re.search(
        r"RESULT requests=(\d+) non2xx=(\d+) errors=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+)", out
    )
    if not m:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    requests, non2xx, errors, duration, p50, p99 = (int(x) for x in m.groups())
    ok = requests - non2xx
    return {
        "requests": requests,
        "ok": ok,
        "non2xx": non2xx,
        "errors": errors,
        "seconds": duration / 1e6,
        "events_per_s": ok * batch / (duration / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
    }


def count_rows(url: str, table: str) -> int:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]  # noqa: S608


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes for every app")
    parser.add_argument("--apps", default="bare,naive_sqlalchemy,naive,service")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    base = Path(tempfile.mkdtemp(prefix="hl-bench-", dir="/tmp"))
    os.chmod(base, 0o711)  # noqa: S103 - our own throwaway folder, reachable by the PostgreSQL user
    pg = EmbeddedPostgres(base / "data")
    pg.acquire()
    try:
        pg.ensure_database("bench")
        url = pg.url("bench")
        migrate.upgrade(url)
        import psycopg

        with psycopg.connect(pg.conninfo("bench"), autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS naive_events (id bigserial PRIMARY KEY, body bytea NOT NULL, "
                "received_at timestamptz NOT NULL DEFAULT now())"
            )
            settings_row = conn.execute(
                "SELECT current_setting('fsync'), current_setting('synchronous_commit')"
            ).fetchone()
        key, hash_key = new_key(), os.urandom(32)
        env = {
            **os.environ,
            "HOTLINE_DATABASE_URL": url,
            "HOTLINE_ENCRYPTION_KEYS": f"bench:{encode_key(key)}",
            "HOTLINE_ACTIVE_KEY_ID": "bench",
            "HOTLINE_HASH_KEY": base64.b64encode(hash_key).decode(),
            "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}",
        }
        secret = asyncio.run(_issue_secret(url, Keyring({"bench": key}, "bench", hash_key)))
        auth = "Basic " + base64.b64encode(f"hanoi:{secret}".encode()).decode()

        print(
            f"machine: {os.cpu_count()} cores, {_mem_gib():.0f} GiB, Python {platform.python_version()}, "
            f"PostgreSQL 18 (embedded), fsync={settings_row[0]}, synchronous_commit={settings_row[1]}"
        )  # type: ignore[index]
        print(
            f"uvicorn --workers {args.workers} --loop uvloop --http httptools; wrk -t1 -c{args.connections} "
            f"-d{args.duration}s\n"
        )
        results: dict[tuple[str, int], dict[str, float]] = {}
        for app in args.apps.split(","):
            for batch in (1, 20):
                port = free_port()
                cmd = [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    f"benchmarks._apps:{app}",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--loop",
                    "uvloop",
                    "--http",
                    "httptools",
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ]
                server = subprocess.Popen(
                    cmd,
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                try:
                    wait_ready(port)
                    time.sleep(1.0)
                    before = count_rows(url, "webhook_events") if app == "service" else 0
                    run_wrk(port, 3, args.connections, batch, auth)  # warm-up
                    if app == "service":
                        before = count_rows(url, "webhook_events")
                    r = run_wrk(port, args.duration, args.connections, batch, auth)
                    if app == "service":
                        stored = count_rows(url, "webhook_events") - before
                        r["stored"] = stored
                        r["acknowledged"] = r["ok"] * batch
                    results[(app, batch)] = r
                    extra = ""
                    if app == "service":
                        extra = f"  acknowledged {int(r['acknowledged'])}, stored {int(r['stored'])}"
                    print(
                        f"{app:8} batch {batch:2}: {r['events_per_s']:9.0f} events/s  p50 {r['p50_ms']:6.1f} ms  "
                        f"p99 {r['p99_ms']:7.1f} ms  non-2xx {int(r['non2xx'])}  errors {int(r['errors'])}{extra}"
                    )
                finally:
                    os.killpg(server.pid, signal.SIGTERM)
                    server.wait(timeout=30)
        if ("service", 1) in results and ("naive", 1) in results:  # naive: psycopg, the intake's own driver
            print()
            for batch in (1, 20):
                s, n = results[("service", batch)], results.get(("naive", batch))
                if n:
                    print(f"service / naive, batch {batch:2}: {s['events_per_s'] / n['events_per_s']:.0%}")
            single = results[("service", 1)]["events_per_s"]
            batched = results[("service", 20)]["events_per_s"]
            print(
                f"\ntargets: single ≥ 2,000 events/s: {'met' if single >= 2000 else 'MISSED'} ({single:.0f}); "
                f"≥ 80% of naive: {'met' if single >= 0.8 * results[('naive', 1)]['events_per_s'] else 'MISSED'}; "
                f"batches ≥ 10,000 events/s: {'met' if batched >= 10000 else 'MISSED'} ({batched:.0f})"
            )
    finally:
        pg.release()
        shutil.rmtree(base, ignore_errors=True)


async def _issue_secret(url: str, keyring: Keyring) -> str:
    from hotline_api.db.session import make_engine, make_sessionmaker
    from hotline_api.privacy.keys import check_keys
    from hotline_api.telephony import credentials

    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        await check_keys(session, keyring)
        _, secret = await credentials.issue(session, keyring, "hanoi", "bench", "system:bench")
        await session.commit()
    await engine.dispose()
    return secret


def _mem_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


if __name__ == "__main__":
    main()
