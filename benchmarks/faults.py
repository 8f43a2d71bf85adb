"""Faults under load, each ending with a reconciliation of what every sender was told against what
the database holds.

    python benchmarks/faults.py                       # every fault, one after the other
    python benchmarks/faults.py --fault network       # one of them
    python benchmarks/faults.py --fault read-only --duration 90 --outage 30

Each fault gets a fresh embedded PostgreSQL 18 (durability on), two ``hotline-api serve`` processes
on it and the load of benchmarks/_harness.py for ``--duration`` seconds: the simulator playing the
three switchboards (live calls with their /route dialogue, one ARI event per request, AMI queue
events and the CDR; whole calls posted by a relay: ARI arrays, AMI text, CDR) and counsellors
signed in through the API who write the wrap-up of each call they answered. Every switchboard
request goes through a ledger: a body is held until it is acknowledged (2xx) and retried with
backoff, respecting Retry-After, as a PBX relay does (a live call's events wait in that call's
lane and go out in order while the call goes on); /route is asked once (the dialplan falls back to
its own queue without an answer). Requests go to the two processes in turn, except for ``kill``
and ``balancer`` below.

``--fault-at`` seconds into the load the fault begins:

- ``pg-restart``: PostgreSQL stopped (``pg_ctl stop -m fast``), down ``--restart-down`` s, started;
- ``kill``: a service process killed with SIGKILL and started again at once (as a supervisor
  would); Hà Nội posts to that process, Đà Nẵng and An Giang to the other;
- ``balancer``: both processes behind one address (a round-robin TCP balancer that skips a backend
  whose connect fails); one killed with SIGKILL, started again ``--outage`` s later;
- ``recycle``: one ``hotline-api serve --workers 2`` instead of two processes; one of its workers
  gets SIGTERM, as its memory guard sends itself past ``HOTLINE_MEMORY_LIMIT_MB``: it finishes its
  requests and exits, and uvicorn starts another on the same socket;
- ``network``: the services reach PostgreSQL through a TCP proxy; for ``--outage`` s it drops every
  connection and refuses new ones;
- ``read-only``: ``ALTER SYSTEM SET default_transaction_read_only = on`` and a reload for
  ``--outage`` s (the sessions already open see it at their next transaction);
- ``disk-full``: the database lives in a tablespace on a ``--tmpfs-mb`` tmpfs; a file fills it
  until writes fail, and is removed ``--outage`` s later (WAL stays on the cluster's disk).

Then the calls still going hang up, every held body is delivered (up to ``--drain`` s), and the
reconciliation checks per event (by switchboard and the service's own deduplication key):
acknowledged → stored exactly once; not acknowledged at first → stored exactly once after the
retries; duplicates and lost both 0. It also checks that no counsellor was offered a call while
reserved for or on another one (the presence history) and none answered two calls at once (the
call records), that /route answered ``queue`` (503) or 200 while the database was away, never 500,
that every wrap-up acknowledged is stored once, that the audit chain is intact and the service's
logs hold no caller's number or wrap-up note, and how long the service took to recover: from the
fault's end to the first 2xx, and until every body held during the fault was acknowledged. It
prints a table per fault and a summary, and exits 1 when anything was lost or duplicated, a 500 was
seen, or any of those checks failed.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    Cluster,
    Counsellors,
    CpuMeter,
    Installation,
    Ledger,
    LoopLag,
    Pick,
    Reconciliation,
    Relay,
    Service,
    Switchboards,
    SwitchboardTransport,
    audit_verify,
    cleanup_dir,
    free_port,
    install,
    ledger_rates,
    machine,
    print_reconciliation,
    reconcile,
    run_async,
    scan_logs,
    sql,
)

FAULTS = ("pg-restart", "kill", "balancer", "recycle", "network", "read-only", "disk-full")
DATABASE_FAULTS = ("pg-restart", "network", "read-only", "disk-full")


@dataclass
class Context:
    name: str
    args: argparse.Namespace
    base: Path
    cluster: Cluster
    inst: Installation
    services: list[Service]
    proxy: Relay | None = None
    balancer: Relay | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Result:
    name: str
    ok: bool
    rec: Reconciliation
    duration: float
    events_per_s: float
    fault_events_per_s: float
    fault_seconds: float
    route_during: Counter[str]
    route_ok: bool
    first_2xx: float | None
    first_route_200: float | None
    drained: float | None
    backlog: int
    failing: str
    cpu: dict[str, float]
    notes: list[str]


# ---- the faults ---------------------------------------------------------------------------------


@dataclass
class Window:
    """When a fault began and ended (for the figures "during the fault"), the moment its recovery is
    measured from, and the service ports the recovery concerns (None: all)."""

    start: float
    end: float
    recover_from: float
    ports: list[int] | None = None
    # count only attempts sent after recover_from (a restarted process: an answer already on its
    # way when the old one was killed says nothing about the new one)
    sent_after: bool = False


async def fault_pg_restart(ctx: Context) -> Window:
    t0 = time.monotonic()
    await asyncio.to_thread(ctx.cluster.stop_server)
    stopped = time.monotonic()
    await asyncio.sleep(ctx.args.restart_down)
    await asyncio.to_thread(ctx.cluster.start_server)
    t1 = time.monotonic()
    ctx.notes.append(
        f"pg_ctl stop -m fast took {stopped - t0:.1f} s; down {ctx.args.restart_down:g} s; "
        f"pg_ctl start -w took {t1 - stopped - ctx.args.restart_down:.1f} s"
    )
    return Window(t0, t1, t1)


async def fault_kill(ctx: Context) -> Window:
    """Hà Nội's process is killed and started again at once, as a supervisor (systemd's
    Restart=always) would; its recovery is measured from the restart, on its port."""
    victim = ctx.services[0]
    t0 = time.monotonic()
    victim.kill(signal.SIGKILL)
    victim.start()
    restarted = time.monotonic()
    ready = await asyncio.to_thread(victim.wait_ready)
    ctx.notes.append(
        f"{victim.name} (Hà Nội's switchboard posts to it) killed with SIGKILL and started at once; "
        f"/readyz 200 {ready:.1f} s later"
    )
    return Window(t0, time.monotonic(), restarted, [victim.port], sent_after=True)


async def fault_balancer(ctx: Context) -> Window:
    """One of the two processes behind the balancer is killed; the balancer skips it. It is started
    again ``--outage`` s later. Recovery is measured from the kill."""
    victim = ctx.services[0]
    t0 = time.monotonic()
    victim.kill(signal.SIGKILL)
    await asyncio.sleep(ctx.args.outage)
    victim.start()
    ready = await asyncio.to_thread(victim.wait_ready)
    ctx.notes.append(
        f"{victim.name} killed with SIGKILL; started again {ctx.args.outage:g} s later (ready after "
        f"{ready:.1f} s): one process served everything meanwhile"
    )
    return Window(t0, time.monotonic(), t0)


async def fault_recycle(ctx: Context) -> Window:
    """``serve --workers 2``: one worker gets SIGTERM — what its memory guard sends itself past
    HOTLINE_MEMORY_LIMIT_MB (hotline_api.ops.memory) — finishes its requests and exits, and uvicorn's
    supervisor starts another on the same socket. The fault lasts until the new worker has started."""
    service = ctx.services[0]
    before = service.worker_pids()
    victim = before[0]
    since = service.log_size()  # the log from here on only: it grows by a line per request
    t0 = time.monotonic()
    os.kill(victim, signal.SIGTERM)
    while not (
        len(now := service.worker_pids()) == 2
        and victim not in now
        and service.log_count("Application startup complete", since) > 0
    ):
        if time.monotonic() - t0 > 60:
            raise RuntimeError(f"no new worker within 60 s; see {service.stderr_path}")
        await asyncio.sleep(0.1)
    t1 = time.monotonic()
    gone = service.log_count("Finished server process [", since) > 0
    ctx.notes.append(
        f"worker {victim} of {service.name} (--workers 2, one address) sent SIGTERM; "
        f"{'it finished its requests and exited' if gone else 'it exited'}, and worker "
        f"{(set(now) - set(before)).pop()} took its place, started {t1 - t0:.1f} s after the signal"
    )
    return Window(t0, t1, t0)


async def fault_network(ctx: Context) -> Window:
    assert ctx.proxy is not None
    t0 = time.monotonic()
    ctx.proxy.cut()
    await asyncio.sleep(ctx.args.outage)
    ctx.proxy.restore()
    t1 = time.monotonic()
    ctx.notes.append(f"the proxy dropped every connection and refused new ones for {ctx.args.outage:g} s")
    return Window(t0, t1, t1)


ADMIN = "-c default_transaction_read_only=off"


async def fault_read_only(ctx: Context) -> Window:
    conninfo = ctx.cluster.pg.conninfo("postgres")
    t0 = time.monotonic()
    await asyncio.to_thread(
        sql, conninfo, "ALTER SYSTEM SET default_transaction_read_only = on", options=ADMIN
    )
    await asyncio.to_thread(sql, conninfo, "SELECT pg_reload_conf()", options=ADMIN)
    await asyncio.sleep(ctx.args.outage)
    await asyncio.to_thread(sql, conninfo, "ALTER SYSTEM RESET default_transaction_read_only", options=ADMIN)
    await asyncio.to_thread(sql, conninfo, "SELECT pg_reload_conf()", options=ADMIN)
    t1 = time.monotonic()
    ctx.notes.append(
        f"default_transaction_read_only = on (ALTER SYSTEM + pg_reload_conf()) for {ctx.args.outage:g} s; "
        "the sessions already open saw it at their next transaction (none was terminated)"
    )
    return Window(t0, t1, t1)


def _fill(path: Path) -> int:
    """Write zeros to ``path`` until the file system is full; the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12):
            chunk = b"\0" * size
            while True:
                try:
                    n = os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += n
                if n < size:
                    break
    finally:
        os.close(fd)
    return written


