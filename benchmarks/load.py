"""Sustained load: the three switchboards and their counsellors for ten minutes, on N service
processes sharing one PostgreSQL.

    python benchmarks/load.py                         # 10 minutes, 2 processes
    python benchmarks/load.py --minutes 2 --processes 1

Starts an embedded PostgreSQL 18 (durability on, as in production), migrates it, opens the three
switchboards all day, creates counsellor users (a password, an extension, available) and a
webhook secret per switchboard, and starts ``--processes`` ``hotline-api serve --workers 1``
processes on ports of their own, their JSON logs (stderr, level info: one line per request)
captured to files. The switchboards' requests are spread over the processes in turn.

The load (benchmarks/_harness.py), open-loop, for ``--minutes``:

- the simulator's live calls (``--live-per-minute``, Poisson arrivals over the three switchboards,
  the simulator's mix of callers): each event posted when it happens, one ARI event per request,
  the AMI queue events as text, the CDR at hangup; the /route dialogue as the example dialplan
  follows it (dial, wait, transfer, queue); a call answered by a counsellor rings and talks;
- relays posting whole calls at once (``--relay-per-second``): ARI in one array, AMI as text, the
  CDR — answered by counsellors the distributor does not route to;
- counsellors signed in through the API (``--counsellors`` routed ones per switchboard and three
  others): every 2 s each writes the contact record of every call they answered, with notes
  (``POST /api/v1/calls/{id}/contact``), and after a missed offer sets themselves available again.

Every webhook body is held until acknowledged and retried with backoff (none should be needed
here). Every ``--report-every`` s it prints the window's events/s acknowledged, the /route
latency (client side: from the request's send to its answer) p50/p95/p99/max, the answers that
were not 2xx by kind and status, each process's resident memory (VmRSS in /proc/PID/status,
sampled every 10 s) and the CPU used by each party. At the end: the totals, each process's memory
series, the reconciliation of every event sent against the database, the audit chain
(``hotline-api audit verify``), and a search of the captured logs for every caller's number (its
national and +84 forms) and every wrap-up's notes. It exits 1 when an event was lost or
duplicated, a 500 was answered, a process went over ``--rss-limit-mb``, the audit chain is broken,
or the logs hold a number or a note.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections import Counter
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
    Service,
    Switchboards,
    SwitchboardTransport,
    audit_verify,
    cleanup_dir,
    free_port,
    install,
    ledger_rates,
    machine,
    outcome_counts,
    pct,
    print_reconciliation,
    reconcile,
    run_async,
    scan_logs,
    sql,
)


class Memory:
    """Each process's VmRSS every ``every`` s: [(seconds since the start, [MiB per process])]."""

    def __init__(self, services: list[Service], start: float) -> None:
        self.services, self.start = services, start
        self.series: list[tuple[float, list[float | None]]] = []

    def sample(self) -> None:
        self.series.append((time.monotonic() - self.start, [s.rss_mib() for s in self.services]))

    async def run(self, every: float) -> None:
        while True:
            self.sample()
            await asyncio.sleep(every)


def _fmt_ms(values: list[float]) -> str:
    if not values:
        return "—"
    return (
        f"p50 {pct(values, 50) * 1000:.0f}  p95 {pct(values, 95) * 1000:.0f}  p99 {pct(values, 99) * 1000:.0f}  "
        f"max {max(values) * 1000:.0f} ms"
    )


def _errors(ledger: Ledger, t0: float, t1: float) -> str:
    bad = {
        kind: {k: n for k, n in c.items() if not k.startswith("2")}
        for kind, c in outcome_counts(ledger, t0, t1).items()
    }
    text = ", ".join(f"{kind} {k}×{n}" for kind, c in sorted(bad.items()) for k, n in sorted(c.items()))
    return text or "none"


def _cpu(usage: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(usage.items(), key=lambda kv: -kv[1]))


