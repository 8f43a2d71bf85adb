"""End to end: ``hotline-api serve`` on the embedded PostgreSQL, run as real subprocesses.

Cold and warm starts, Ctrl-C (SIGINT), a service killed with SIGKILL, keys that cannot read the
data, and two services started at once on one data folder. After each, no PostgreSQL process of
that data folder may remain. How fast a start is (the 10 s target) is measured by
benchmarks/serve_start.py, not asserted here.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, short_tempdir

PASSWORD_RE = re.compile(r"one-time password:\s*(\S+)")
KEYS_CREATED = "Encryption keys were created in"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(extra or {})
    return env


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _processes_naming(path: Path) -> list[int]:
    """Living processes whose command line contains ``path`` (the postmaster runs with -D <path>)."""
    needle = str(path).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postgres" / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Serve:
    """One ``hotline-api serve`` subprocess; its output goes to files (no pipe to fill up)."""

    data: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _log(self, name: str) -> Path:
        return self.data.parent / f"serve-{self.port}.{name}"

    def start(self) -> Serve:
        cmd = [sys.executable, "-m", "hotline_api", "serve", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data), *self.args]
        with self._log("out").open("wb") as out, self._log("err").open("wb") as err:
            self.started_at = time.monotonic()
            # cwd: the service reads a .env file from its working folder; the test's must not leak in.
            # A process group of its own, as a shell gives a foreground command.
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=err,
                env=_env(self.env_extra),
                cwd=self.data.parent,
                start_new_session=True,
            )
        return self

    @property
    def stdout(self) -> str:
        return self._log("out").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self._log("err").read_text(errors="replace")

    def log(self, message_start: str) -> list[dict[str, object]]:
        """The JSON log lines on stderr whose message starts with ``message_start``."""
        found = []
        for line in self.stderr.splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and str(entry.get("message", "")).startswith(message_start):
                    found.append(entry)
        return found

    def workers(self) -> set[int]:
        """The uvicorn worker processes of ``serve --workers N``."""
        assert self.proc is not None
        found = set()
        for pid in _children(self.proc.pid):
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.add(pid)
        return found

    def output(self) -> str:
        return f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr[-4000:]}"

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds from launch until GET /readyz answered 200."""
        assert self.proc is not None
        deadline = self.started_at + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"serve exited with {self.proc.returncode} before ready\n{self.output()}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return time.monotonic() - self.started_at
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        pytest.fail(f"serve not ready within {timeout} s\n{self.output()}")

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C, as a terminal sends it (to the whole foreground process group); the exit status."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not stop within {timeout} s of SIGINT\n{self.output()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _stop_leftovers(data: Path) -> None:
    """Last resort, for failing tests: no PostgreSQL of ``data`` may outlive the test."""
    for pid in _processes_naming(data):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)  # a postmaster's immediate shutdown; its children follow
    deadline = time.monotonic() + 10
    while _processes_naming(data) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in _processes_naming(data):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def assert_nothing_left(data: Path, postmasters: set[int], timeout: float = 5.0) -> None:
    """No process names the data folder, the postmasters seen and their children are gone, and the
    cluster's pid file is removed (a clean stop)."""
    deadline = time.monotonic() + timeout
    while True:
        left = _processes_naming(data)
        left += [p for p in postmasters if _alive(p)]
        left += [c for p in postmasters for c in _children(p)]
        pidfile = data / "postgres" / "postmaster.pid"
        if not left and not pidfile.exists():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"left behind: processes {sorted(set(left))}, pid file exists: {pidfile.exists()}")
        time.sleep(0.1)


class Services:
    """The services a test starts and the folders it makes: whatever the test's outcome, every
    service is killed, its PostgreSQL stopped, and only then the folders removed."""

    def __init__(self) -> None:
        self.started: list[Serve] = []
        self.folders: list[Path] = []

    def new_data_dir(self) -> Path:
        base = short_tempdir("hl-s-")
        self.folders.append(base)
        return base / "d"

    def start(
        self, data: Path, env_extra: dict[str, str] | None = None, args: list[str] | None = None
    ) -> Serve:
        serve = Serve(data, env_extra or {}, args or [])
        self.started.append(serve)
        return serve.start()

    def close(self) -> None:
        for s in self.started:
            s.kill()
        for data in {s.data for s in self.started}:
            _stop_leftovers(data)
        for base in self.folders:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def services() -> Iterator[Services]:
    svc = Services()
    try:
        yield svc
    finally:
        svc.close()


