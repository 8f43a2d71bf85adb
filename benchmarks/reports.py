# ruff: noqa: S608
"""The reports at national scale: 10 million calls (about twenty years of 111), each report timed
over HTTP beside the plain GROUP BY over the raw tables, in the same run; and how far behind the
records the figures are.

    python benchmarks/reports.py                 # 10,000,000 calls (a few minutes to load)
    python benchmarks/reports.py --calls 1000000 # a quicker look

It starts an embedded PostgreSQL of its own (fsync on), migrates it, loads the calls with COPY
(with the calls' triggers disabled during the load, as a restore would, then the rollup built from
scratch), one contact record per twelve calls (about the share of 111's calls that are counselled)
with INSERT … SELECT, starts the service (uvicorn, one worker) and measures. It prints the figures
and cleans up after itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ("hanoi", "danang", "angiang")
COLUMNS = (
    "switchboard_code, linkedid, started_at, last_event_at, dialled_number, caller_region, ivr_answered_at, "
    "wait_started_at, answered_at, answered_switchboard, timed_out_at, ended_at"
)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S+00")


def call_lines(n: int, first: datetime, last: datetime, seed: int) -> Any:
    """n calls spread evenly over the period: tab-separated COPY lines, in chunks."""
    rng = random.Random(seed)
    span = (last - first).total_seconds()
    regions = ("north", "central", "south")
    chunk: list[str] = []
    for i in range(n):
        start = first + timedelta(seconds=span * i / n + rng.random())
        board = BOARDS[rng.randrange(3) if rng.random() < 0.5 else 0]
        dialled = "111" if rng.random() < 0.8 else "18001567"
        kind = rng.random()
        region = regions[rng.randrange(3)] if rng.random() < 0.3 else "\\N"
        ivr = _ts(start + timedelta(seconds=2))
        null = "\\N"
        if kind < 0.08:  # silent in the IVR
            row = (ivr, null, null, null, null, _ts(start + timedelta(seconds=15)))
        elif kind < 0.10:  # failed
            row = (null, null, null, null, null, _ts(start))
        else:
            wait_start = start + timedelta(seconds=20)
            wait = rng.expovariate(1 / 25)
            if kind < 0.80:
                answered = wait_start + timedelta(seconds=wait)
                row = (
                    ivr,
                    _ts(wait_start),
                    _ts(answered),
                    board,
                    null,
                    _ts(answered + timedelta(seconds=rng.expovariate(1 / 240))),
                )
            elif kind < 0.97:
                row = (ivr, _ts(wait_start), null, null, null, _ts(wait_start + timedelta(seconds=wait)))
            else:
                end = _ts(wait_start + timedelta(seconds=900))
                row = (ivr, _ts(wait_start), null, null, end, end)
        end = row[-1]
        chunk.append(f"{board}\tb{i}\t{_ts(start)}\t{end}\t{dialled}\t{region}\t" + "\t".join(row) + "\n")
        if len(chunk) >= 50_000:
            yield "".join(chunk).encode()
            chunk = []
    if chunk:
        yield "".join(chunk).encode()


def load(conninfo: str, n: int, years: int) -> dict[str, float]:
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    first = last - timedelta(days=365 * years)
    took: dict[str, float] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ALTER TABLE calls DISABLE TRIGGER USER")
        t = time.perf_counter()
        with conn.cursor().copy(f"COPY calls ({COLUMNS}) FROM STDIN") as copy:
            done = 0
            for block in call_lines(n, first, last, 7):
                copy.write(block)
                done += block.count(b"\n")
                print(f"\r  COPY calls: {done:,} / {n:,}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        took["copy_calls_s"] = time.perf_counter() - t
        conn.execute("ALTER TABLE calls ENABLE TRIGGER USER")
        t = time.perf_counter()
        conn.execute(
            "ALTER TABLE contact_records DISABLE TRIGGER USER; "
            "INSERT INTO contact_records (call_id, switchboard_code, caller_category, contact_type, trafficking_related, "
            "trafficking_forms) SELECT id, switchboard_code, "
            "(ARRAY['victim','relative_or_friend','community_member','official','prospective_migrant','unknown'])[1 + id % 6], "
            "(ARRAY['tip','information','counselling','crisis','missing_person','not_trafficking'])[1 + (id / 7) % 6], "
            "id % 3 = 0, CASE WHEN id % 3 = 0 THEN ARRAY[(ARRAY['sexual_exploitation','forced_labour','forced_marriage'])[1 + id % 3]] "
            "ELSE '{}' END FROM calls WHERE id % 12 = 0 AND answered_at IS NOT NULL; "
            "ALTER TABLE contact_records ENABLE TRIGGER USER"
        )
        took["insert_records_s"] = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("VACUUM ANALYZE calls")
        conn.execute("VACUUM ANALYZE contact_records")
        took["vacuum_analyze_s"] = time.perf_counter() - t
    return took


async def build_rollup(url: str) -> float:
    from sqlalchemy.ext.asyncio import create_async_engine

    from hotline_api.db.session import make_sessionmaker
    from hotline_api.reports import rollup

    engine = create_async_engine(url)
    t = time.perf_counter()
    async with make_sessionmaker(engine)() as session:
        await rollup.rebuild(session)
        await rollup.refresh(session)
        await session.commit()
    await engine.dispose()
    return time.perf_counter() - t


async def make_token(url: str) -> str:
    from sqlalchemy.ext.asyncio import create_async_engine

    from hotline_api.auth import passwords
    from hotline_api.auth import service as auth
    from hotline_api.auth.models import User, UserRole
    from hotline_api.config import Settings
    from hotline_api.db.session import make_sessionmaker

    engine = create_async_engine(url)
    async with make_sessionmaker(engine)() as session:
        user = User(
            username="bench-analyst",
            display_name="Phân tích viên",
            password_hash=passwords.hash_password(os.urandom(16).hex()),
            home_switchboard="hanoi",
            languages=["vi"],
            roles=[UserRole(role="national_supervisor"), UserRole(role="analyst")],
        )
        session.add(user)
        await session.flush()
        token, _ = await auth.issue_token(session, user, Settings(_env_file=None), "127.0.0.1")
        await session.commit()
    await engine.dispose()
    return token


def raw_ms(conninfo: str, f: Any, series: bool, runs: int, rollup: bool = False) -> list[float]:
    """The plain GROUP BY over the raw calls, the reports' own SQL (service.*_raw); or, with
    rollup, the service's SQL over the rollup alone (to tell the database's time from the rest)."""
    from hotline_api.reports import service

    if rollup:
        sql = (
            f"SELECT {service.DAY_PERIOD} AS period, {service.DAY_FIGURES} FROM report_call_days d "
            f"WHERE {service.DAYS_WHERE} GROUP BY 1"
            if series
            else f"SELECT {service.DAY_FIGURES} FROM report_call_days d WHERE {service.DAYS_WHERE}"
        )
    else:
        sql = (
            f"SELECT {service.PERIOD} AS period, {service.CALL_FIGURES} FROM calls c WHERE {service.CALLS_WHERE} GROUP BY 1"
            if series
            else f"SELECT {service.CALL_FIGURES} FROM calls c WHERE {service.CALLS_WHERE}"
        )
    params = f.params()
    # SQLAlchemy's :name binds to psycopg's %(name)s
    import re

    pg_sql = re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)
    out = []
    with psycopg.connect(conninfo) as conn:
        for _ in range(runs):
            t = time.perf_counter()
            conn.execute(pg_sql, params).fetchall()
            out.append((time.perf_counter() - t) * 1000)
    return out


def http_ms(client: httpx.Client, path: str, params: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(path, params=params)
        out.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return out


def stats(values: list[float]) -> str:
    s = sorted(values)
    p95 = s[min(len(s) - 1, int(0.95 * len(s)))]
    return f"median {statistics.median(s):8.1f} ms   p95 {p95:8.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--runs", type=int, default=15, help="timed requests per report")
    parser.add_argument("--raw-runs", type=int, default=3, help="timed raw GROUP BY runs per report")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from hotline_api.db import migrate
    from hotline_api.db.embedded import EmbeddedPostgres
    from hotline_api.privacy.crypto import encode_key, new_key
    from hotline_api.reports.service import Filter

    base = Path(tempfile.mkdtemp(prefix="hl-bench-reports-", dir="/tmp"))
    os.chmod(base, 0o711)  # noqa: S103 - our own throwaway folder, reachable by the PostgreSQL user
    pg = EmbeddedPostgres(base / "data")
    server: subprocess.Popen[bytes] | None = None
    try:
        pg.acquire()
        pg.ensure_database("bench")
        url, conninfo = pg.url("bench"), pg.conninfo("bench")
        migrate.upgrade(url)
        print(f"loading {args.calls:,} calls over {args.years} years …", file=sys.stderr)
        took = load(conninfo, args.calls, args.years)
        took["rollup_build_s"] = asyncio.run(build_rollup(url))
        with psycopg.connect(conninfo) as conn:
            sizes = conn.execute(
                "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM contact_records), "
                "(SELECT count(*) FROM report_call_days), pg_size_pretty(pg_database_size(current_database()))"
            ).fetchone()
        token = asyncio.run(make_token(url))
        env = {
            **os.environ,
            "HOTLINE_DATABASE_URL": url,
            "HOTLINE_ENCRYPTION_KEYS": f"bench:{encode_key(new_key())}",
            "HOTLINE_ACTIVE_KEY_ID": "bench",
            "HOTLINE_HASH_KEY": base64.b64encode(os.urandom(32)).decode(),
            "HOTLINE_LOG_LEVEL": "warning",
        }
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "hotline_api.app:app_factory",
                "--factory",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        for _ in range(300):
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        today = datetime.now(UTC).date()
        periods = {
            f"{args.years} years": (today - timedelta(days=365 * args.years + 5), today),
            "one year": (today - timedelta(days=365), today),
            "one month": (today - timedelta(days=30), today),
        }
        print()
        print(
            f"machine: {os.cpu_count()} cores; PostgreSQL 18 embedded, fsync on; service: uvicorn, 1 worker"
        )
        print(
            f"data: {sizes[0]:,} calls, {sizes[1]:,} contact records, {sizes[2]:,} rollup rows; database {sizes[3]}"  # type: ignore[index]
        )
        print("load: " + ", ".join(f"{k} {v:.1f}" for k, v in took.items()))
        print()
        print(f"{'report':<44} {'service (HTTP, rollup)':<36} plain GROUP BY over the raw calls")
        for label, (lo, hi) in periods.items():
            params = {"date_from": lo.isoformat(), "date_to": hi.isoformat()}
            f = Filter(lo, hi)
            http_ms(client, "/api/v1/reports/summary", params, 2)  # warm
            s = http_ms(client, "/api/v1/reports/summary", params, args.runs)
            r = raw_ms(conninfo, f, False, args.raw_runs)
            print(f"{'summary, ' + label:<44} {stats(s):<36} {stats(r)}")
            q = raw_ms(conninfo, f, False, args.runs, rollup=True)
            print(f"{'  (its rollup query alone)':<44} {stats(q):<36}")
            pr = {**params, "region": "central"}
            s = http_ms(client, "/api/v1/reports/summary", pr, args.runs)
            r = raw_ms(conninfo, Filter(lo, hi, region="central"), False, args.raw_runs)
            print(f"{'summary, ' + label + ', central region':<44} {stats(s):<36} {stats(r)}")
            gran = "year" if label.endswith("years") else "month"
            s = http_ms(client, "/api/v1/reports/calls", {**params, "granularity": gran}, args.runs)
            r = raw_ms(conninfo, Filter(lo, hi, granularity=gran), True, args.raw_runs)  # type: ignore[arg-type]
            print(f"{'calls by ' + gran + ', ' + label:<44} {stats(s):<36} {stats(r)}")
            q = raw_ms(conninfo, Filter(lo, hi, granularity=gran), True, args.runs, rollup=True)  # type: ignore[arg-type]
            print(f"{'  (its series query alone)':<44} {stats(q):<36}")
        lo, hi = periods["one month"]
        s = http_ms(
            client,
            "/api/v1/reports/contacts",
            {"date_from": lo.isoformat(), "date_to": hi.isoformat()},
            args.runs,
        )
        print(f"{'contacts (breakdowns, raw), one month':<44} {stats(s)}")

        # freshness: a late contact record on an old call, and a new call today
        with psycopg.connect(conninfo, autocommit=True) as conn:
            old = conn.execute(
                "SELECT c.id, (c.started_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date FROM calls c "
                "LEFT JOIN contact_records r ON r.call_id = c.id WHERE r.id IS NULL AND c.answered_at IS NOT NULL "
                "AND c.started_at < now() - interval '1 year' LIMIT 1"
            ).fetchone()
            assert old is not None
            day = old[1].isoformat()
            before = client.get("/api/v1/reports/summary", params={"date_from": day, "date_to": day}).json()[
                "contact_records"
            ]
            t0 = time.monotonic()
            conn.execute(
                "INSERT INTO contact_records (call_id, switchboard_code, caller_category, contact_type, trafficking_related, "
                "trafficking_forms) SELECT id, switchboard_code, 'victim', 'tip', true, '{}' FROM calls WHERE id = %s",
                (old[0],),
            )
            lag = None
            while time.monotonic() - t0 < 120:
                now = client.get("/api/v1/reports/summary", params={"date_from": day, "date_to": day}).json()
                if now["contact_records"] != before:
                    lag = time.monotonic() - t0
                    break
                time.sleep(0.5)
        print(
            f"\na contact record written late (on a call of {day}) shows in the summary after "
            + (f"{lag:.1f} s" if lag is not None else "more than 120 s (MISSED)")
        )
        best = max(
            statistics.median(
                http_ms(
                    client,
                    "/api/v1/reports/summary",
                    {"date_from": lo.isoformat(), "date_to": hi.isoformat()},
                    5,
                )
            )
            for lo, hi in periods.values()
        )
        met = best <= 300 and lag is not None and lag <= 60
        print(
            f"target: summary over {sizes[0]:,} calls ≤ 300 ms, figures ≤ 60 s behind: {'met' if met else 'MISSED'}"
        )  # type: ignore[index]
        return 0 if met else 1
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        pg.release()
        shutil.rmtree(base, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
