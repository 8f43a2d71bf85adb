"""Routing decisions under ingest load: latency of ``POST /webhooks/asterisk/{switchboard}/route``.

    python benchmarks/routing.py [--duration 30] [--route-rate 200] [--ingest-rate 1000] [--workers 2]

Starts an embedded PostgreSQL (durability on, as in production), migrates it, opens every
switchboard around the clock, signs in 30 counsellors per switchboard (``available``), issues a
secret for each switchboard, and starts the service as benchmarks/ingest.py does (uvicorn,
``--workers 2 --loop uvloop --http httptools``). Then, for a warm-up and the measured time, two
open-loop loads run at once over loopback HTTP/1.1 keep-alive connections, each request sent at its
scheduled time whatever the answers before it (wrk has no rate control and Debian has no wrk2, so
both drivers are small asyncio clients on uvloop):

- **ingest** (a separate process): single ARI events posted to ``/webhooks/asterisk/{sb}/ari`` at
  ``--ingest-rate`` events/s, the three switchboards in turn, ten events to a call (as ingest.lua);
- **route** (this process): ``--route-rate`` decisions/s, the three switchboards in turn. A slot
  goes to a waiting call whose re-ask is due (it asks again ``--retry-after`` s after a ``wait``
  answer, with ``attempt`` + 1), else to a new call (a mobile caller; 5% are landlines of another
  region, which are transferred). Every 0.5 s a task frees the counsellors reserved for at least
  ``--hold`` s (their call "was answered and ended") and marks those calls connected, so both
  ``dial`` and ``wait`` answers occur.

Latency is measured by the client, from the request's scheduled time to the last byte of the
answer (so a late send counts against the service, as wrk2 does), and also from the actual send.
A request finds a free connection or opens one, up to 64 for /route and ``--ingest-connections``
for events; beyond that it waits in the client (shown as the send lag). The script prints
p50/p95/p99/max, the rates achieved, non-200 answers, the action mix, the time the service itself
records per decision (``routing_decisions.duration_ms``), the CPU used by each party over the
measured window (from /proc), and whether the target (p99 ≤ 20 ms from the schedule, every
answer 200, the rate reached) is met; it exits 1 when it is not.

Diagnostics: ``--waits`` samples pg_stat_activity every 20 ms and prints what the database's
sessions wait on; ``--setup-sql`` runs SQL in the benchmark's own database before the load (to
measure without a trigger, say). ``--ingest-rate 0`` measures decisions alone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks._harness import issue_secrets  # noqa: E402 - after the path is set

TARGET_P99_MS = 20.0
BOARDS = ("hanoi", "danang", "angiang")
EXTENSION_BASE = {"hanoi": 1000, "danang": 2000, "angiang": 3000}
# a landline of another region: the call is transferred there (rule 2)
FOREIGN_LANDLINE = {"hanoi": "02363", "danang": "02963", "angiang": "02438"}
TRANSFER_SHARE = 0.05
FREE_EVERY = 0.5
REQUEST_TIMEOUT = 10.0
ALL_DAY = {str(d): ["00:00", "23:59"] for d in range(1, 8)}
ARI_TYPES = (
    "ChannelCreated",
    "StasisStart",
    "ChannelStateChange",
    "ChannelDialplan",
    "ChannelDtmfReceived",
    "ChannelVarset",
    "ChannelCallerId",
    "ChannelConnectedLine",
    "ChannelHangupRequest",
    "ChannelDestroyed",
)


# ---- a minimal HTTP/1.1 keep-alive client ------------------------------------------------------


class Pool:
    """Keep-alive connections to one port, used in turn (FIFO, so none idles into the server's
    keep-alive timeout), at most ``limit`` open; a request beyond that waits for a free one."""

    def __init__(self, port: int, limit: int) -> None:
        self.port, self.limit = port, limit
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.open = 0
        self.peak = 0
        self.reconnects = 0

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            if self.idle:
                return self.idle.popleft()
            if self.open < self.limit:
                self.open += 1
                self.peak = max(self.peak, self.open)
                try:
                    return await asyncio.open_connection("127.0.0.1", self.port)
                except BaseException:
                    self.open -= 1
                    self._wake()
                    raise
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            await waiter

    def release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append(conn)
        self._wake()

    def discard(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        conn[1].close()
        self.open -= 1
        self._wake()

    def _wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        while self.idle:
            self.idle.popleft()[1].close()


async def http_request(pool: Pool, raw: bytes) -> tuple[int, bytes, float]:
    """Send one prepared request; returns (status, body, monotonic time of the send)."""
    for attempt in (0, 1):
        conn = await pool.acquire()
        reader, writer = conn
        sent = time.monotonic()
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            pool.discard(conn)
            partial = getattr(exc, "partial", b"")
            if attempt == 0 and not partial:
                # the server closed an idle keep-alive connection: once more on another one
                pool.reconnects += 1
                continue
            raise
        except BaseException:
            pool.discard(conn)
            raise
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)]) if at >= 0 else 0
        try:
            body = await reader.readexactly(length)
        except BaseException:
            pool.discard(conn)
            raise
        if b"\r\nconnection: close" in lower:
            pool.discard(conn)
        else:
            pool.release(conn)
        return status, body, sent
    raise ConnectionError("unreachable")


def raw_post(port: int, path: str, auth: str, content_type: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def open_loop(rate: float, start: float, seconds: float, fire: Callable[[float], None]) -> None:
    """Call ``fire(scheduled_time)`` at ``rate`` per second from ``start`` for ``seconds``; when the
    loop wakes late it fires every slot that is due at once, so the rate holds on average."""
    slots = int(rate * seconds)
    i = 0
    while i < slots:
        now = time.monotonic()
        due = start + i / rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < slots and start + i / rate <= now:
            fire(start + i / rate)
            i += 1


def pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def summary_ms(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {
        "p50": pct(s, 50) * 1000,
        "p95": pct(s, 95) * 1000,
        "p99": pct(s, 99) * 1000,
        "max": (s[-1] if s else float("nan")) * 1000,
    }


def _run_uvloop(coro: Any) -> Any:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# ---- the ingest driver (its own process) -------------------------------------------------------


def ari_event(counter: int, run: str, board: str) -> bytes:
    call = counter // 10
    linkedid = f"ing{run}-{board}.{call}"
    ms, secs = counter % 1000, (counter // 1000) % 60
    event = {
        "type": ARI_TYPES[counter % 10],
        "timestamp": f"2026-11-01T10:{secs:02d}:{secs:02d}.{ms:03d}+0700",
        "application": "hotline",
        "asterisk_id": "00:16:3e:00:00:01",
        "channel": {
            "id": linkedid,
            "name": f"PJSIP/trunk-{counter % 100000000:08d}",
            "state": "Up",
            "caller": {"name": "", "number": f"09{(call * 7919) % 100000000:08d}"},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": "hotline",
                "exten": "111",
                "priority": 1,
                "app_name": "Stasis",
                "app_data": "hotline",
            },
            "creationtime": "2026-11-01T10:00:00.000+0700",
            "language": "vi",
            "channelvars": {"CHANNEL(linkedid)": linkedid},
        },
        "cause": 16,
        "variable": "IVR",
        "value": "1",
        "digit": "1",
    }
    return json.dumps(event, separators=(",", ":")).encode()


def ingest_child(cfg: dict[str, Any], pipe: Connection) -> None:
    """Entry point of the ingest process: prepare every request, report ready, wait for the start
    time, send open-loop, report the figures."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    try:
        result = _ingest(cfg, pipe)
    except BaseException as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    pipe.send(result)
    pipe.close()


