"""The database stops while the service runs: /route answers `queue` (503) within its budget, the
webhooks answer 503 so that the switchboard retries, and both recover by themselves."""

from __future__ import annotations

import base64
import shutil
import time
from urllib.parse import parse_qsl

import httpx

from hotline_api.db import migrate
from hotline_api.db.embedded import EmbeddedPostgres
from tests.conftest import short_tempdir
from tests.routing.servers import running, seed


def test_route_and_webhooks_through_a_database_outage():
    base = short_tempdir("hl-outage-")
    pg = EmbeddedPostgres(base / "data")
    pg.acquire()
    try:
        pg.ensure_database("hotline")
        url = pg.url("hotline")
        migrate.upgrade(url)
        secret = seed(pg.conninfo("hotline"))
        auth = {"Authorization": "Basic " + base64.b64encode(f"hanoi:{secret}".encode()).decode()}
        with running(url, 1) as (port,):
            route = f"http://127.0.0.1:{port}/webhooks/asterisk/hanoi/route"
            cdr = f"http://127.0.0.1:{port}/webhooks/asterisk/hanoi/cdr"
            record = {
                "linkedid": "out.1",
                "uniqueid": "out.1",
                "src": "0912345678",
                "dst": "111",
                "start": "2026-11-01 10:00:00",
                "end": "2026-11-01 10:01:00",
                "disposition": "ANSWERED",
            }

            def ask(lk: str) -> tuple[int, dict[str, str], float]:
                t = time.monotonic()
                r = httpx.post(route, data={"linkedid": lk, "exten": "111"}, headers=auth, timeout=10)
                return r.status_code, dict(parse_qsl(r.text)), time.monotonic() - t

            status, answer, _ = ask("out.1")
            assert status == 200 and answer["action"] == "wait"
            pg._stop()  # the database goes away under the running service
            status, answer, took = ask("out.2")
            assert status == 503
            assert answer == {"action": "queue", "queue": "q-local", "reason": "database_unavailable"}
            assert took < 3.0  # within the dialplan's patience
            r = httpx.post(cdr, json=record, headers=auth, timeout=10)
            assert r.status_code == 503 and r.headers["retry-after"]
            pg._start()  # it comes back: the service recovers without a restart
            deadline = time.monotonic() + 20
            while True:
                status, answer, _ = ask("out.3")
                if status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert status == 200 and answer["action"] == "wait"
            # the intake's pool may still hold a connection from before the restart: that request
            # answers 503 (the pool drops the connection) and the sender retries, as a PBX does
            while True:
                r = httpx.post(cdr, json=record, headers=auth, timeout=10)
                if r.status_code != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert r.status_code == 200 and r.json()["stored"] == 1
    finally:
        pg.release()
        shutil.rmtree(base, ignore_errors=True)