@dataclass
class ColdStart:
    data: Path
    ready_after: float
    stdout: str
    stderr: str
    password: str
    login_status: int
    exit_status: int


@pytest.fixture(scope="module")
def cold() -> Iterator[ColdStart]:
    """A fresh data folder brought up once by ``serve`` from nothing; later tests reuse it."""
    svc = Services()
    data = svc.new_data_dir()
    try:
        serve = svc.start(data)
        ready_after = serve.wait_ready()
        postmaster = _postmaster_pid(data)
        assert postmaster is not None
        passwords = PASSWORD_RE.findall(serve.stdout)
        assert passwords, serve.output()
        login = httpx.post(
            f"{serve.url}/api/v1/auth/login",
            json={"username": "admin", "password": passwords[0]},
            timeout=10,
        )
        exit_status = serve.interrupt()
        assert_nothing_left(data, {postmaster})
        yield ColdStart(
            data=data,
            ready_after=ready_after,
            stdout=serve.stdout,
            stderr=serve.stderr,
            password=passwords[0],
            login_status=login.status_code,
            exit_status=exit_status,
        )
    finally:
        svc.close()


def test_cold_start_becomes_ready_by_itself(cold: ColdStart):
    # within wait_ready's 30 s; how fast (the 10 s target) is measured by benchmarks/serve_start.py,
    # not asserted here: a busy test machine is no measure of it
    assert 0 < cold.ready_after < 30


def test_cold_start_prints_a_valid_admin_password_once(cold: ColdStart):
    assert len(PASSWORD_RE.findall(cold.stdout)) == 1, cold.stdout
    assert cold.stdout.count("only this once") == 1
    assert cold.login_status == 200


def test_cold_start_says_where_the_keys_were_created(cold: ColdStart):
    err = " ".join(cold.stderr.split())  # the console wraps long lines
    assert err.count(KEYS_CREATED) == 1, cold.stderr
    assert f"{KEYS_CREATED} {cold.data / 'keys' / 'keys.json'}" in err
    assert (cold.data / "keys" / "keys.json").exists()


def test_ctrl_c_stops_the_service_and_its_postgres(cold: ColdStart):
    # the fixture sent SIGINT and checked that no PostgreSQL process of the folder remained
    assert cold.exit_status in (0, 130), cold.stderr[-4000:]


