"""How long ``hotline-api serve`` takes to answer GET /readyz 200 on the embedded PostgreSQL.

Cold: a fresh data folder (initdb, start PostgreSQL, migrate, first admin, keys, ready).
Warm: the same folder again (start PostgreSQL, nothing to migrate, ready).

Each round makes a fresh folder, starts cold, stops with SIGINT (Ctrl-C), starts warm, stops again,
and removes the folder. The clock runs from launching the command to the first 200 from /readyz.

    python benchmarks/serve_start.py [--runs 3]

Only standard-library imports here: it runs with any Python that has hotline-api installed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_COLD_SECONDS = 10.0
_PREPARED = re.compile(r"prepared in ([0-9.]+) s")


@dataclass
class Run:
    ready: float  # launch → /readyz 200
    prepared: float | None  # as the service reports it: launch of `serve` → about to listen
    stop: float  # SIGINT → exit, PostgreSQL stopped


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def short_tempdir() -> Path:
    """A /tmp folder with a short path (Unix socket limit), enterable by the PostgreSQL user when
    run as root."""
    path = Path(tempfile.mkdtemp(prefix="hl-start-", dir="/tmp"))
    os.chmod(path, 0o711)  # noqa: S103
    return path


def command(python: str, port: int | str, data: Path | str) -> list[str]:
    return [python, "-m", "hotline_api", "serve", "--port", str(port), "--data-dir", str(data)]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}


def ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postgres" / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_leftover_postgres(data: Path) -> None:
    """After a failure: stop a PostgreSQL still running on ``data`` (immediate shutdown)."""
    pid = postmaster_pid(data)
    if pid is None or not alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def one_start(python: str, data: Path, logs: Path, timeout: float) -> Run:
    port = free_port()
    out_path, err_path = logs / f"serve-{port}.out", logs / f"serve-{port}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            command(python, port, data), stdout=out, stderr=err, env=clean_env(), cwd=logs
        )
    try:
        while not ready(port):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"serve exited with {proc.returncode} before ready:\n{err_path.read_text()[-3000:]}"
                )
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"serve not ready within {timeout} s:\n{err_path.read_text()[-3000:]}")
            time.sleep(0.02)
        ready_after = time.monotonic() - started
        pg = postmaster_pid(data)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        stop_after = time.monotonic() - stopping
        if pg is not None and alive(pg):
            raise RuntimeError(f"PostgreSQL (pid {pg}) still runs after serve stopped")
        match = _PREPARED.search(out_path.read_text())
        return Run(ready_after, float(match.group(1)) if match else None, stop_after)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def machine() -> str:
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{mem_kb / 1024 / 1024:.1f} GiB RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, running as uid {os.geteuid()}"
    )


def row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name:<27} | {0:>4} | {'-':>8} | {'-':>8} | {'-':>8} |"
    return (
        f"| {name:<27} | {len(values):>4} | {statistics.median(values):>8.2f} "
        f"| {min(values):>8.2f} | {max(values):>8.2f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="cold and warm starts each (default 3)")
    parser.add_argument(
        "--python", default=sys.executable, help="the Python with hotline-api installed (default: this one)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="give up on a start after this long")
    args = parser.parse_args()

    print(
        "command: "
        + shlex.join(command(args.python, "PORT", "DATA"))
        + "  (a free port; a fresh /tmp folder)"
    )
    print(f"machine: {machine()}")
    cold: list[Run] = []
    warm: list[Run] = []
    for i in range(args.runs):
        base = short_tempdir()
        data = base / "d"
        try:
            cold.append(one_start(args.python, data, base, args.timeout))
            warm.append(one_start(args.python, data, base, args.timeout))
            print(
                f"round {i + 1}: cold {cold[-1].ready:.2f} s, warm {warm[-1].ready:.2f} s "
                f"(stops {cold[-1].stop:.2f} s, {warm[-1].stop:.2f} s)",
                flush=True,
            )
        finally:
            stop_leftover_postgres(data)
            shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"| {'seconds':<27} | runs |   median |      min |      max |")
    print(f"|{'-' * 29}|-----:|---------:|---------:|---------:|")
    print(row("cold: launch → /readyz 200", [r.ready for r in cold]))
    print(row("warm: launch → /readyz 200", [r.ready for r in warm]))
    print(row("cold: prepared (own report)", [r.prepared for r in cold if r.prepared is not None]))
    print(row("warm: prepared (own report)", [r.prepared for r in warm if r.prepared is not None]))
    print(row("stop after SIGINT", [r.stop for r in cold + warm]))
    worst = max(r.ready for r in cold)
    verdict = "met" if worst <= TARGET_COLD_SECONDS else "MISSED"
    print(f"\ntarget: ready ≤ {TARGET_COLD_SECONDS:.0f} s from cold — {verdict} (slowest cold {worst:.2f} s)")
    return 0 if worst <= TARGET_COLD_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
