"""The harness shared by benchmarks/load.py and benchmarks/faults.py.

- ``Cluster``: an embedded PostgreSQL in a throwaway folder (durability on, as in production),
  optionally with the benchmark's database in a tablespace on a small tmpfs (the disk-full fault).
- ``install``: the schema, every switchboard open all day, counsellor users (a password, an
  extension, available), a webhook secret per switchboard.
- ``Service``: one ``hotline-api serve --workers 1`` process on a port of its own, its stderr (the
  JSON log) captured to a file; ``rss_mib()`` reads its resident memory from /proc.
- ``Relay``: a small TCP relay in a process of its own — ``proxy`` (TCP in, PostgreSQL's Unix
  socket out; SIGUSR1 drops every connection and refuses new ones, SIGUSR2 lets them through
  again) or ``balancer`` (round-robin over backends, skipping one whose connect fails).
- ``Ledger`` and ``SwitchboardTransport``: the switchboards' side of every request. A webhook body
  is held until it is acknowledged (2xx) and retried with backoff (Retry-After when the service gives
  one), as a PBX relay does; every attempt and its answer is kept. /route is asked once (the
  dialplan falls back to its own queue when there is no answer). API calls are recorded.
- ``Switchboards``: the simulator (``hotline_api.telephony.simulator``) driving the three
  switchboards: live calls (each event posted when it happens, one ARI event per request, the AMI
  queue events, the CDR at hangup, the /route dialogue) and relay traffic (whole calls at once: ARI
  in one array, AMI as text, the CDR).
- ``Counsellors``: counsellor users signed in through the API who write the wrap-up (contact
  record) of each call they answered and make themselves available again after a missed offer.
- ``reconcile``: what each sender was told against what the database holds.
- ``CpuMeter``: cores used by the machine, the service, PostgreSQL, the driver and everything else.

Run as a script it is the relay: ``python benchmarks/_harness.py proxy|balancer …``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

BOARDS = ("hanoi", "danang", "angiang")
DIGIT = {"hanoi": "1", "danang": "2", "angiang": "3"}
ALL_DAY = {str(d): ["00:00", "23:59"] for d in range(1, 8)}
_HOT = re.compile(r"^/webhooks/asterisk/([a-z]+)/(ari|ami|cdr|cel|route)$")
# the call an event belongs to: ARI's channel variable, AMI's Linkedid header, the CDR's field
_LINKEDID = re.compile(rb'"CHANNEL\(linkedid\)":\s*"([^"]+)"|Linkedid: (\S+)|"linkedid":\s*"([^"]+)"')
NOTE_TEXT = "người gọi hỏi về một lời mời làm việc ở nước ngoài, lương cao, không cần hộ chiếu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def machine() -> str:
    mem = 0.0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 1024 / 1024
    load = os.getloadavg()
    import platform

    return (
        f"{os.cpu_count()} cores, {mem:.1f} GiB, Linux {platform.release()}, Python "
        f"{platform.python_version()}; load average before the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


# ---- PostgreSQL ---------------------------------------------------------------------------------


class Cluster:
    """An embedded PostgreSQL 18 in ``base`` with the database ``bench``; with ``tablespace_mb`` the
    database lives in a tablespace on a tmpfs of that size (WAL stays on the cluster's disk)."""

    def __init__(self, base: Path, tablespace_mb: int = 0) -> None:
        from hotline_api.db.embedded import EmbeddedPostgres

        self.base = base
        self.pg = EmbeddedPostgres(base / "data")
        self.tablespace_mb = tablespace_mb
        self.ts_dir = base / "ts"
        self.mounted = False
        self.url = self.pg.url("bench")
        self.conninfo = self.pg.conninfo("bench")

    def start(self) -> None:
        import psycopg

        from hotline_api.db import migrate

        self.pg.acquire()
        if self.tablespace_mb:
            if os.geteuid() != 0:
                raise RuntimeError("a tablespace on tmpfs needs root (mount)")
            user = pwd.getpwnam(self.pg.system_user)
            self.ts_dir.mkdir(mode=0o700)
            subprocess.run(
                [
                    "mount",
                    "-t",
                    "tmpfs",
                    "-o",
                    f"size={self.tablespace_mb}m,mode=0700,uid={user.pw_uid},gid={user.pw_gid}",
                    "hl-bench-ts",
                    str(self.ts_dir),
                ],
                check=True,
            )
            self.mounted = True
            with psycopg.connect(self.pg.conninfo(), autocommit=True) as conn:
                conn.execute(f"CREATE TABLESPACE bench_small LOCATION '{self.ts_dir}'")
                conn.execute("CREATE DATABASE bench TABLESPACE bench_small")
        else:
            self.pg.ensure_database("bench")
        migrate.upgrade(self.url)

    def stop_server(self) -> None:
        self.pg._stop()

    def start_server(self) -> None:
        self.pg._start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pg.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, background workers)."""
        pm = self.postmaster_pid()
        if pm is None:
            return []
        out = [pm]
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pm:
                    out.append(int(entry.name))
        return out

    def close(self) -> None:
        try:
            self.pg.release()
        finally:
            if self.mounted:
                with contextlib.suppress(Exception):
                    if self.pg._running():
                        self.pg._stop()
                if subprocess.run(["umount", str(self.ts_dir)], check=False).returncode != 0:
                    subprocess.run(["umount", "-l", str(self.ts_dir)], check=False)
                self.mounted = False


def sql(conninfo: str, statement: str, params: tuple[Any, ...] = (), *, options: str = "") -> list[Any]:
    import psycopg

    with psycopg.connect(conninfo + (f" options='{options}'" if options else ""), autocommit=True) as conn:
        cur = conn.execute(statement.encode(), params)
        return cur.fetchall() if cur.description else []


# ---- the installation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Counsellor:
    user_id: int
    username: str
    board: str
    extension: str
    routed: bool  # available to /route; False: answers only the relay's whole calls


@dataclass
class Installation:
    url: str
    conninfo: str
    keyring: Any
    env: dict[str, str]
    secrets: dict[str, str]
    counsellors: list[Counsellor]
    password: str
    settings: dict[str, int]


def install(
    cluster: Cluster,
    base: Path,
    routed: dict[str, int],
    relay_only: int,
    settings: dict[str, int],
) -> Installation:
    """Users, presence, routing settings and secrets for a run; the service's environment."""
    import psycopg

    from hotline_api.auth.passwords import hash_password
    from hotline_api.privacy.crypto import Keyring, encode_key, new_key

    key, hash_key = new_key(), os.urandom(32)
    keyring = Keyring({"bench": key}, "bench", hash_key)
    password = base64.urlsafe_b64encode(os.urandom(12)).decode()
    hashed = hash_password(password)  # once: the same password for every bench user
    counsellors: list[Counsellor] = []
    with psycopg.connect(cluster.conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE routing_settings SET opening_hours = %s::jsonb, wait_seconds = %s, "
            "ring_timeout_seconds = %s, wrap_up_seconds = %s",
            (
                json.dumps(ALL_DAY),
                settings["wait_seconds"],
                settings["ring_timeout_seconds"],
                settings["wrap_up_seconds"],
            ),
        )
        for board in BOARDS:
            people = [(n, True) for n in range(routed.get(board, 0))] + [
                (n, False) for n in range(relay_only)
            ]
            for n, is_routed in people:
                extension = f"PJSIP/{DIGIT[board]}{'2' if is_routed else '5'}{n:02d}"
                username = f"bench-{board}-{'c' if is_routed else 'r'}{n}"
                row = conn.execute(
                    "INSERT INTO users (username, display_name, password_hash, home_switchboard, languages, "
                    "is_active) VALUES (%s, %s, %s, %s, '{vi}', true) RETURNING id",
                    (username, f"Tư vấn viên {board} {n}", hashed, board),
                ).fetchone()
                assert row is not None
                uid = int(row[0])
                conn.execute("INSERT INTO user_roles (user_id, role) VALUES (%s, 'counsellor')", (uid,))
                conn.execute(
                    "INSERT INTO user_extensions (user_id, switchboard_code, extension) VALUES (%s, %s, %s)",
                    (uid, board, extension),
                )
                if is_routed:
                    conn.execute(
                        "INSERT INTO counsellor_presence (user_id, switchboard_code, state, since, idle_since) "
                        "VALUES (%s, %s, 'available', now(), now())",
                        (uid, board),
                    )
                counsellors.append(Counsellor(uid, username, board, extension, is_routed))
    secrets = asyncio.run(issue_secrets(cluster.url, keyring))
    (base / "svc").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        {
            "HOTLINE_DATABASE_URL": cluster.url,
            "HOTLINE_ENCRYPTION_KEYS": f"bench:{encode_key(key)}",
            "HOTLINE_ACTIVE_KEY_ID": "bench",
            "HOTLINE_HASH_KEY": base64.b64encode(hash_key).decode(),
            "HOTLINE_LOG_LEVEL": "info",
            "HOTLINE_DATA_DIR": str(base / "svc"),
            "HOTLINE_MIGRATE_ON_START": "false",
            "PYTHONPATH": str(ROOT / "src"),
        }
    )
    return Installation(
        cluster.url, cluster.conninfo, keyring, env, secrets, counsellors, password, dict(settings)
    )