async def drive(
    args: argparse.Namespace, inst: Installation, services: list[Service], cluster: Cluster
) -> int:
    ledger = Ledger()
    pick = Pick([s.port for s in services])
    spool = SwitchboardTransport(ledger, pick, spool=True)
    direct = SwitchboardTransport(ledger, pick)

    def groups() -> dict[str, list[int]]:
        return {
            "service": [s.pid for s in services if s.pid is not None],
            "postgres": cluster.pids(),
            "driver": [os.getpid()],
        }

    async with (
        httpx.AsyncClient(transport=spool, timeout=10) as live_client,
        httpx.AsyncClient(transport=direct, timeout=10) as client,
    ):
        boards = Switchboards(
            live_client,
            client,
            inst.secrets,
            inst.counsellors,
            args.live_per_minute,
            args.relay_per_second,
            args.seed,
        )
        people = Counsellors(
            client, inst.counsellors, inst.password, 2.0, busy=lambda ext: boards.talking[ext] > 0
        )
        await people.sign_in()
        start = time.monotonic()
        memory = Memory(services, start)
        cpu = CpuMeter(groups)
        lag = LoopLag()
        helpers = [
            asyncio.create_task(people.run()),
            asyncio.create_task(memory.run(args.rss_every)),
            asyncio.create_task(cpu.run()),
            asyncio.create_task(lag.run()),
        ]
        load = asyncio.create_task(boards.run(args.minutes * 60))
        windows: list[tuple[float, dict[str, float]]] = []
        w0 = start
        print(
            "\n   t | events/s | /route latency (answered)          | not 2xx | RSS MiB per process | CPU, cores"
        )
        while not load.done():
            await asyncio.wait({load}, timeout=max(0.0, w0 + args.report_every - time.monotonic()))
            w1 = time.monotonic()
            if w1 - w0 < 1:
                break  # the load ended on a report's boundary
            rate = ledger_rates(ledger, w0, w1)
            lat = [q.done - q.sent for q in ledger.routes if w0 <= q.done < w1 and q.outcome.isdigit()]
            usage = cpu.take()
            windows.append((w1 - w0, usage))
            rss = memory.series[-1][1] if memory.series else []
            print(
                f"{w1 - start:4.0f} | {rate['per_s']:8.0f} | {len(lat):4d} asks, {_fmt_ms(lat):28} | "
                f"{_errors(ledger, w0, w1)} | {' '.join(f'{r:.0f}' if r else '-' for r in rss)} | "
                f"{_cpu(usage)}; loop lag {lag.take()}",
                flush=True,
            )
            w0 = w1
        end = time.monotonic()
        left = await boards.finish(60)
        left += await spool.drain(60)
        await asyncio.sleep(inst.settings["wrap_up_seconds"] + 2 * people.period)
        people.stop.set()
        memory.sample()
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        ledger.give_up_at = time.monotonic()

    span = end - start
    total = ledger_rates(ledger, start, end)
    lat = [q.done - q.sent for q in ledger.routes if start <= q.sent < end and q.outcome.isdigit()]
    actions = Counter(f"{q.outcome} {q.action}" for q in ledger.routes)
    weighted: dict[str, float] = {}
    for seconds, usage in windows:
        for k, v in usage.items():
            weighted[k] = weighted.get(k, 0.0) + v * seconds
    print(f"\nover {span:.0f} s of load:")
    print(f"  events acknowledged: {total['events']:.0f} ({total['per_s']:.0f}/s)")
    print(
        f"  live calls ended {len(boards.live)} ({Counter(r.outcome for r in boards.live)}), "
        f"relay calls {len(boards.relay_calls)}; unfinished {left}; failures {dict(boards.failures) or 'none'}"
    )
    print(f"  /route: {len(lat)} answered, latency {_fmt_ms(lat)}; answers {dict(actions.most_common())}")
    own = sql(
        inst.conninfo,
        "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms), max(duration_ms) FROM routing_decisions",
    )[0]
    if own[0]:
        print(
            f"  /route, the service's own decision time (routing_decisions.duration_ms, {own[0]} rows): "
            f"p50 {own[1]:.1f}  p99 {own[2]:.1f}  max {own[3]:.1f} ms"
        )
    print(f"  answers not 2xx: {_errors(ledger, start, end + 3600)}")
    print(f"  counsellors set available again after a missed offer: {people.available_again}")
    print(f"  CPU over the load, cores: {_cpu({k: v / span for k, v in weighted.items()})}")

    print("\nresident memory (VmRSS, MiB) every", f"{args.rss_every:g} s:")
    print("      s | " + " | ".join(s.name for s in services))
    for t, sample in memory.series:
        print(f"  {t:5.0f} | " + " | ".join(f"{v:5.1f}" if v else "    -" for v in sample))
    rss_ok = True
    limit_mib = args.rss_limit_mb * 1e6 / 2**20  # PRODUCT.md's limit is in MB: 200 MB is 190.7 MiB
    for i, s in enumerate(services):
        values: list[float] = []
        after_1min: list[float] = []
        for t, row in memory.series:
            value = row[i]
            if value is not None:
                values.append(value)
                if t >= 60:
                    after_1min.append(value)
        growth = (values[-1] - after_1min[0]) if after_1min else float("nan")
        peak = max(values) if values else float("nan")
        rss_ok = rss_ok and peak <= limit_mib
        print(
            f"  {s.name}: first {values[0]:.1f}, peak {peak:.1f}, last {values[-1]:.1f} MiB; "
            f"growth from the first minute to the end {growth:+.1f} MiB"
        )

    print("\nreconciliation:")
    rec = await asyncio.to_thread(reconcile, inst, ledger, boards, people)
    print_reconciliation(rec)
    audit_ok, audit_text = await asyncio.to_thread(audit_verify, inst)
    print(f"\naudit chain: {'intact' if audit_ok else 'BROKEN'} ({audit_text})")

    for s in services:
        s.stop()  # the logs are complete
    scan = scan_logs([s.stderr_path for s in services], boards.callers, people.notes)
    print(
        f"logs: {scan['lines']} lines, {scan['bytes'] / 2**20:.1f} MiB, searched for {len(boards.callers)} "
        f"callers' numbers ({scan['numbers_checked']} forms) and {scan['notes_checked']} wrap-up notes: "
        f"{scan['hits'] or 'none found'}"
    )
    ok = rec.ok and rss_ok and audit_ok and not scan["hits"]
    print(
        f"\n{'OK' if ok else 'FAILED'}: lost {rec.lost}, duplicates {rec.duplicates}, 500s {rec.answers_500}, "
        f"RSS ≤ {args.rss_limit_mb:g} MB ({limit_mib:.1f} MiB) {'yes' if rss_ok else 'NO'}, audit {'intact' if audit_ok else 'BROKEN'}, "
        f"personal data in logs {'none' if not scan['hits'] else scan['hits']}"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--processes", type=int, default=2, help="service processes on one PostgreSQL")
    parser.add_argument("--live-per-minute", type=float, default=240, help="live calls a minute")
    parser.add_argument("--relay-per-second", type=float, default=40, help="whole calls a second from relays")
    parser.add_argument("--counsellors", type=int, default=10, help="routed counsellors per switchboard")
    parser.add_argument("--report-every", type=float, default=30, help="seconds between reports")
    parser.add_argument("--rss-every", type=float, default=10, help="seconds between memory samples")
    parser.add_argument(
        "--rss-limit-mb", type=float, default=200, help="most resident memory per process, MB (10⁶ bytes)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs) in /tmp")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up

    print(f"machine: {machine()}")
    print(
        f"load: {args.live_per_minute:g} live calls/min + {args.relay_per_second:g} relay calls/s for "
        f"{args.minutes:g} min; {args.processes} service processes; {args.counsellors} routed counsellors "
        "per switchboard + 3 others"
    )
    base = Path(tempfile.mkdtemp(prefix="hl-load-", dir="/tmp"))
    os.chmod(base, 0o711)  # noqa: S103 - our own throwaway folder, reachable by the PostgreSQL user
    cluster = Cluster(base)
    services: list[Service] = []
    try:
        cluster.start()
        inst = install(
            cluster,
            base,
            {"hanoi": args.counsellors, "danang": args.counsellors, "angiang": args.counsellors},
            relay_only=3,
            settings={"wait_seconds": 2, "ring_timeout_seconds": 8, "wrap_up_seconds": 3},
        )
        settings = sql(
            cluster.conninfo, "SELECT current_setting('fsync'), current_setting('synchronous_commit')"
        )
        print(f"PostgreSQL: fsync={settings[0][0]}, synchronous_commit={settings[0][1]}")
        for i in range(args.processes):
            services.append(Service(f"svc{i}", free_port(), inst.env, base / "logs", base / "svc"))
        for s in services:
            s.start()
        for s in services:
            s.wait_ready()
        return run_async(drive(args, inst, services, cluster))  # type: ignore[no-any-return]
    finally:
        for s in services:
            s.stop()
        cluster.close()
        if args.keep:
            print(f"kept {base}")
        else:
            cleanup_dir(base)


if __name__ == "__main__":
    sys.exit(main())