def _ingest(cfg: dict[str, Any], pipe: Connection) -> dict[str, Any]:
    rate, warmup, duration = cfg["rate"], cfg["warmup"], cfg["duration"]
    total = int(rate * (warmup + duration))
    run = str(int(time.time()))
    requests: list[bytes] = []
    for n in range(total):
        board = BOARDS[(n // 10) % 3]
        requests.append(
            raw_post(
                cfg["port"],
                f"/webhooks/asterisk/{board}/ari",
                cfg["auth"][board],
                "application/json",
                ari_event(n, run, board),
            )
        )
    pipe.send("ready")
    start = pipe.recv()
    return _run_uvloop(_ingest_load(cfg, requests, start))  # type: ignore[no-any-return]


async def _ingest_load(cfg: dict[str, Any], requests: list[bytes], start: float) -> dict[str, Any]:
    pool = Pool(cfg["port"], cfg["connections"])
    rate, warmup, duration = cfg["rate"], cfg["warmup"], cfg["duration"]
    records: list[tuple[float, float, float, int]] = []  # scheduled, sent, done, status (0: error)
    errors: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()
    index = iter(range(len(requests)))

    async def one(raw: bytes, scheduled: float) -> None:
        try:
            status, _, sent = await asyncio.wait_for(http_request(pool, raw), REQUEST_TIMEOUT)
        except Exception as exc:
            errors[type(exc).__name__] += 1
            records.append((scheduled, scheduled, time.monotonic(), 0))
            return
        records.append((scheduled, sent, time.monotonic(), status))

    def fire(scheduled: float) -> None:
        task = asyncio.create_task(one(requests[next(index)], scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await open_loop(rate, start, warmup + duration, fire)
    if tasks:
        await asyncio.wait(set(tasks), timeout=REQUEST_TIMEOUT + 1)
    pool.close()
    w0, w1 = start + warmup, start + warmup + duration
    window = [r for r in records if w0 <= r[0] < w1]
    ok = [r for r in window if 200 <= r[3] < 300]
    return {
        "scheduled": len(window),
        "ok": len(ok),
        "non2xx": sum(1 for r in window if r[3] and not 200 <= r[3] < 300),
        "errors": dict(errors),
        "done_per_s": sum(1 for r in records if w0 <= r[2] < w1 and 200 <= r[3] < 300) / duration,
        "latency": summary_ms([r[2] - r[0] for r in ok]),
        "latency_send": summary_ms([r[2] - r[1] for r in ok]),
        "send_lag": summary_ms([r[1] - r[0] for r in ok]),
        "peak_connections": pool.peak,
        "reconnects": pool.reconnects,
        "pid": os.getpid(),
    }


# ---- the route driver --------------------------------------------------------------------------


@dataclass
class Call:
    board: str
    linkedid: str
    caller: str
    attempt: int = 1


@dataclass
class RouteRecord:
    scheduled: float
    sent: float
    done: float
    status: int
    action: str
    reason: str
    attempt: int


@dataclass
class RouteRun:
    records: list[RouteRecord] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    freed: int = 0
    freer_runs: int = 0
    new_calls: int = 0
    cpu: list[dict[str, Any]] = field(default_factory=list)
    pool_peak: int = 0
    reconnects: int = 0
    prefix: str = ""
    server_pgid: int = 0
    waits: Counter[tuple[str, str]] = field(default_factory=Counter)
    wait_samples: int = 0


async def route_load(
    args: argparse.Namespace, port: int, auth: dict[str, str], conninfo: str, start: float, server_pgid: int
) -> RouteRun:
    import psycopg

    run = str(int(time.time()))
    out = RouteRun(prefix=f"rt{run}-", server_pgid=server_pgid)
    pool = Pool(port, 64)
    rng = random.Random(20261128)
    retries: deque[tuple[float, Call]] = deque()
    tasks: set[asyncio.Task[None]] = set()
    seq = 0
    stop = asyncio.Event()

    def new_call() -> Call:
        nonlocal seq
        board = BOARDS[seq % 3]
        seq += 1
        if rng.random() < TRANSFER_SHARE:
            caller = FOREIGN_LANDLINE[board] + f"{rng.randrange(1_000_000):06d}"
        else:
            caller = "09" + f"{rng.randrange(100_000_000):08d}"
        return Call(board, f"rt{run}-{board}.{seq}", caller)

    async def one(call: Call, scheduled: float) -> None:
        body = urlencode(
            {
                "linkedid": call.linkedid,
                "uniqueid": call.linkedid,
                "caller": call.caller,
                "exten": "111",
                "attempt": str(call.attempt),
                "ivr_language": "vi",
            }
        ).encode()
        raw = raw_post(
            port,
            f"/webhooks/asterisk/{call.board}/route",
            auth[call.board],
            "application/x-www-form-urlencoded",
            body,
        )
        try:
            status, answer_body, sent = await asyncio.wait_for(http_request(pool, raw), REQUEST_TIMEOUT)
        except Exception as exc:
            out.errors[type(exc).__name__] += 1
            out.records.append(
                RouteRecord(scheduled, scheduled, time.monotonic(), 0, "error", "", call.attempt)
            )
            return
        done = time.monotonic()
        answer = dict(parse_qsl(answer_body.decode()))
        action = answer.get("action", "?")
        out.records.append(
            RouteRecord(scheduled, sent, done, status, action, answer.get("reason", ""), call.attempt)
        )
        if status == 200 and action == "wait":
            call.attempt += 1
            retries.append((done + min(args.retry_after, float(answer.get("seconds", 15))), call))

    def fire(scheduled: float) -> None:
        if retries and retries[0][0] <= scheduled:
            call = retries.popleft()[1]
        else:
            call = new_call()
            out.new_calls += 1
        task = asyncio.create_task(one(call, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def freer() -> None:
        # the calls that were offered "are answered and end": their counsellors are available again
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            while not stop.is_set():
                cur = await conn.execute(
                    "WITH freed AS (UPDATE counsellor_presence SET state = 'available', since = now(), "
                    "idle_since = now(), call_id = NULL, reserved_until = NULL WHERE state = 'reserved' "
                    "AND since <= now() - make_interval(secs => %s) RETURNING user_id) "
                    "UPDATE waiting_calls w SET status = 'connected', updated_at = now() FROM freed "
                    "WHERE w.status = 'offered' AND w.offered_user_id = freed.user_id RETURNING w.id",
                    (args.hold,),
                )
                out.freed += len(await cur.fetchall())
                out.freer_runs += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), FREE_EVERY)

    async def cpu_mark(at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        out.cpu.append(await asyncio.to_thread(cpu_snapshot))

    freeing = asyncio.create_task(freer())
    sampling = None
    if args.waits:
        sampling = asyncio.create_task(
            asyncio.to_thread(
                sample_waits, conninfo, start + args.warmup, start + args.warmup + args.duration, out
            )
        )
    marks = [
        asyncio.create_task(cpu_mark(start + args.warmup)),
        asyncio.create_task(cpu_mark(start + args.warmup + args.duration)),
    ]
    try:
        await open_loop(args.route_rate, start, args.warmup + args.duration, fire)
        await asyncio.gather(*marks)
        if sampling is not None:
            await sampling
        if tasks:
            await asyncio.wait(set(tasks), timeout=REQUEST_TIMEOUT + 1)
    finally:
        stop.set()
        for t in marks:
            t.cancel()
        await asyncio.wait_for(freeing, 10)
        for t in list(tasks):
            t.cancel()
        pool.close()
    out.pool_peak, out.reconnects = pool.peak, pool.reconnects
    return out


# ---- what the database's sessions wait on (--waits) --------------------------------------------


def sample_waits(conninfo: str, start: float, end: float, out: RouteRun) -> None:
    """Every 20 ms, each busy session of the database: whose it is (told by its statement: the
    intake's begin ``WITH up AS``/``WITH f AS``, the live hub reads ``live_events``, everything
    else is a decision's) and what it waits on."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        time.sleep(max(0.0, start - time.monotonic()))
        while time.monotonic() < end:
            rows = conn.execute(
                "SELECT COALESCE(wait_event_type || ':' || wait_event, 'running'), left(query, 300) "
                "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND state <> 'idle'"
            ).fetchall()
            out.wait_samples += 1
            for wait, query in rows:
                if query.startswith(("WITH up AS", "WITH f AS")):
                    who = "intake"
                elif "live_events" in query:
                    who = "live hub"
                elif query.startswith("WITH freed AS"):
                    who = "freer"
                else:
                    who = "decision"
                out.waits[(who, wait)] += 1
            time.sleep(0.02)


# ---- CPU accounting from /proc -----------------------------------------------------------------


def cpu_snapshot() -> dict[str, Any]:
    """Per-process CPU seconds (utime + stime) and the machine's busy/total jiffies."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[str, int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        pgid = int(rest[2])
        seconds = (int(rest[11]) + int(rest[12])) / tick
        procs[int(entry)] = (comm, pgid, seconds)
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return {"at": time.monotonic(), "procs": procs, "busy": sum(fields) - idle, "total": sum(fields)}


def cpu_shares(
    before: dict[str, Any], after: dict[str, Any], server_pgid: int, ingest_pid: int | None
) -> dict[str, float]:
    """Cores used over the interval, by party."""
    wall = after["at"] - before["at"]
    used: Counter[str] = Counter()
    for pid, (comm, pgid, seconds) in after["procs"].items():
        delta = seconds - before["procs"].get(pid, (comm, pgid, 0.0))[2]
        if pgid == server_pgid:
            party = "service (uvicorn workers)"
        elif comm.startswith("postgres"):
            party = "PostgreSQL"
        elif pid == ingest_pid:
            party = "ingest driver"
        elif pid == os.getpid():
            party = "route driver"
        else:
            party = "other"
        used[party] += delta
    shares = {k: v / wall for k, v in used.items()}
    ncpu = os.cpu_count() or 1
    busy = (after["busy"] - before["busy"]) / (after["total"] - before["total"]) * ncpu
    # the kernel's own work and processes that came and went within the window
    shares["not attributed"] = max(0.0, busy - sum(shares.values()))
    shares["machine busy"] = busy
    return shares


# ---- setup -------------------------------------------------------------------------------------


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


def seed(conninfo: str, per_board: int) -> None:
    """Every switchboard open all day; ``per_board`` counsellors signed in and available at each."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute("UPDATE routing_settings SET opening_hours = %s::jsonb", (json.dumps(ALL_DAY),))
        for board in BOARDS:
            for n in range(per_board):
                extension = f"PJSIP/{EXTENSION_BASE[board] + 100 + n}"
                row = conn.execute(
                    "INSERT INTO users (username, display_name, password_hash, home_switchboard, languages, "
                    "is_active) VALUES (%s, %s, 'x', %s, '{vi}', true) RETURNING id",
                    (f"bench-{board}-{n}", f"Counsellor {board} {n}", board),
                ).fetchone()
                assert row is not None
                user_id = row[0]
                conn.execute("INSERT INTO user_roles (user_id, role) VALUES (%s, 'counsellor')", (user_id,))
                conn.execute(
                    "INSERT INTO user_extensions (user_id, switchboard_code, extension) VALUES (%s, %s, %s)",
                    (user_id, board, extension),
                )
                conn.execute(
                    "INSERT INTO counsellor_presence (user_id, switchboard_code, state, since, idle_since) "
                    "VALUES (%s, %s, 'available', now(), now() - make_interval(secs => %s))",
                    (user_id, board, per_board - n),
                )


def server_side(conninfo: str, prefix: str, since_epoch: float, until_epoch: float) -> dict[str, Any]:
    """What the service recorded itself: the decision's own time (routing_decisions.duration_ms,
    from the handler's start to before the decision is stored and committed)."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms), "
            "percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms), max(duration_ms) "
            "FROM routing_decisions WHERE linkedid LIKE %s AND at >= to_timestamp(%s) AND at < to_timestamp(%s)",
            (prefix + "%", since_epoch, until_epoch),
        ).fetchone()
        assert row is not None
        settings = conn.execute(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit'), version()"
        ).fetchone()
        assert settings is not None
        events = conn.execute("SELECT count(*) FROM webhook_events").fetchone()
        assert events is not None
    return {
        "count": row[0],
        "p50": row[1],
        "p95": row[2],
        "p99": row[3],
        "max": row[4],
        "fsync": settings[0],
        "synchronous_commit": settings[1],
        "version": str(settings[2]).split(" on ")[0],
        "events_stored": events[0],
    }


def _mem_gib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def _stop_child(child: multiprocessing.process.BaseProcess, wait: float) -> None:
    """Let the child finish within ``wait`` seconds, else stop it."""
    child.join(timeout=wait)
    if child.is_alive():
        child.terminate()
        child.join(timeout=5)
    if child.is_alive():
        child.kill()
        child.join(timeout=5)


# ---- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=30, help="measured seconds (after the warm-up)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring")
    parser.add_argument("--route-rate", type=float, default=200, help="/route decisions per second")
    parser.add_argument("--ingest-rate", type=float, default=1000, help="ARI events per second (0: none)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--counsellors", type=int, default=30, help="counsellors per switchboard")
    parser.add_argument("--hold", type=float, default=1.0, help="seconds a reserved counsellor stays busy")
    parser.add_argument(
        "--retry-after", type=float, default=2.0, help="seconds before a waiting call re-asks"
    )
    parser.add_argument("--ingest-connections", type=int, default=256, help="most open ingest connections")
    parser.add_argument(
        "--waits",
        action="store_true",
        help="sample pg_stat_activity every 20 ms and print what the sessions wait on (diagnostic)",
    )
    parser.add_argument(
        "--setup-sql",
        default="",
        help="SQL run in the benchmark's database after the setup (diagnostics, e.g. dropping a trigger)",
    )
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below

    from hotline_api.db import migrate
    from hotline_api.db.embedded import EmbeddedPostgres
    from hotline_api.privacy.crypto import Keyring, encode_key, new_key

    base = Path(tempfile.mkdtemp(prefix="hl-bench-route-", dir="/tmp"))
    os.chmod(base, 0o711)  # noqa: S103 - our own throwaway folder, reachable by the PostgreSQL user
    pg = EmbeddedPostgres(base / "data")
    server: subprocess.Popen[bytes] | None = None
    child: multiprocessing.process.BaseProcess | None = None
    try:
        pg.acquire()
        pg.ensure_database("bench")
        url, conninfo = pg.url("bench"), pg.conninfo("bench")
        migrate.upgrade(url)
        seed(conninfo, args.counsellors)
        if args.setup_sql:
            import psycopg

            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(args.setup_sql.encode())
        key, hash_key = new_key(), os.urandom(32)
        secrets = asyncio.run(issue_secrets(url, Keyring({"bench": key}, "bench", hash_key)))
        auth = {b: "Basic " + base64.b64encode(f"{b}:{s}".encode()).decode() for b, s in secrets.items()}
        env = {
            **os.environ,
            "HOTLINE_DATABASE_URL": url,
            "HOTLINE_ENCRYPTION_KEYS": f"bench:{encode_key(key)}",
            "HOTLINE_ACTIVE_KEY_ID": "bench",
            "HOTLINE_HASH_KEY": base64.b64encode(hash_key).decode(),
            "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}",
        }
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks._apps:service",
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
        wait_ready(port)
        time.sleep(1.5)  # every worker up

        pipe: Connection | None = None
        if args.ingest_rate > 0:
            ctx = multiprocessing.get_context("spawn")
            pipe, child_pipe = ctx.Pipe()
            cfg = {
                "port": port,
                "auth": auth,
                "rate": args.ingest_rate,
                "warmup": args.warmup,
                "duration": args.duration,
                "connections": args.ingest_connections,
            }
            child = ctx.Process(target=ingest_child, args=(cfg, child_pipe), daemon=True)
            child.start()
            if not pipe.poll(60) or pipe.recv() != "ready":
                raise RuntimeError("the ingest driver did not get ready")

        start = time.monotonic() + 0.5
        wall_start = time.time() + (start - time.monotonic())
        if pipe is not None:
            pipe.send(start)
        run = _run_uvloop(route_load(args, port, auth, conninfo, start, server.pid))
        ingest: dict[str, Any] | None = None
        if pipe is not None:
            ingest = pipe.recv() if pipe.poll(REQUEST_TIMEOUT + 30) else {"error": "no report"}
        if child is not None:
            _stop_child(child, REQUEST_TIMEOUT + 5)
        _stop_server(server)
        server = None
        srv = server_side(
            conninfo, run.prefix, wall_start + args.warmup, wall_start + args.warmup + args.duration
        )
        return report(args, run, ingest, srv, start, child.pid if child is not None else None)
    finally:
        if server is not None:
            _stop_server(server)
        if child is not None and child.is_alive():
            _stop_child(child, 0)  # interrupted: stop it now
        pg.release()
        shutil.rmtree(base, ignore_errors=True)


def report(
    args: argparse.Namespace,
    run: RouteRun,
    ingest: dict[str, Any] | None,
    srv: dict[str, Any],
    start: float,
    ingest_pid: int | None,
) -> int:
    w0, w1 = start + args.warmup, start + args.warmup + args.duration
    window = [r for r in run.records if w0 <= r.scheduled < w1]
    answered = [r for r in window if r.status]
    ok = [r for r in window if r.status == 200]
    done_rate = sum(1 for r in run.records if w0 <= r.done < w1 and r.status == 200) / args.duration
    lat = summary_ms([r.done - r.scheduled for r in ok])
    lat_send = summary_ms([r.done - r.sent for r in ok])
    lag = summary_ms([r.sent - r.scheduled for r in ok])
    actions = Counter(r.action for r in ok)
    reasons = Counter(f"{r.action}/{r.reason}" for r in ok)
    non200 = Counter(r.status for r in answered if r.status != 200)

    print(
        f"machine: {os.cpu_count()} cores, {_mem_gib():.1f} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {srv['version']} (embedded), fsync={srv['fsync']}, "
        f"synchronous_commit={srv['synchronous_commit']}"
    )
    print(
        f"service: uvicorn --workers {args.workers} --loop uvloop --http httptools; "
        f"{args.counsellors} counsellors per switchboard; freed {args.hold:g} s after their offer"
    )
    print(
        f"load: /route {args.route_rate:g}/s and ARI events {args.ingest_rate:g}/s, open-loop, "
        f"{args.warmup:g} s warm-up, {args.duration:g} s measured\n"
    )
    print(
        f"route: {len(window)} scheduled, {len(ok)} answered 200 ({done_rate:.1f}/s), "
        f"non-200 {sum(non200.values())} {dict(non200) or ''}, errors {sum(run.errors.values())} "
        f"{dict(run.errors) or ''}".rstrip()
    )
    print(
        f"  latency from schedule: p50 {lat['p50']:.1f} ms  p95 {lat['p95']:.1f} ms  "
        f"p99 {lat['p99']:.1f} ms  max {lat['max']:.1f} ms"
    )
    print(
        f"  latency from send:     p50 {lat_send['p50']:.1f} ms  p95 {lat_send['p95']:.1f} ms  "
        f"p99 {lat_send['p99']:.1f} ms  max {lat_send['max']:.1f} ms  (send lag p99 {lag['p99']:.1f} ms)"
    )
    if srv["count"]:
        print(
            f"  the service's own decision time (routing_decisions.duration_ms, {srv['count']} rows): "
            f"p50 {srv['p50']:.1f} ms  p95 {srv['p95']:.1f} ms  p99 {srv['p99']:.1f} ms  max {srv['max']:.1f} ms"
        )
    mix = ", ".join(f"{a} {n} ({n / max(1, len(ok)):.0%})" for a, n in actions.most_common())
    print(f"  actions: {mix}")
    print(f"  reasons: {', '.join(f'{k} {n}' for k, n in reasons.most_common())}")
    print(
        f"  calls: {run.new_calls} new in all; re-asks {sum(1 for r in window if r.attempt > 1)} "
        f"in the window; offers freed {run.freed}; connections peak {run.pool_peak}, "
        f"reconnects {run.reconnects}"
    )
    ingest_ok = True
    if ingest is not None:
        if "error" in ingest:
            ingest_ok = False
            print(f"ingest: FAILED: {ingest['error']}")
        else:
            il, ils, ilag = ingest["latency"], ingest["latency_send"], ingest["send_lag"]
            print(
                f"ingest: {ingest['scheduled']} scheduled, {ingest['ok']} acknowledged "
                f"({ingest['done_per_s']:.0f} events/s), non-2xx {ingest['non2xx']}, "
                f"errors {sum(ingest['errors'].values())} {ingest['errors'] or ''}".rstrip()
            )
            print(
                f"  latency from schedule: p50 {il['p50']:.1f} ms  p99 {il['p99']:.1f} ms  "
                f"max {il['max']:.1f} ms; from send: p50 {ils['p50']:.1f} ms  p99 {ils['p99']:.1f} ms "
                f"(send lag p99 {ilag['p99']:.1f} ms; connections peak {ingest['peak_connections']})"
            )
            print(f"  events stored in all (warm-up and tail included): {srv['events_stored']}")
    if len(run.cpu) == 2:
        shares = cpu_shares(run.cpu[0], run.cpu[1], run.server_pgid, ingest_pid)
        text = ", ".join(f"{k} {v:.2f}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))
        print(f"CPU over the measured window, in cores: {text}")
        foreign = shares.get("other", 0.0) + shares.get("not attributed", 0.0)
        if foreign > 0.15:
            print(f"note: other work used {foreign:.2f} cores meanwhile: these figures are disturbed")
    if run.wait_samples:
        print(f"database sessions, mean number busy over {run.wait_samples} samples (who, wait event):")
        for (who, wait), n in run.waits.most_common():
            if n / run.wait_samples >= 0.01:
                print(f"  {n / run.wait_samples:6.2f}  {who:8}  {wait}")
    met = lat["p99"] <= TARGET_P99_MS and not non200 and not run.errors
    rate_ok = done_rate >= 0.98 * args.route_rate
    print(
        f"\ntarget: p99 ≤ {TARGET_P99_MS:g} ms at {args.route_rate:g} decisions/s: "
        f"{'met' if met and rate_ok else 'MISSED'} (p99 {lat['p99']:.1f} ms from schedule, "
        f"{done_rate:.1f} decisions/s, {sum(non200.values())} non-200)"
    )
    if ingest is not None and ingest_ok and ingest["done_per_s"] < 0.98 * args.ingest_rate:
        print(f"note: the ingest load reached {ingest['done_per_s']:.0f} of {args.ingest_rate:g} events/s")
    return 0 if met and rate_ok else 1


if __name__ == "__main__":
    sys.exit(main())