async def issue_secrets(url: str, keyring: Any) -> dict[str, str]:
    from hotline_api.db.session import make_engine, make_sessionmaker
    from hotline_api.privacy.keys import check_keys
    from hotline_api.telephony import credentials

    engine = make_engine(url)
    out: dict[str, str] = {}
    try:
        async with make_sessionmaker(engine)() as session:
            await check_keys(session, keyring)
            for board in BOARDS:
                _, secret = await credentials.issue(session, keyring, board, "bench", "system:bench")
                out[board] = secret
            await session.commit()
    finally:
        await engine.dispose()
    return out


# ---- service processes --------------------------------------------------------------------------


class Service:
    """``hotline-api serve --workers N`` on ``port`` (one process unless ``workers`` > 1: then
    uvicorn's supervisor and its workers), its JSON log in ``logs/``."""

    def __init__(
        self, name: str, port: int, env: dict[str, str], logs: Path, cwd: Path, workers: int = 1
    ) -> None:
        self.name, self.port, self.env, self.logs, self.cwd = name, port, env, logs, cwd
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def stderr_path(self) -> Path:
        return self.logs / f"{self.name}.stderr.jsonl"

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        out = open(self.logs / f"{self.name}.stdout.txt", "ab")  # noqa: SIM115 - closed in stop()
        err = open(self.stderr_path, "ab")  # noqa: SIM115 - closed in stop()
        self._files += [out, err]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hotline_api",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--no-migrate",
            ],
            cwd=self.cwd,  # an empty folder: no stray .env
            env=self.env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        self.starts += 1

    def worker_pids(self) -> list[int]:
        """With ``workers`` > 1: the worker processes uvicorn's supervisor runs now."""
        pid = self.pid
        if pid is None or self.workers == 1:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if (
                    fields[0] != "Z"
                    and int(fields[1]) == pid
                    and b"spawn_main" in (entry / "cmdline").read_bytes()
                ):
                    found.append(int(entry.name))
        return sorted(found)

    def log_size(self) -> int:
        try:
            return self.stderr_path.stat().st_size
        except OSError:
            return 0

    def log_count(self, message_start: str, since: int = 0) -> int:
        """How many lines of the log from byte ``since`` on have a message that starts so."""
        needle = f'"message": "{message_start}'.encode()
        try:
            with self.stderr_path.open("rb") as log:
                log.seek(since)
                return log.read().count(needle)
        except OSError:
            return 0

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until GET /readyz answers 200."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.stderr_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout:g} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            if sig == signal.SIGKILL:
                self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for f in self._files:
            f.close()
        self._files.clear()

    def rss_mib(self) -> float | None:
        pid = self.pid
        if pid is None:
            return None
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