def test_warm_start_prints_no_password_nor_keys(cold: ColdStart, services: Services):
    serve = services.start(cold.data)
    serve.wait_ready()
    postmaster = _postmaster_pid(cold.data)
    assert postmaster is not None
    assert "one-time password" not in serve.stdout, serve.output()
    assert KEYS_CREATED not in serve.stderr
    # the first password still works: the admin was not created again
    login = httpx.post(
        f"{serve.url}/api/v1/auth/login",
        json={"username": "admin", "password": cold.password},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    assert serve.interrupt() in (0, 130), serve.output()
    assert_nothing_left(cold.data, {postmaster})


def test_server_left_by_a_killed_service_is_reused_then_stopped(cold: ColdStart, services: Services):
    first = services.start(cold.data)
    first.wait_ready()
    postmaster = _postmaster_pid(cold.data)
    assert postmaster is not None
    first.kill()  # SIGKILL: no chance to stop PostgreSQL
    assert _alive(postmaster), "PostgreSQL went down with the killed service"

    second = services.start(cold.data)
    second.wait_ready()
    assert _postmaster_pid(cold.data) == postmaster, "the running server was not reused"
    assert second.interrupt() in (0, 130), second.output()
    assert_nothing_left(cold.data, {postmaster})


def test_keys_that_cannot_read_the_data_are_refused(cold: ColdStart, services: Services):
    keys_file = cold.data / "keys" / "keys.json"
    before = keys_file.read_bytes()
    other = {
        "HOTLINE_ENCRYPTION_KEYS": "other:" + base64.b64encode(os.urandom(32)).decode(),
        "HOTLINE_HASH_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    serve = services.start(cold.data, other)
    assert serve.proc is not None
    try:
        code = serve.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve with the wrong keys did not exit\n{serve.output()}")
    assert code != 0
    err = " ".join(serve.stderr.split())
    assert "the configured keys cannot read the existing data" in err, serve.output()
    assert "Traceback" not in err, serve.output()
    assert "one-time password" not in serve.stdout
    assert keys_file.read_bytes() == before
    assert_nothing_left(cold.data, set())


def test_two_services_started_at_once_on_a_new_folder(services: Services):
    data = services.new_data_dir()
    pair = [services.start(data), services.start(data)]
    for s in pair:
        s.wait_ready()
    postmaster = _postmaster_pid(data)
    assert postmaster is not None
    passwords = [p for s in pair for p in PASSWORD_RE.findall(s.stdout)]
    assert len(passwords) == 1, "\n".join(s.output() for s in pair)
    assert sum(" ".join(s.stderr.split()).count(KEYS_CREATED) for s in pair) == 1
    for s in pair:
        login = httpx.post(
            f"{s.url}/api/v1/auth/login",
            json={"username": "admin", "password": passwords[0]},
            timeout=10,
        )
        assert login.status_code == 200, login.text

    # the first to stop leaves the server to the other; the last one stops it
    assert pair[0].interrupt() in (0, 130), pair[0].output()
    assert _alive(postmaster)
    assert httpx.get(f"{pair[1].url}/readyz", timeout=5).status_code == 200
    assert pair[1].interrupt() in (0, 130), pair[1].output()
    assert_nothing_left(data, {postmaster})


def test_a_half_set_key_configuration_is_refused_without_a_traceback(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        {
            "HOTLINE_DATA_DIR": str(tmp_path),
            "HOTLINE_ENCRYPTION_KEYS": "k1:" + base64.b64encode(bytes(32)).decode(),  # and no hash key
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "hotline_api.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "HOTLINE_HASH_KEY" in result.stderr and "Traceback" not in result.stderr + result.stdout


MEMORY_LIMIT = "HOTLINE_MEMORY_LIMIT_MB"
MEMORY_CHECK = "HOTLINE_MEMORY_CHECK_SECONDS"


def _size_at_start(services: Services, data: Path, args: list[str], processes: int) -> float:
    """The MB a service process has when it starts, as its memory guard reads it. Measured with a
    limit below it: the guard must then say so and stay off, the service serving on unharmed."""
    serve = services.start(data, {MEMORY_LIMIT: "1", MEMORY_CHECK: "0.2"}, args)
    serve.wait_ready()
    postmaster = _postmaster_pid(data)
    deadline = time.monotonic() + 30
    while len(off := serve.log("memory guard off")) < processes:
        assert time.monotonic() < deadline, serve.output()
        time.sleep(0.1)
    assert all(entry["level"] == "ERROR" and entry["limit_mb"] == 1 for entry in off), off
    workers = serve.workers()
    time.sleep(1.5)  # seven checks' time: nothing is ended
    assert httpx.get(f"{serve.url}/readyz", timeout=5).status_code == 200
    assert serve.workers() == workers and not serve.log("memory limit reached"), serve.output()
    assert serve.interrupt() in (0, 130), serve.output()
    assert_nothing_left(data, {postmaster} if postmaster else set())
    return max(float(entry["resident_mb"]) for entry in off)  # type: ignore[arg-type]


def _work(client: httpx.Client, password: str) -> list[int]:
    """A sign-in and the API's description: what makes a new process grow. A request whose connection
    is closed unanswered is sent once more, as every client of the service does."""

    def send(method: str, path: str, **kw: object) -> httpx.Response:
        try:
            return client.request(method, path, **kw)  # type: ignore[arg-type]
        except httpx.TransportError:
            return client.request(method, path, **kw)  # type: ignore[arg-type]

    login = send("POST", "/api/v1/auth/login", json={"username": "admin", "password": password})
    if login.status_code != 200:
        return [login.status_code]
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    return [login.status_code, send("GET", "/openapi.json", headers=auth).status_code]


def _fresh_connections(url: str) -> httpx.Client:
    # a new connection for every request, so that none is found closed by a process that stopped
    return httpx.Client(base_url=url, timeout=15, limits=httpx.Limits(max_keepalive_connections=0))


def test_a_worker_past_its_memory_limit_is_replaced_while_the_service_answers(
    cold: ColdStart, services: Services
):
    args = ["--workers", "2"]
    start_size = _size_at_start(services, cold.data, args, processes=2)
    serve = services.start(cold.data, {MEMORY_LIMIT: f"{start_size + 4:.1f}", MEMORY_CHECK: "0.2"}, args)
    serve.wait_ready()
    postmaster = _postmaster_pid(cold.data)
    first = serve.workers()
    assert len(first) == 2, serve.output()
    statuses: list[int] = []
    deadline = time.monotonic() + 120
    with _fresh_connections(serve.url) as client:
        while not serve.log("memory limit reached"):
            assert time.monotonic() < deadline, f"no worker reached {start_size + 4:.1f} MB\n{serve.output()}"
            statuses += _work(client, cold.password)
        # uvicorn's supervisor starts another in its place; the requests are answered meanwhile
        while not (
            (now := serve.workers()) - first and len(now) == 2 and len(serve.log("memory guard on")) >= 3
        ):
            assert time.monotonic() < deadline, f"the worker was not replaced\n{serve.output()}"
            statuses += _work(client, cold.password)
        statuses += [client.get("/readyz").status_code for _ in range(5)]
    assert statuses and set(statuses) == {200}, statuses
    reached = serve.log("memory limit reached")[0]
    assert float(reached["resident_mb"]) >= float(reached["limit_mb"]) == round(start_size + 4, 1)  # type: ignore[arg-type]
    # the processes that reached the limit are gone (both first ones may be: they grew alike; so may a
    # new one, a few MB above its start size after this test's requests), and two serve
    ended = {int(str(entry["message"]).split("[")[1].split("]")[0]) for entry in serve.log("Child process [")}
    assert ended & first and not ended & now, serve.output()
    assert serve.proc is not None and serve.proc.poll() is None
    assert serve.interrupt() in (0, 130), serve.output()
    assert_nothing_left(cold.data, {postmaster} if postmaster else set())


def test_one_process_past_its_memory_limit_stops_for_its_supervisor_to_restart_it(
    cold: ColdStart, services: Services
):
    start_size = _size_at_start(services, cold.data, [], processes=1)
    serve = services.start(cold.data, {MEMORY_LIMIT: f"{start_size + 4:.1f}", MEMORY_CHECK: "0.2"})
    serve.wait_ready()
    postmaster = _postmaster_pid(cold.data)
    assert serve.proc is not None
    statuses: list[int] = []
    deadline = time.monotonic() + 120
    with _fresh_connections(serve.url) as client:
        while serve.proc.poll() is None:
            assert time.monotonic() < deadline, (
                f"the process did not reach {start_size + 4:.1f} MB\n{serve.output()}"
            )
            try:
                statuses += _work(client, cold.password)
            except httpx.TransportError:
                break  # it stopped taking connections
    try:
        code = serve.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve did not exit at its memory limit\n{serve.output()}")
    assert code == 75, serve.output()  # EX_TEMPFAIL: systemd's Restart=on-failure starts it again
    assert statuses and set(statuses) == {200}, statuses
    assert serve.log("memory limit reached"), serve.output()
    assert "stopped at its memory limit" in " ".join(serve.stderr.split())
    assert "Traceback" not in serve.stderr
    # as on any stop, the embedded PostgreSQL it started is stopped with it
    assert_nothing_left(cold.data, {postmaster} if postmaster else set())