async def fault_disk_full(ctx: Context) -> Window:
    filler = ctx.cluster.ts_dir / "filler"
    t0 = time.monotonic()
    written = await asyncio.to_thread(_fill, filler)
    filled = time.monotonic()
    usage = os.statvfs(ctx.cluster.ts_dir)
    await asyncio.sleep(ctx.args.outage)
    filler.unlink()
    t1 = time.monotonic()
    ctx.notes.append(
        f"tablespace on a {ctx.args.tmpfs_mb} MB tmpfs: {written / 2**20:.0f} MiB of filler written in "
        f"{filled - t0:.1f} s ({usage.f_bavail * usage.f_frsize // 1024} KiB left), removed "
        f"{ctx.args.outage:g} s later"
    )
    return Window(t0, t1, t1)


SCENARIOS: dict[str, Callable[[Context], Awaitable[Window]]] = {
    "pg-restart": fault_pg_restart,
    "kill": fault_kill,
    "balancer": fault_balancer,
    "recycle": fault_recycle,
    "network": fault_network,
    "read-only": fault_read_only,
    "disk-full": fault_disk_full,
}


# ---- one run ------------------------------------------------------------------------------------


def run_fault(name: str, args: argparse.Namespace) -> Result:
    base = Path(tempfile.mkdtemp(prefix=f"hl-fault-{name}-", dir="/tmp"))
    os.chmod(base, 0o711)  # noqa: S103 - our own throwaway folder, reachable by the PostgreSQL user
    logs = base / "logs"
    logs.mkdir()
    cluster = Cluster(base, tablespace_mb=args.tmpfs_mb if name == "disk-full" else 0)
    services: list[Service] = []
    relays: list[Relay] = []
    try:
        cluster.start()
        inst = install(
            cluster,
            base,
            {"hanoi": args.counsellors, "danang": args.counsellors, "angiang": args.counsellors},
            relay_only=3,
            settings={"wait_seconds": 2, "ring_timeout_seconds": 8, "wrap_up_seconds": 3},
        )
        ctx = Context(name, args, base, cluster, inst, services)
        env = dict(inst.env)
        if name == "network":
            socket_path = str(cluster.pg.socket_dir / ".s.PGSQL.5432")
            ctx.proxy = Relay("proxy", free_port(), [socket_path], logs)
            relays.append(ctx.proxy)
            env["HOTLINE_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{ctx.proxy.port}/bench"
        if name == "recycle":
            services.append(Service("svc", free_port(), env, logs, base / "svc", workers=2))
        else:
            for i in range(2):
                services.append(Service(f"svc{i}", free_port(), env, logs, base / "svc"))
        for s in services:
            s.start()
        for s in services:
            s.wait_ready()
        ports = [s.port for s in services]
        if name == "kill":
            pick = Pick(ports, pinned={"hanoi": ports[0], "danang": ports[1], "angiang": ports[1]})
        elif name == "balancer":
            ctx.balancer = Relay("balancer", free_port(), [f"127.0.0.1:{p}" for p in ports], logs)
            relays.append(ctx.balancer)
            pick = Pick([ctx.balancer.port])
        else:
            pick = Pick(ports)
        return run_async(drive(ctx, pick))  # type: ignore[no-any-return]
    finally:
        for s in services:
            s.stop()
        for r in relays:
            r.stop()
        cluster.close()
        if args.keep:
            print(f"  kept {base}")
        else:
            cleanup_dir(base)


async def drive(ctx: Context, pick: Pick) -> Result:
    args = ctx.args
    ledger = Ledger()
    spool = SwitchboardTransport(ledger, pick, spool=True)  # the live calls' relay: in order, per call
    direct = SwitchboardTransport(ledger, pick)  # whole calls, and the counsellors' API

    def groups() -> dict[str, list[int]]:
        g = {
            "service": [p for s in ctx.services if s.pid is not None for p in (s.pid, *s.worker_pids())],
            "postgres": ctx.cluster.pids(),
            "driver": [os.getpid()],
        }
        relays = [r.pid for r in (ctx.proxy, ctx.balancer) if r is not None]
        if relays:
            g["relay"] = relays
        return g

    async with (
        httpx.AsyncClient(transport=spool, timeout=10) as live_client,
        httpx.AsyncClient(transport=direct, timeout=10) as client,
    ):
        boards = Switchboards(
            live_client,
            client,
            ctx.inst.secrets,
            ctx.inst.counsellors,
            args.live_per_minute,
            args.relay_per_second,
            args.seed,
        )
        people = Counsellors(
            client, ctx.inst.counsellors, ctx.inst.password, 2.0, busy=lambda ext: boards.talking[ext] > 0
        )
        await people.sign_in()
        people_task = asyncio.create_task(people.run())
        cpu = CpuMeter(groups)
        sampler = asyncio.create_task(cpu.run())
        lag = LoopLag()
        lagger = asyncio.create_task(lag.run())
        start = time.monotonic()
        load = asyncio.create_task(boards.run(args.duration))
        await asyncio.sleep(args.fault_at)
        print(f"  {time.monotonic() - start:5.1f} s: fault {ctx.name} begins", flush=True)
        window = await SCENARIOS[ctx.name](ctx)
        print(f"  {time.monotonic() - start:5.1f} s: fault {ctx.name} ends", flush=True)
        await load
        end = time.monotonic()
        usage = cpu.take()
        sampler.cancel()
        lagger.cancel()
        ctx.notes.append(f"the driver's event loop woke late by {lag.take()} during the load")
        deadline = time.monotonic() + args.drain
        left = await boards.finish(args.drain)
        left += await spool.drain(max(1.0, deadline - time.monotonic()))
        # the counsellors write the last wrap-ups, then stop
        await asyncio.sleep(ctx.inst.settings["wrap_up_seconds"] + 2 * people.period)
        people.stop.set()
        await people_task
        ledger.give_up_at = time.monotonic()
        if left:
            ctx.notes.append(f"{left} simulated calls had not finished {args.drain:g} s after the load")
        if boards.failures:
            ctx.notes.append(f"simulated calls that failed: {dict(boards.failures)}")

    rec = await asyncio.to_thread(reconcile, ctx.inst, ledger, boards, people)
    audit_ok, audit_text = await asyncio.to_thread(audit_verify, ctx.inst)
    rec.audit_broken = not audit_ok
    ctx.notes.append(f"audit chain: {audit_text}")
    for s in ctx.services:
        s.stop()  # their logs complete
    scan = scan_logs([s.stderr_path for s in ctx.services], boards.callers, people.notes)
    rec.log_hits = sum(scan["hits"].values())
    ctx.notes.append(
        f"service logs: {scan['lines']} lines; callers' numbers or wrap-up notes found: "
        f"{scan['hits'] or 'none'}; {scan['levels'] or 'no ERROR line'}"
    )
    return summarise(ctx, ledger, rec, start, end, window, usage)


def summarise(
    ctx: Context,
    ledger: Ledger,
    rec: Reconciliation,
    start: float,
    end: float,
    w: Window,
    usage: dict[str, float],
) -> Result:
    run = ledger_rates(ledger, start, end)
    during = ledger_rates(ledger, w.start, max(w.end, w.start + 1))
    asks = [q for q in ledger.routes if w.start <= q.sent < w.end]
    route_during = Counter(f"{q.outcome} {q.action}" for q in asks)
    # a process killed: the dialplan's CURL() to it gets no answer and falls back to its own queue
    allowed = ("conn", "timeout") if ctx.name in ("kill", "balancer") else ()
    route_ok = all(
        q.outcome == "200" or (q.outcome == "503" and q.action == "queue") or q.outcome in allowed
        for q in asks
    )
    t1 = w.recover_from
    oks = [
        a.done
        for d in ledger.deliveries.values()
        for a in d.attempts
        if a.outcome.startswith("2")
        and a.done >= t1
        and (w.ports is None or a.port in w.ports)
        and (a.sent >= t1 or not w.sent_after)
    ]
    first_2xx = min(oks) - t1 if oks else None
    routes_200 = [
        q.done
        for q in ledger.routes
        if q.outcome == "200"
        and q.done >= t1
        and (w.ports is None or q.port in w.ports)
        and (q.sent >= t1 or not w.sent_after)
    ]
    first_route_200 = min(routes_200) - t1 if routes_200 else None
    # the backlog: bodies first sent before the fault ended that had to be retried
    retried = [
        d
        for d in ledger.deliveries.values()
        if d.attempts and d.attempts[0].sent < w.end and len(d.attempts) > 1
    ]
    drained: float | None = 0.0
    if retried:
        drained = (
            None
            if any(d.acked is None for d in retried)
            else max(0.0, max(d.acked or 0 for d in retried) - t1)
        )
        slowest = max(retried, key=lambda d: d.acked or float("inf"))
        ctx.notes.append(
            f"the last body of the backlog ({slowest.switchboard}/{slowest.source}), from the fault's start: "
            + ", ".join(
                f"sent {a.sent - w.start:+.1f} s → {a.outcome} {a.done - w.start:+.1f} s"
                for a in slowest.attempts
            )
        )
    failures = sorted(
        a.sent for d in ledger.deliveries.values() for a in d.attempts if not a.outcome.startswith("2")
    )
    failing = (
        f"{len(failures)} failed attempts sent from {failures[0] - w.start:+.1f} s to {failures[-1] - w.start:+.1f} s"
        if failures
        else "no failed attempt"
    )
    return Result(
        name=ctx.name,
        ok=rec.ok and route_ok and drained is not None,
        rec=rec,
        duration=end - start,
        events_per_s=run["per_s"],
        fault_events_per_s=during["per_s"],
        fault_seconds=w.end - w.start,
        route_during=route_during,
        route_ok=route_ok,
        first_2xx=first_2xx,
        first_route_200=first_route_200,
        drained=drained,
        backlog=len(retried),
        failing=failing,
        cpu=usage,
        notes=ctx.notes,
    )


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def print_result(r: Result) -> None:
    rec = r.rec
    print(f"\n== {r.name}: {'OK' if r.ok else 'FAILED'}")
    for note in r.notes:
        print(f"  {note}")
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.cpu.items(), key=lambda kv: -kv[1]))
    rows = [
        ("load held", f"{r.events_per_s:.0f} events/s acknowledged over {r.duration:.0f} s"),
        ("during the fault", f"{r.fault_events_per_s:.0f} events/s over {r.fault_seconds:.1f} s"),
        ("events sent", f"{rec.events} in {rec.requests} requests"),
        ("acknowledged at first try", str(rec.acked_first)),
        ("acknowledged after retries", str(rec.acked_retry)),
        ("never acknowledged / refused", f"{rec.not_acked} / {rec.rejected}"),
        ("stored", str(rec.stored)),
        ("duplicates", str(rec.duplicates)),
        ("lost", str(rec.lost)),
        ("stored although the sender saw a failure", str(rec.stored_unbeknown)),
        ("/route during the fault", ", ".join(f"{k} ×{n}" for k, n in r.route_during.most_common()) or "—"),
        ("/route never 500, queue while the DB was away", "yes" if r.route_ok else "NO"),
        ("500 answers (any endpoint)", str(rec.answers_500)),
        ("recovery: first 2xx after the fault", _s(r.first_2xx)),
        ("recovery: first /route 200 after the fault", _s(r.first_route_200)),
        ("recovery: backlog drained", f"{_s(r.drained)} ({r.backlog} bodies held and retried)"),
        ("failed attempts", r.failing),
        (
            "counsellors double-booked",
            f"{rec.double_booked} offered while busy, {rec.overlapping_calls} overlapping answered calls "
            f"({rec.dial_answers} dial answers)",
        ),
        (
            "presence set by a late answer event",
            f"{rec.stale_presence} (not a loss; see docs/reliability.md, Faults under load)",
        ),
        (
            "wrap-ups acknowledged / stored / lost",
            f"{rec.wrapups_acked} / {rec.wrapups_stored} / {rec.wrapups_lost}",
        ),
        ("CPU over the load, cores", cpu),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print("  reconciliation:")
    print_reconciliation(rec)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fault", choices=FAULTS, action="append", help="run this fault (repeatable); default all"
    )
    parser.add_argument("--duration", type=float, default=100, help="seconds of load")
    parser.add_argument("--fault-at", type=float, default=30, help="seconds into the load the fault begins")
    parser.add_argument(
        "--outage", type=float, default=30, help="seconds the network cut, read-only, disk-full last"
    )
    parser.add_argument("--restart-down", type=float, default=10, help="seconds PostgreSQL stays stopped")
    parser.add_argument(
        "--drain", type=float, default=90, help="most seconds to deliver the rest after the load"
    )
    parser.add_argument("--live-per-minute", type=float, default=120, help="live calls a minute")
    parser.add_argument("--relay-per-second", type=float, default=20, help="whole calls a second from relays")
    parser.add_argument("--counsellors", type=int, default=8, help="routed counsellors per switchboard")
    parser.add_argument("--tmpfs-mb", type=int, default=128, help="disk-full: the tablespace's tmpfs")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--keep", action="store_true", help="keep each run's folder (logs) in /tmp")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up

    print(f"machine: {machine()}")
    print(
        f"load: {args.live_per_minute:g} live calls/min + {args.relay_per_second:g} relay calls/s for "
        f"{args.duration:g} s, fault at {args.fault_at:g} s; 2 service processes (recycle: one with 2 "
        f"workers); "
        f"{args.counsellors} routed counsellors per switchboard"
    )
    results = []
    for name in args.fault or FAULTS:
        print(f"\n-- {name}", flush=True)
        result = run_fault(name, args)
        print_result(result)
        results.append(result)
    print("\nsummary")
    print(
        "| fault | load held, events/s | events sent | acked 1st try | acked after retries | stored | "
        "duplicates | lost | /route during the fault | first 2xx after | backlog drained | 500s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in results:
        routes = ", ".join(f"{k} ×{n}" for k, n in r.route_during.most_common())
        print(
            f"| {r.name} | {r.events_per_s:.0f} | {r.rec.events} | {r.rec.acked_first} | {r.rec.acked_retry} | "
            f"{r.rec.stored} | {r.rec.duplicates} | {r.rec.lost} | {routes} | {_s(r.first_2xx)} | "
            f"{_s(r.drained)} | {r.rec.answers_500} |"
        )
    failed = [r.name for r in results if not r.ok]
    print(
        f"\n{'FAILED: ' + ', '.join(failed) if failed else 'every fault: nothing lost, nothing duplicated, no 500'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
