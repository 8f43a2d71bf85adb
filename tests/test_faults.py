"""Service processes killed or replaced under load lose and double nothing: benchmarks/faults.py, shortened to
fit the suite.

The benchmark itself (docs/reliability.md, "Faults") runs each fault for 100 s at the full rate;
here three of them run for 25 s at a lower one, on their own embedded PostgreSQL, with two real
``hotline-api serve`` processes, the simulator's three switchboards and counsellors writing
wrap-ups through the API:

- ``kill``: the process Hà Nội posts to is killed with SIGKILL and started again at once;
- ``balancer``: both processes behind one address, one killed with SIGKILL and started again 5 s
  later;
- ``recycle``: one ``serve --workers 2``; a worker gets SIGTERM, as its memory guard sends itself at
  HOTLINE_MEMORY_LIMIT_MB, and uvicorn starts another in its place.

The script reconciles what every sender was told with what the database holds and exits 1 when an
event or a wrap-up was lost or stored twice, a 500 was answered, a counsellor was double-booked,
the audit chain broke or a caller's number or note reached the logs. The assertions below read its
summary as well, so that a run that did nothing cannot pass.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(
    r"^\| (kill|balancer|recycle) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|"
)


def test_processes_killed_or_replaced_under_load_lose_and_double_nothing() -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "faults.py"),
            "--fault",
            "kill",
            "--fault",
            "balancer",
            "--fault",
            "recycle",
            "--duration",
            "25",
            "--fault-at",
            "8",
            "--outage",
            "5",
            "--drain",
            "60",
            "--live-per-minute",
            "60",
            "--relay-per-second",
            "5",
            "--counsellors",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "every fault: nothing lost, nothing duplicated, no 500" in run.stdout, output[-6000:]
    rows = {m.group(1): m for line in run.stdout.splitlines() if (m := ROW.match(line))}
    assert set(rows) == {"kill", "balancer", "recycle"}, run.stdout[-3000:]
    for name, row in rows.items():
        sent, first, retried, stored, duplicates, lost = (int(row.group(i)) for i in range(3, 9))
        assert sent > 1000, f"{name}: only {sent} events sent"
        assert first + retried == sent, f"{name}: {sent - first - retried} events never acknowledged"
        assert (stored, duplicates, lost) == (sent, 0, 0), f"{name}: {row.group(0)}"
    # a process killed mid-request leaves its senders without an answer: they retried, and the
    # retries were stored once (the reconciliation above), so the fault really happened
    assert int(rows["kill"].group(5)) + int(rows["balancer"].group(5)) > 0, run.stdout[-3000:]
    # the worker that got SIGTERM was replaced (faults.py fails the run otherwise) while the other
    # served: the requests of the two seconds it took were answered
    assert "took its place" in run.stdout, run.stdout[-3000:]