# ---- the relay: a TCP proxy to PostgreSQL, or a balancer ----------------------------------------


class Relay:
    """``python benchmarks/_harness.py proxy|balancer`` in a process of its own (its CPU apart from
    the driver's); ``cut()`` / ``restore()`` signal it."""

    def __init__(self, kind: str, port: int, targets: list[str], logs: Path) -> None:
        self.kind, self.port, self.targets = kind, port, targets
        self.log = open(logs / f"{kind}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, kind, "--port", str(port), *targets],
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith(b"listening"):
            raise RuntimeError(f"the {kind} did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cut(self) -> None:
        os.kill(self.proc.pid, signal.SIGUSR1)

    def restore(self) -> None:
        os.kill(self.proc.pid, signal.SIGUSR2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


async def _relay_main(kind: str, port: int, targets: list[str]) -> None:
    """proxy: every connection to ``port`` goes to the Unix socket ``targets[0]``; SIGUSR1 drops
    them all and stops listening (new connections are refused), SIGUSR2 listens again.
    balancer: each connection goes to the next of ``targets`` (host:port) that accepts it."""
    loop = asyncio.get_running_loop()
    open_writers: set[asyncio.StreamWriter] = set()
    rotation = itertools.cycle(range(len(targets)))
    server: asyncio.Server | None = None

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def upstream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if kind == "proxy":
            return await asyncio.open_unix_connection(targets[0])
        last: OSError | None = None
        for _ in targets:
            host, _, p = targets[next(rotation)].rpartition(":")
            try:
                return await asyncio.open_connection(host, int(p))
            except OSError as exc:  # this backend is down: the next one
                last = exc
        raise last or OSError("no backend")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await upstream()
        except OSError:
            writer.transport.abort()
            return
        open_writers.update((writer, up_writer))
        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            open_writers.discard(writer)
            open_writers.discard(up_writer)

    async def listen() -> None:
        nonlocal server
        server = await asyncio.start_server(handle, "127.0.0.1", port, reuse_address=True, backlog=1024)

    def cut() -> None:
        if server is not None:
            server.close()
        for w in list(open_writers):
            w.transport.abort()
        open_writers.clear()
        print("cut", file=sys.stderr, flush=True)

    background: set[asyncio.Task[None]] = set()

    def restore() -> None:
        task = loop.create_task(listen())
        background.add(task)
        task.add_done_callback(background.discard)
        print("restored", file=sys.stderr, flush=True)

    await listen()
    loop.add_signal_handler(signal.SIGUSR1, cut)
    loop.add_signal_handler(signal.SIGUSR2, restore)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("listening", flush=True)
    await stop.wait()


# ---- the senders' ledger ------------------------------------------------------------------------


@dataclass
class Attempt:
    sent: float
    done: float
    outcome: str  # the HTTP status, "conn" (refused, reset, closed) or "timeout"
    port: int


@dataclass
class Delivery:
    """A webhook body a switchboard must deliver, and every answer it got."""

    switchboard: str
    source: str
    content_type: str
    body: bytes
    attempts: list[Attempt] = field(default_factory=list)
    acked: float | None = None  # when the first 2xx came back
    answer: dict[str, int] | None = None  # its received/stored/duplicates
    rejected: int | None = None  # a final 4xx


@dataclass
class RouteAsk:
    switchboard: str
    sent: float
    done: float
    outcome: str
    action: str
    reason: str
    port: int


@dataclass
class ApiCall:
    kind: str
    sent: float
    done: float
    outcome: str


@dataclass
class Ledger:
    deliveries: dict[bytes, Delivery] = field(default_factory=dict)
    routes: list[RouteAsk] = field(default_factory=list)
    api: list[ApiCall] = field(default_factory=list)
    give_up_at: float = float("inf")


class Pick:
    """Which service port a request goes to: round-robin over ``ports``, or per switchboard."""

    def __init__(self, ports: list[int], pinned: dict[str, int] | None = None) -> None:
        self.ports = ports
        self.pinned = pinned or {}
        self._cycle = itertools.cycle(ports)

    def __call__(self, board: str | None) -> int:
        if board in self.pinned:
            return self.pinned[board]
        return next(self._cycle)


class Connections:
    """HTTP/1.1 keep-alive connections to one port of the service, as many as needed, reused first
    in first out. (httpx's own pool spent seconds of the driver's time with hundreds of requests in
    flight; this is what benchmarks/routing.py does.) A connection idle for longer than the
    server's keep-alive (uvicorn: 5 s) is not reused."""

    IDLE = 4.0

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: deque[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = deque()

    async def exchange(self, raw: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        now = time.monotonic()
        conn = None
        while self.idle:
            at, reader, writer = self.idle.popleft()
            if now - at < self.IDLE:
                conn = reader, writer
                break
            writer.close()
        if conn is None:
            conn = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = conn
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            headers = [tuple(line.split(b":", 1)) for line in lines[1:] if b":" in line]
            pairs = [(k.strip(), v.strip()) for k, v in headers]
            length = next((int(v) for k, v in pairs if k.lower() == b"content-length"), 0)
            body = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            raise
        if any(k.lower() == b"connection" and v.lower() == b"close" for k, v in pairs):
            writer.close()
        else:
            self.idle.append((time.monotonic(), reader, writer))
        return status, pairs, body

    def close(self) -> None:
        while self.idle:
            self.idle.popleft()[2].close()


class SwitchboardTransport(httpx.AsyncBaseTransport):
    """The switchboards' and counsellors' HTTP, with the ledger. See the module's docstring."""

    def __init__(self, ledger: Ledger, pick: Pick, spool: bool = False, max_backoff: float = 5.0) -> None:
        self.ledger, self.pick, self.spool, self.max_backoff = ledger, pick, spool, max_backoff
        self.conns: dict[int, Connections] = {}
        self.timeout = 10.0
        # spool: a call's events wait in its lane and go out in order, while the call goes on
        self.lanes: dict[tuple[str, str], list[httpx.Request]] = {}
        self.lane_tasks: set[asyncio.Task[None]] = set()

    async def drain(self, seconds: float) -> int:
        """Wait until every spooled body is delivered; the lanes still busy after ``seconds``."""
        deadline = time.monotonic() + seconds
        while self.lane_tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self.lane_tasks), timeout=max(0.0, deadline - time.monotonic()))
        return len(self.lane_tasks)

    def _enqueue(self, request: httpx.Request, board: str) -> httpx.Response:
        match = _LINKEDID.search(request.content)
        lane = (board, next(g for g in match.groups() if g).decode() if match else "")
        queue = self.lanes.get(lane)
        if queue is not None:
            queue.append(request)
        else:
            self.lanes[lane] = [request]
            task = asyncio.create_task(self._lane(lane))
            self.lane_tasks.add(task)
            task.add_done_callback(self.lane_tasks.discard)
        body = b'{"received":1,"stored":1,"duplicates":0,"spooled":true}'
        return httpx.Response(
            200, content=body, headers={"content-type": "application/json"}, request=request
        )

    async def _lane(self, lane: tuple[str, str]) -> None:
        queue = self.lanes[lane]
        try:
            while queue:
                request = queue[0]
                match = _HOT.match(request.url.path)
                assert match is not None
                await self._deliver(request, lane[0], match.group(2))
                queue.pop(0)
        except httpx.HTTPError:
            pass  # the sender gave up (the run is over): the ledger shows what was not delivered
        finally:
            del self.lanes[lane]

    async def aclose(self) -> None:
        for conns in self.conns.values():
            conns.close()

    async def _send(self, request: httpx.Request, port: int) -> tuple[httpx.Response | None, str]:
        """One attempt: the answer and its status, or (None, "conn" | "timeout")."""
        conns = self.conns.get(port)
        if conns is None:
            conns = self.conns[port] = Connections(port)
        head = [
            f"{request.method} {request.url.raw_path.decode()} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
        ]
        head += [
            k + b": " + v + b"\r\n"
            for k, v in request.headers.raw
            if k.lower() not in (b"host", b"connection")
        ]
        raw = b"".join(head) + b"\r\n" + request.content
        try:
            async with asyncio.timeout(self.timeout):
                status, headers, body = await conns.exchange(raw)
        except TimeoutError:
            return None, "timeout"
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return None, "conn"
        return httpx.Response(status, headers=headers, content=body, request=request), str(status)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        match = _HOT.match(request.url.path)
        if match is None:
            return await self._api(request)
        board, kind = match.groups()
        if kind == "route":
            return await self._route(request, board)
        if self.spool:
            return self._enqueue(request, board)
        return await self._deliver(request, board, kind)

    async def _deliver(self, request: httpx.Request, board: str, source: str) -> httpx.Response:
        body = request.content
        key = hashlib.sha256(f"{board}\x00{source}\x00".encode() + body).digest()
        d = self.ledger.deliveries.get(key)
        if d is None:
            d = Delivery(board, source, request.headers.get("content-type", ""), body)
            self.ledger.deliveries[key] = d
        n = 0
        while True:
            if time.monotonic() >= self.ledger.give_up_at:
                raise httpx.ConnectError("the sender gave up")
            port = self.pick(board)
            sent = time.monotonic()
            resp, outcome = await self._send(request, port)
            d.attempts.append(Attempt(sent, time.monotonic(), outcome, port))
            if resp is not None and 200 <= resp.status_code < 300:
                d.acked = time.monotonic()
                d.answer = resp.json()
                return resp
            if resp is not None and resp.status_code < 500 and resp.status_code not in (408, 429):
                d.rejected = resp.status_code  # refused for good (the service quarantines it)
                return resp
            # 5xx, 408/429, no connection, no answer in time: hold the body, try again later
            retry_after = resp.headers.get("retry-after") if resp is not None else None
            if retry_after and retry_after.isdigit():
                delay = float(retry_after) + random.uniform(0, 0.5)
            else:
                delay = min(self.max_backoff, 0.25 * 2**n) * random.uniform(0.8, 1.2)
            n += 1
            await asyncio.sleep(min(delay, max(0.0, self.ledger.give_up_at - time.monotonic())))

    async def _route(self, request: httpx.Request, board: str) -> httpx.Response:
        port = self.pick(board)
        sent = time.monotonic()
        resp, outcome = await self._send(request, port)
        answer = dict(parse_qsl(resp.text)) if resp is not None else {}
        self.ledger.routes.append(
            RouteAsk(
                board,
                sent,
                time.monotonic(),
                outcome,
                answer.get("action", "-"),
                answer.get("reason", "-"),
                port,
            )
        )
        if resp is None:  # the dialplan's CURL() got nothing: its own Queue() takes the call
            raise httpx.ConnectError(outcome)
        return resp

    async def _api(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        kind = (
            "login"
            if path.endswith("/auth/login")
            else "contact"
            if path.endswith("/contact")
            else "presence"
            if path.endswith("/presence")
            else "overdue"
            if "overdue" in path
            else "other"
        )
        sent = time.monotonic()
        resp, outcome = await self._send(request, self.pick(None))
        self.ledger.api.append(ApiCall(f"{request.method} {kind}", sent, time.monotonic(), outcome))
        if resp is None:
            raise httpx.ConnectError(outcome)
        return resp


# ---- the switchboards (the simulator) -----------------------------------------------------------


class Switchboards:
    """The three switchboards, played by the simulator: ``live_per_minute`` live calls (the
    simulator's live mode: /route dialogue, one ARI event per request, AMI queue events, CDR) and
    ``relay_per_second`` whole calls posted at once as a relay does (ARI array, AMI text, CDR)."""

    def __init__(
        self,
        live_client: httpx.AsyncClient,
        relay_client: httpx.AsyncClient,
        secrets: dict[str, str],
        counsellors: list[Counsellor],
        live_per_minute: float,
        relay_per_second: float,
        seed: int,
    ) -> None:
        from hotline_api.telephony.simulator import Target

        self.live_client, self.relay_client = live_client, relay_client
        self.target = Target("http://service", secrets)
        self.live_rate = live_per_minute / 60
        self.relay_rate = relay_per_second
        self.rng = random.Random(seed)
        self.run_token = os.urandom(2).hex()
        self.stop = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.callers: set[str] = set()
        self.live: list[Any] = []  # LiveCallResult of the live calls that ended
        self.relay_calls: list[tuple[str, str]] = []  # (switchboard, linkedid)
        self.failures: Counter[str] = Counter()
        self.talking: Counter[str] = Counter()  # extension → live calls it is talking on
        self.relay_ext = {
            b: [c.extension for c in counsellors if c.board == b and not c.routed] for b in BOARDS
        }

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures[type(task.exception()).__name__] += 1

    async def _live_call(self, board: str, kind: str, rng: random.Random) -> None:
        from hotline_api.telephony.simulator import caller_number, live_call

        caller = caller_number(rng, board)
        self.callers.add(caller)
        talking: list[str] = []

        async def stage(name: str, result: Any) -> None:
            # who is on the phone: a counsellor talking does not press "available"
            if name == "connected" and result.counsellor:
                talking.append(result.counsellor)
                self.talking[result.counsellor] += 1
            elif name == "ended":
                while talking:
                    self.talking[talking.pop()] -= 1

        result = await live_call(
            self.live_client,
            self.target,
            board,
            kind=kind,
            caller=caller,
            exten=rng.choice(["111", "111", "111", "18001567"]),
            talk_seconds=(5.0, 20.0),
            ivr_seconds=(1.0, 3.0),
            ring_seconds=(1.0, 3.0),
            leave_seconds=(1.0, 3.0),
            rng=rng,
            stop=self.stop,
            on_stage=stage,
            run_token=self.run_token,
        )
        self.live.append(result)

    async def _relay_call(self, n: int) -> None:
        from hotline_api.telephony.simulator import Tally, make_call, post_call

        s = make_call(self.rng, n, datetime.now(UTC), "r" + self.run_token)
        # answered by a counsellor the distributor does not route to: the relay's calls are past
        s.counsellor, s.missed_by = self.rng.sample(self.relay_ext[s.switchboard], 2)
        s.build()
        self.callers.add(s.caller)
        self.relay_calls.append((s.switchboard, s.linkedid))
        await post_call(self.relay_client, self.target, s, Tally(), batch_ari=True, with_cel=False)

    async def run(self, seconds: float) -> None:
        """Place calls for ``seconds`` (Poisson arrivals), then stop placing them."""
        from hotline_api.telephony.simulator import KIND_WEIGHT, SWITCHBOARD_WEIGHT

        end = time.monotonic() + seconds
        boards, weights = list(SWITCHBOARD_WEIGHT), list(SWITCHBOARD_WEIGHT.values())
        kinds, kind_weights = list(KIND_WEIGHT), list(KIND_WEIGHT.values())
        next_live = time.monotonic() + self.rng.expovariate(self.live_rate) if self.live_rate else end
        next_relay = time.monotonic() + self.rng.expovariate(self.relay_rate) if self.relay_rate else end
        n = 0
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_live:
                rng = random.Random(self.rng.getrandbits(64))
                board = rng.choices(boards, weights)[0]
                self._spawn(self._live_call(board, rng.choices(kinds, kind_weights)[0], rng))
                next_live += self.rng.expovariate(self.live_rate)
            if now >= next_relay:
                n += 1
                self._spawn(self._relay_call(n))
                next_relay += self.rng.expovariate(self.relay_rate)
            await asyncio.sleep(max(0.0, min(next_live, next_relay, end) - time.monotonic()))

    async def finish(self, seconds: float) -> int:
        """Every live call still going hangs up; wait for all to be delivered. Returns the tasks
        left unfinished after ``seconds`` (cancelled)."""
        self.stop.set()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=seconds)
        left = len(self.tasks)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=5)
        return left


# ---- counsellors through the API ----------------------------------------------------------------


@dataclass
class WrapUp:
    call_id: int
    user_id: int
    token: str
    outcome: str = ""  # 201, 409 (an earlier attempt was stored), or the last failure
    attempts: int = 0


class Counsellors:
    """Each counsellor signs in (a bearer token), and every ``period`` s: after a missed offer sets
    themselves available again (PUT /me/presence) — unless they are talking on a call of the
    simulator (``busy``): a counsellor whose answer the service has not heard of yet (the event
    held by the relay during an outage) is shown 'missed' while on the phone; writes the contact
    record of each call they answered (GET /me/overdue-contacts?pending=true, POST
    /calls/{id}/contact with notes)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        counsellors: list[Counsellor],
        password: str,
        period: float,
        busy: Callable[[str], bool] = lambda extension: False,
    ) -> None:
        self.client, self.counsellors, self.password, self.period = client, counsellors, password, period
        self.busy = busy
        self.tokens: dict[int, str] = {}
        self.wrapups: dict[int, WrapUp] = {}
        self.notes: set[str] = set()
        self.stop = asyncio.Event()
        self.available_again = 0

    async def sign_in(self) -> None:
        for c in self.counsellors:
            r = await self.client.post(
                "http://service/api/v1/auth/login", json={"username": c.username, "password": self.password}
            )
            r.raise_for_status()
            self.tokens[c.user_id] = r.json()["access_token"]

    async def run(self) -> None:
        await asyncio.gather(*(self._one(c) for c in self.counsellors))

    async def _one(self, c: Counsellor) -> None:
        auth = {"Authorization": f"Bearer {self.tokens[c.user_id]}"}
        await asyncio.sleep(random.uniform(0, self.period))
        while not self.stop.is_set():
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                await self._tick(c, auth)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.period)

    async def _tick(self, c: Counsellor, auth: dict[str, str]) -> None:
        base = "http://service/api/v1"
        if c.routed:
            r = await self.client.get(f"{base}/me/presence", headers=auth)
            if r.status_code == 200 and r.json()["state"] == "missed" and not self.busy(c.extension):
                r = await self.client.put(f"{base}/me/presence", headers=auth, json={"state": "available"})
                if r.status_code == 200:
                    self.available_again += 1
        r = await self.client.get(f"{base}/me/overdue-contacts", params={"pending": "true"}, headers=auth)
        if r.status_code != 200:
            return
        for item in r.json():
            call_id = int(item["call_id"])
            w = self.wrapups.get(call_id)
            if w is None:
                w = self.wrapups[call_id] = WrapUp(call_id, c.user_id, os.urandom(5).hex())
            if w.outcome in ("201", "409"):
                continue
            notes = f"GHICHU-{w.token}: {NOTE_TEXT}."
            self.notes.add(notes)
            w.attempts += 1
            try:
                resp = await self.client.post(
                    f"{base}/calls/{call_id}/contact",
                    headers=auth,
                    json={
                        "caller_category": "relative_or_friend",
                        "contact_type": "counselling",
                        "trafficking_related": False,
                        "language": "vi",
                        "notes": notes,
                    },
                )
                w.outcome = str(resp.status_code)
            except httpx.TransportError as exc:
                w.outcome = type(exc).__name__


# ---- CPU ----------------------------------------------------------------------------------------


def _proc_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    idle = cpu[3] + cpu[4]
    return sum(cpu[:8]) - idle, sum(cpu[:8])


class CpuMeter:
    """Cores used by the machine and by groups of processes ('other': the rest of the machine).

    ``sample()`` (every second or so) follows each process: one that appears counts from its start,
    one that ends loses at most its last interval, so PostgreSQL's backends and a restarted service
    are counted too."""

    def __init__(self, groups: Callable[[], Mapping[str, Iterable[int]]]) -> None:
        self.groups = groups
        self.hz = os.sysconf("SC_CLK_TCK")
        self.seen: dict[int, int] = {}
        self.acc: Counter[str] = Counter()
        self.since = time.monotonic()
        self.busy0 = _machine_ticks()[0]
        self._sample(first=True)

    def _sample(self, first: bool = False) -> None:
        for name, pids in self.groups().items():
            for pid in pids:
                ticks = _proc_ticks(pid)
                if not first:
                    self.acc[name] += max(0, ticks - self.seen.get(pid, 0))
                self.seen[pid] = ticks

    def sample(self) -> None:
        self._sample()

    def take(self) -> dict[str, float]:
        """Cores per group since the last take (``machine``: all of them)."""
        self._sample()
        now, busy = time.monotonic(), _machine_ticks()[0]
        span = max(1e-6, (now - self.since) * self.hz)
        out = {"machine": (busy - self.busy0) / span}
        out.update({name: ticks / span for name, ticks in self.acc.items()})
        out["other"] = max(0.0, out["machine"] - sum(v for k, v in out.items() if k != "machine"))
        self.acc.clear()
        self.since, self.busy0 = now, busy
        return out

    async def run(self, every: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every)
            self.sample()


class LoopLag:
    """How late the driver's own event loop wakes up (a busy machine delays the load itself)."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self, every: float = 0.1) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(every)
            self.lags.append(time.monotonic() - t - every)

    def take(self) -> str:
        lags, self.lags = self.lags, []
        return f"p99 {pct(lags, 99) * 1000:.0f} ms, max {max(lags, default=0) * 1000:.0f} ms"


# ---- reconciliation ----------------------------------------------------------------------------


@dataclass
class Reconciliation:
    requests: int = 0
    events: int = 0
    acked_first: int = 0
    acked_retry: int = 0
    not_acked: int = 0
    rejected: int = 0
    stored: int = 0
    duplicates: int = 0
    lost: int = 0
    lost_examples: list[str] = field(default_factory=list)
    unexpected_rows: int = 0
    same_content: int = 0  # events the sender sent twice with the same content (one row, by design)
    stored_unbeknown: int = 0  # stored by an attempt whose answer the sender never got
    calls_missing: int = 0
    double_booked: int = 0
    double_examples: list[str] = field(default_factory=list)
    stale_presence: int = 0  # put on_call for a call by a late answer event while busy with another
    stale_examples: list[str] = field(default_factory=list)
    dial_answers: int = 0
    overlapping_calls: int = 0
    missed_but_answered: int = 0
    wrapups_acked: int = 0
    wrapups_stored: int = 0
    wrapups_lost: int = 0
    wrapups_unwritten: int = 0
    wrapups_answer_lost: int = 0
    contact_duplicates: int = 0
    answers_500: int = 0
    log_hits: int = 0  # callers' numbers or wrap-up notes found in the service's logs
    audit_broken: bool = False

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicates == 0
            and self.not_acked == 0
            and self.rejected == 0
            and self.double_booked == 0
            and self.overlapping_calls == 0
            and self.wrapups_lost == 0
            and self.contact_duplicates == 0
            and self.calls_missing == 0
            and self.answers_500 == 0
            and self.log_hits == 0
            and not self.audit_broken
        )


def reconcile(
    inst: Installation,
    ledger: Ledger,
    boards: Switchboards,
    counsellors: Counsellors | None,
) -> Reconciliation:
    """Every event sent against the rows of webhook_events (by switchboard and the service's own
    deduplication key, computed with ``intake.dedup_keys``); calls; counsellors never on two calls;
    wrap-ups."""
    import psycopg

    from hotline_api.telephony.intake import dedup_keys
    from hotline_api.telephony.parsing import parse_body

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    r = Reconciliation()
    with psycopg.connect(inst.conninfo) as conn:
        rows: Counter[tuple[str, bytes]] = Counter(
            (sb, bytes(k)) for sb, k in conn.execute("SELECT switchboard_code, dedup_key FROM webhook_events")
        )
        r.duplicates = sum(n - 1 for n in rows.values() if n > 1)
        sent: set[tuple[str, bytes]] = set()
        for d in ledger.deliveries.values():
            r.requests += 1
            events = parse_body(d.source, d.body, d.content_type, tz, datetime.now(UTC))
            keys = dedup_keys(inst.keyring, d.source, events, None)
            first_ok = bool(d.attempts) and d.attempts[0].outcome.startswith("2")
            for key in keys:
                r.events += 1
                ident = (d.switchboard, key)
                if ident in sent:
                    r.same_content += 1
                sent.add(ident)
                stored = rows.get(ident, 0)
                if d.acked is not None:
                    if first_ok:
                        r.acked_first += 1
                    else:
                        r.acked_retry += 1
                elif d.rejected is not None:
                    r.rejected += 1
                else:
                    r.not_acked += 1
                if stored == 0 and d.rejected is None:
                    r.lost += 1
                    if len(r.lost_examples) < 5:
                        r.lost_examples.append(
                            f"{d.switchboard}/{d.source} attempts={[a.outcome for a in d.attempts]}"
                        )
            if d.acked is not None and not first_ok and d.answer and d.answer.get("duplicates"):
                r.stored_unbeknown += int(d.answer["duplicates"])
        r.stored = sum(1 for ident in sent if rows.get(ident))
        r.unexpected_rows = sum(n for ident, n in rows.items() if ident not in sent)

        # every call the switchboards placed has its record, once
        # (a transferred call's leg at the other switchboard is part of the first leg's record)
        linked = {(b, lk) for b, lk in boards.relay_calls}
        linked.update((res.switchboard, res.linkedid) for res in boards.live)
        have = set(conn.execute("SELECT switchboard_code, linkedid FROM calls").fetchall())
        missing = sorted(ident for ident in linked if ident not in have)
        r.calls_missing = len(missing)
        r.lost_examples += [f"no call record for {b}/{lk}" for b, lk in missing[:5]]

        # no counsellor offered a call while busy with another: their presence history, in order.
        # A dial answer reserves the counsellor (state reserved); it must find them free — not
        # reserved (unexpired) or on a call for another call. A counsellor put on a call (on_call,
        # by the trigger on an answer event) while busy with another call is a different thing:
        # the service's state overwritten by an answer event that arrived late (counted apart).
        routed = [c.user_id for c in inst.counsellors if c.routed]
        history = conn.execute(
            "SELECT user_id, payload->>'state', (payload->>'call_id')::bigint, at, "
            "(payload->>'reserved_until')::timestamptz, (payload->>'since')::timestamptz FROM live_events "
            "WHERE kind = 'presence' AND user_id = ANY(%s) ORDER BY id",
            (routed,),
        ).fetchall()
        last: dict[int, tuple[str, int | None, Any, Any]] = {}
        for uid, state, call_id, at, reserved_until, since in history:
            prev = last.get(uid)
            busy = (
                prev is not None
                and prev[0] in ("reserved", "on_call")
                and prev[1] != call_id
                and not (prev[0] == "reserved" and prev[2] is not None and prev[2] <= at)
            )
            if busy and prev is not None and state == "reserved":
                r.double_booked += 1
                if len(r.double_examples) < 5:
                    r.double_examples.append(
                        f"user {uid} offered call {call_id} while {prev[0]} for call {prev[1]}"
                    )
            elif busy and prev is not None and state == "on_call":
                r.stale_presence += 1
                if len(r.stale_examples) < 5:
                    age = (prev[3] - since).total_seconds() if prev[3] and since else float("nan")
                    r.stale_examples.append(
                        f"user {uid}: {prev[0]} for call {prev[1]} → on_call for call {call_id}, "
                        f"whose answer is {age:.1f} s older than that {prev[0]} state"
                    )
            last[uid] = (state, call_id, reserved_until, since)
        dial = conn.execute(
            "SELECT count(*) FROM routing_decisions WHERE action = 'dial' AND counsellor_user_id = ANY(%s)",
            (routed,),
        ).fetchone()
        r.dial_answers = int(dial[0]) if dial else 0
        overlap = conn.execute(
            "SELECT count(*) FROM (SELECT counsellor_user_id, answered_at, "
            "lag(COALESCE(ended_at, 'infinity')) OVER (PARTITION BY counsellor_user_id ORDER BY answered_at) "
            "AS prev_end FROM calls WHERE counsellor_user_id = ANY(%s) AND answered_at IS NOT NULL) x "
            "WHERE prev_end > answered_at",
            (routed,),
        ).fetchone()
        r.overlapping_calls = int(overlap[0]) if overlap else 0
        # an offer the service recorded as missed (its ring timeout passed with no answer heard)
        # although the same counsellor had answered the call by then: their answer event came late
        false_missed = conn.execute(
            "SELECT count(*) FROM call_offers o JOIN calls c ON c.id = o.call_id "
            "WHERE o.result = 'noanswer' AND o.user_id = c.counsellor_user_id AND c.answered_at <= o.offered_at "
            "AND o.user_id = ANY(%s)",
            (routed,),
        ).fetchone()
        r.missed_but_answered = int(false_missed[0]) if false_missed else 0

        if counsellors is not None:
            contacts = Counter(
                int(cid) for (cid,) in conn.execute("SELECT call_id FROM contact_records").fetchall()
            )
            r.contact_duplicates = sum(n - 1 for n in contacts.values() if n > 1)
            for w in counsellors.wrapups.values():
                if w.outcome in ("201", "409"):
                    r.wrapups_acked += 1
                    if not contacts.get(w.call_id):
                        r.wrapups_lost += 1
                elif contacts.get(w.call_id):
                    r.wrapups_answer_lost += 1  # stored; the counsellor's request saw a failure
                else:
                    r.wrapups_unwritten += 1
            r.wrapups_stored = len(contacts)
    r.answers_500 = sum(
        1
        for d in ledger.deliveries.values()
        for a in d.attempts
        if a.outcome.startswith("50") and a.outcome != "503"
    )
    r.answers_500 += sum(1 for q in ledger.routes if q.outcome == "500")
    r.answers_500 += sum(1 for a in ledger.api if a.outcome.startswith("5") and a.outcome != "503")
    return r


def print_reconciliation(r: Reconciliation) -> None:
    print(
        f"  events: {r.events} in {r.requests} requests; acknowledged at first try {r.acked_first}, "
        f"after retries {r.acked_retry}, never {r.not_acked}, refused (4xx) {r.rejected}"
    )
    print(
        f"  database: {r.stored} of them stored, duplicates {r.duplicates}, lost {r.lost}, rows nobody "
        f"sent {r.unexpected_rows}; stored by an attempt whose answer was lost (the retry was told "
        f"'duplicate') {r.stored_unbeknown}; same content sent twice by the simulator {r.same_content}"
    )
    for example in r.lost_examples:
        print(f"    lost: {example}")
    print(f"  calls placed without a call record: {r.calls_missing}")
    print(
        f"  counsellors: {r.dial_answers} dial answers; offered while busy with another call (presence "
        f"history) {r.double_booked}; "
        f"overlapping answered calls {r.overlapping_calls}; offers recorded as missed that the same "
        f"counsellor answered (the answer heard late) {r.missed_but_answered}"
    )
    for example in r.double_examples:
        print(f"    double-booked: {example}")
    print(
        f"  presence moved to on_call for an older call by a late answer event while the counsellor was "
        f"busy with another: {r.stale_presence}"
    )
    for example in r.stale_examples:
        print(f"    {example}")
    print(
        f"  wrap-ups: {r.wrapups_acked} acknowledged (201, or 409 for a retry), {r.wrapups_stored} contact "
        f"records stored, lost {r.wrapups_lost}, duplicates {r.contact_duplicates}; stored although the "
        f"counsellor saw a failure {r.wrapups_answer_lost}; not written {r.wrapups_unwritten}"
    )
    print(f"  500 answers: {r.answers_500}")


# ---- logs ---------------------------------------------------------------------------------------

_DIGITS = re.compile(r"(?<![0-9A-Za-z])\+?[0-9]{8,13}(?![0-9A-Za-z])")


def scan_logs(paths: list[Path], callers: set[str], notes: set[str]) -> dict[str, Any]:
    """The callers' numbers (national and +84 forms) and the wrap-ups' notes in the captured logs."""
    forms: set[str] = set()
    for number in callers:
        forms.add(number)
        if number.startswith("0"):
            forms.add("+84" + number[1:])
            forms.add("84" + number[1:])
    tokens = {n.split(":", 1)[0] for n in notes}
    hits: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    lines = size = 0
    for path in paths:
        if not path.exists():
            continue
        size += path.stat().st_size
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                lines += 1
                for m in _DIGITS.finditer(line):
                    if m.group(0) in forms:
                        hits["number"] += 1
                if "GHICHU-" in line:
                    hits["note token"] += sum(1 for t in tokens if t in line)
                if NOTE_TEXT[:40] in line:
                    hits["note text"] += 1
                if '"level": "ERROR"' in line:
                    levels["ERROR lines"] += 1
                    if "Exception in ASGI application" in line:
                        levels["tracebacks from uvicorn"] += 1
                    if "[parameters:" in line:
                        levels["with SQL parameters"] += 1
                if '"status": 500' in line:
                    levels["access log status 500"] += 1
    return {
        "lines": lines,
        "bytes": size,
        "numbers_checked": len(forms),
        "notes_checked": len(notes),
        "hits": dict(hits),
        "levels": dict(levels),
    }


def audit_verify(inst: Installation) -> tuple[bool, str]:
    result = subprocess.run(
        [sys.executable, "-m", "hotline_api", "audit", "verify"],
        env=inst.env,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(inst.env["HOTLINE_DATA_DIR"]),
    )
    text = (result.stdout + result.stderr).strip().splitlines()
    return result.returncode == 0, text[-1] if text else ""


def ledger_rates(ledger: Ledger, t0: float, t1: float) -> dict[str, float]:
    """Events acknowledged with a 2xx that came back in [t0, t1), and per second."""
    events = sum(
        (d.answer or {}).get("received", 0)
        for d in ledger.deliveries.values()
        if d.acked is not None and t0 <= d.acked < t1
    )
    return {"events": events, "per_s": events / max(1e-9, t1 - t0)}


def outcome_counts(ledger: Ledger, t0: float, t1: float) -> dict[str, Counter[str]]:
    """Answers by kind of request and status, for attempts sent in [t0, t1)."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for d in ledger.deliveries.values():
        for a in d.attempts:
            if t0 <= a.sent < t1:
                out[f"events/{d.source}"][a.outcome] += 1
    for q in ledger.routes:
        if t0 <= q.sent < t1:
            out["route"][q.outcome] += 1
    for c in ledger.api:
        if t0 <= c.sent < t1:
            out[c.kind][c.outcome] += 1
    return out


def cleanup_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def run_async(coro: Any) -> Any:
    """Run ``coro`` on uvloop (as the service does), or asyncio's loop without it."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _main() -> None:
    parser = argparse.ArgumentParser(description="the harness's TCP relay (proxy or balancer)")
    parser.add_argument("kind", choices=("proxy", "balancer"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("targets", nargs="+", help="proxy: a Unix socket path; balancer: host:port …")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness stops us
    run_async(_relay_main(args.kind, args.port, args.targets))


if __name__ == "__main__":
    _main()
