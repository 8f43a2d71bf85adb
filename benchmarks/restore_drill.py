"""The restore drill: back the service up, restore it onto a fresh server with only the escrowed key
file, and prove that nothing was lost and everything still reads.

    python benchmarks/restore_drill.py                # ~600 calls, ~100 cases; about a minute
    python benchmarks/restore_drill.py --calls 2000   # more data

What it does, each step through the real commands and the real service:

1. **Service A**: ``hotline-api serve`` on a throwaway data folder (embedded PostgreSQL, keys created,
   migrated, first admin). Over HTTP: users (a national supervisor, counsellors with extensions), a
   webhook credential per switchboard, simulated calls from the three switchboards
   (``telephony.simulator.run``), partners with contact points, and the case work of counsellors:
   contact records with notes, cases with summaries, people with names and numbers, notes,
   referrals (consented, rejected with a reason, an emergency override with its reason).
2. **A key rotation** half-way (``hotline-api keys add`` / ``keys activate``, service restarted),
   so that the data is sealed under two keys, as it is on a service that has lived a while.
3. **Backup**: service A stopped, ``hotline-api backup --out … --data-dir A``.
4. **The fresh server**: a second, empty data folder; only the key file is copied from the escrow;
   ``hotline-api restore --from … --data-dir B`` (initdb, pg_restore, its own checks).
5. **Verification** by the drill itself: every table's row count equal on A and B; *every* encrypted
   value decrypted on both sides (A with its keys, B with the escrowed copy) and compared; the audit
   chain on B; then both services started and the same cases, contact records, partners and
   referrals read through the API from each and compared.
6. **A hot backup**: service A running and the simulator posting calls during ``hotline-api backup``;
   restored into a second database of server B (``HOTLINE_DATABASE_URL``); its checks must pass.

It prints a table of the figures and exits 1 on any mismatch. Everything happens in a /tmp folder
that is removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SWITCHBOARDS = ("hanoi", "danang", "angiang")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ")
MIDDLE = ("Thị", "Văn", "Hữu", "Minh", "Ngọc", "Thanh", "Đức", "Thu")
GIVEN = ("Hoa", "Lan", "Mai", "Hùng", "Dũng", "Hương", "Linh", "Tuấn", "Nga", "Phương", "Sơn", "Yến", "Khánh")
PROVINCES = ("01", "04", "08", "11", "12", "14", "15", "19", "22", "46", "48", "79", "91", "92", "96")
NOTES = (
    "Mẹ gọi: con gái {age} tuổi bị đưa sang Trung Quốc qua Lào Cai, người môi giới dùng số {phone}.",
    "Người gọi kể anh trai đi làm ở Campuchia, bị giữ giấy tờ, phải làm việc lừa đảo qua mạng.",
    "Cô gái {age} tuổi ở {place} được hứa việc làm nhà hàng, nay không liên lạc được với gia đình.",
    "Cán bộ xã báo tin: nhóm thanh niên được tuyển đi Myanmar, đã có {n} người mất liên lạc.",
    "Nạn nhân đã về nước, cần hỗ trợ tâm lý và học nghề; đồng ý để tổng đài chuyển thông tin.",
)
PLACES = ("Hà Giang", "Lào Cai", "Nghệ An", "Sơn La", "Điện Biên", "An Giang", "Đồng Tháp", "Cà Mau")


def short_tempdir() -> Path:
    """A /tmp folder with a short path (Unix socket limit), enterable by the PostgreSQL user when
    run as root."""
    path = Path(tempfile.mkdtemp(prefix="hl-drill-", dir="/tmp"))
    os.chmod(path, 0o711)  # noqa: S103
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    # a wide terminal for rich: no line breaks inside what the drill reads back
    env.update(HOTLINE_LOG_LEVEL="warning", COLUMNS="200", **extra)
    return env


def cli(args: list[str], logs: Path, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """Run ``hotline-api ARGS`` as an operator would; (exit code, its output, seconds)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "hotline_api", *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        cwd=logs,
        timeout=600,
        check=False,
    )
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    (logs / f"{args[0]}-{int(time.time() * 1000)}.log").write_text(output)
    return result.returncode, output, took


@dataclass
class Service:
    """``hotline-api serve`` on a data folder, in its own process."""

    data: Path
    logs: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    admin_password: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        out_path = self.logs / f"serve-{self.data.name}-{self.port}.out"
        with out_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hotline_api",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=clean_env(),
                cwd=self.logs,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited ({self.proc.returncode}):\n{out_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve not ready in {timeout} s:\n{out_path.read_text()[-3000:]}")
            time.sleep(0.1)
        m = re.search(r"one-time password:\s*(\S+)", out_path.read_text())
        if m:
            self.admin_password = m.group(1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


# ---- loading realistic data through the API -------------------------------------------------


class Api:
    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    @staticmethod
    async def own_password(client: httpx.AsyncClient, username: str, given: str) -> str:
        """A password given by an admin (or printed by the first start) is changed at the first
        sign-in before anything else: do so, and return the password to sign in with from now on."""
        r = await client.post("/api/v1/auth/login", json={"username": username, "password": given})
        r.raise_for_status()
        if not r.json()["user"]["password_must_change"]:
            return given
        own = given + "-riêng"
        changed = await client.post(
            "/api/v1/auth/password",
            json={"current_password": given, "new_password": own},
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        )
        changed.raise_for_status()
        return own

    @classmethod
    async def login(cls, client: httpx.AsyncClient, username: str, password: str) -> Api:
        r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
        r.raise_for_status()
        return cls(client, r.json()["access_token"])

    async def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        r = await self.client.request(method, path, json=body, headers=self.headers)
        if r.status_code not in ok:
            raise RuntimeError(f"{method} {path} → {r.status_code}: {r.text[:500]}")
        return r.json()


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


def mobile(rng: random.Random) -> str:
    return rng.choice(("091", "098", "097", "035", "088", "079")) + f"{rng.randrange(10**7):07d}"


def note(rng: random.Random) -> str:
    return rng.choice(NOTES).format(
        age=rng.randrange(14, 25), phone=mobile(rng), place=rng.choice(PLACES), n=rng.randrange(2, 9)
    )


@dataclass
class Loaded:
    national: tuple[str, str] = ("", "")  # user name, password
    secrets: dict[str, str] = field(default_factory=dict)
    partners: list[int] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)
    contact_calls: list[int] = field(default_factory=list)
    referrals: list[int] = field(default_factory=list)
    worked_calls: set[int] = field(default_factory=set)
    calls_posted: int = 0


async def setup_people(url: str, admin_password: str, loaded: Loaded) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        admin_password = await Api.own_password(client, "admin", admin_password)
        admin = await Api.login(client, "admin", admin_password)
        created = await admin.call(
            "POST",
            "/api/v1/users",
            {
                "username": "drill-national",
                "display_name": "Giám sát viên toàn quốc (diễn tập)",
                "roles": ["national_supervisor"],
                "home_switchboard": "hanoi",
            },
        )
        given = created["one_time_password"]
        loaded.national = ("drill-national", await Api.own_password(client, "drill-national", given))
        # counsellors on the simulator's extensions: answered calls name them
        for board, exts in {
            "hanoi": ("1012", "1013", "1014"),
            "danang": ("2012", "2013"),
            "angiang": ("3012", "3013"),
        }.items():
            for ext in exts:
                await admin.call(
                    "POST",
                    "/api/v1/users",
                    {
                        "username": f"drill-{board}-{ext}",
                        "display_name": f"Tư vấn viên {board} {ext}",
                        "roles": ["counsellor"],
                        "home_switchboard": board,
                        "extensions": [{"switchboard": board, "extension": f"PJSIP/{ext}"}],
                    },
                )
        for board in SWITCHBOARDS:
            cred = await admin.call("POST", f"/api/v1/switchboards/{board}/credentials", {"label": "drill"})
            loaded.secrets[board] = cred["secret"]


async def simulate(url: str, loaded: Loaded, count: int, seed: int, rate: float = 0) -> None:
    from hotline_api.telephony.simulator import Target, run

    tally = await run(Target(url, loaded.secrets), count, rate, seed, concurrency=16)
    bad = {s: n for s, n in tally.responses.items() if s != 200}
    if bad:
        raise RuntimeError(f"the simulator got answers other than 200: {bad}")
    loaded.calls_posted += count


async def case_work(url: str, loaded: Loaded, records: int, seed: int) -> None:
    """What counsellors and supervisors do after calls: wrap-ups, cases, people, notes, referrals."""
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        api = await Api.login(client, *loaded.national)
        if not loaded.partners:
            for i in range(8):
                p = await api.call(
                    "POST",
                    "/api/v1/partners",
                    {
                        "name": f"{rng.choice(('Công an', 'Bộ đội Biên phòng', 'Hội Liên hiệp Phụ nữ'))} tỉnh {PLACES[i]}",
                        "kind": rng.choice(("police", "border_guard", "womens_union")),
                        "contact_points": [
                            {"name": "Trực ban", "role": "Trực ban hình sự", "phone": "0" + mobile(rng)[1:]},
                            {"name": person_name(rng), "email": f"lienhe{i}@example.vn"},
                        ],
                    },
                )
                loaded.partners.append(p["id"])
        answered: list[int] = []
        before: int | None = None
        while True:
            page = await api.call(
                "GET", "/api/v1/calls?outcome=answered&limit=500" + (f"&before_id={before}" if before else "")
            )
            answered += [c["id"] for c in page["calls"] if c["id"] not in loaded.worked_calls]
            before = page["next_before_id"]
            if before is None:
                break
        todo = answered[:records]
        loaded.worked_calls.update(todo)
        semaphore = asyncio.Semaphore(8)

        async def one(i: int, call_id: int) -> None:
            async with semaphore:
                if i % 7 == 6:  # a silent call after all
                    await api.call("POST", f"/api/v1/calls/{call_id}/contact/quick", {"kind": "silent"})
                    return
                related = i % 3 != 2
                rec = await api.call(
                    "POST",
                    f"/api/v1/calls/{call_id}/contact",
                    {
                        "caller_category": rng.choice(("victim", "relative_or_friend", "community_member")),
                        "contact_type": rng.choice(("tip", "counselling", "crisis"))
                        if related
                        else "information",
                        "trafficking_related": related,
                        "trafficking_forms": [
                            rng.choice(("forced_marriage", "forced_labour", "sexual_exploitation"))
                        ]
                        if related
                        else [],
                        "age_group": rng.choice(("age_16_17", "age_18_24")),
                        "sex": rng.choice(("female", "male")),
                        "province": rng.choice(PROVINCES),
                        "language": "vi",
                        "notes": note(rng),
                        "consent": "given",
                    },
                )
                loaded.contact_calls.append(call_id)
                if not related or i % 2:
                    return
                case = await api.call(
                    "POST", "/api/v1/cases", {"contact_record_id": rec["id"], "summary": note(rng)}
                )
                loaded.cases.append(case["id"])
                for role in ("victim", "caller")[: 1 + (i // 2) % 2]:
                    await api.call(
                        "POST",
                        f"/api/v1/cases/{case['id']}/persons",
                        {
                            "role": role,
                            "name": person_name(rng),
                            "phone": mobile(rng),
                            "sex": rng.choice(("female", "male")),
                            "nationality": "VN",
                            "destination_country": rng.choice(("CN", "KH", "MM", "LA")),
                        },
                    )
                await api.call("POST", f"/api/v1/cases/{case['id']}/notes", {"text": note(rng)})
                if i % 4 == 0:
                    partner = rng.choice(loaded.partners)
                    override = i % 12 == 0
                    ref = await api.call(
                        "POST",
                        f"/api/v1/cases/{case['id']}/referrals",
                        {
                            "partner_id": partner,
                            "referral_type": "rescue_investigation",
                            "consent": "emergency_override" if override else "given",
                            "override_reason": "Nạn nhân đang bị giữ tại biên giới, không thể hỏi ý kiến"
                            if override
                            else None,
                        },
                    )
                    loaded.referrals.append(ref["id"])
                    await api.call("POST", f"/api/v1/referrals/{ref['id']}/transitions", {"to": "sent"})
                    if i % 8 == 0:
                        await api.call(
                            "POST",
                            f"/api/v1/referrals/{ref['id']}/transitions",
                            {
                                "to": "rejected",
                                "reason": "Đơn vị đề nghị chuyển cho công an tỉnh " + rng.choice(PLACES),
                            },
                        )

        await asyncio.gather(*(one(i, c) for i, c in enumerate(todo)))


# ---- verification ------------------------------------------------------------------------------


def table_counts(conninfo: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        return {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}  # type: ignore[index]  # noqa: S608


def decrypted_values(conninfo: str, keys_file: Path) -> dict[str, dict[Any, str]]:
    """Every encrypted value of every encrypted column, opened: column → primary key → plaintext."""
    import psycopg

    from hotline_api.privacy.keys import read_key_file
    from hotline_api.privacy.rotation import ENCRYPTED

    keyring = read_key_file(keys_file)
    values: dict[str, dict[Any, str]] = {}
    with psycopg.connect(conninfo) as conn:
        for c in ENCRYPTED:
            rows = conn.execute(
                f"SELECT {c.key}, {c.column} FROM {c.table} WHERE {c.column} IS NOT NULL"  # noqa: S608
            ).fetchall()
            values[f"{c.table}.{c.column}"] = {
                pk: keyring.decrypt_bytes(bytes(blob), c.context).decode("utf-8", "replace")
                for pk, blob in rows
            }
    return values


def key_ids(conninfo: str) -> set[str]:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        return {
            r[0] for r in conn.execute("SELECT key_id FROM key_checks WHERE kind = 'encryption'").fetchall()
        }


async def audit_chain(url: str) -> tuple[bool, int]:
    from sqlalchemy.ext.asyncio import create_async_engine

    from hotline_api.audit.service import verify_chain
    from hotline_api.db.session import make_sessionmaker

    engine = create_async_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            result = await verify_chain(session)
            return result.ok, result.entries
    finally:
        await engine.dispose()


async def api_reads(url: str, loaded: Loaded) -> dict[str, Any]:
    """The same reads a counsellor or supervisor would make, as JSON."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        api = await Api.login(client, *loaded.national)
        seen: dict[str, Any] = {}
        for cid in loaded.cases:
            seen[f"case {cid}"] = await api.call("GET", f"/api/v1/cases/{cid}")
        for call_id in loaded.contact_calls:
            seen[f"contact {call_id}"] = await api.call("GET", f"/api/v1/calls/{call_id}/contact")
        for pid in loaded.partners:
            seen[f"partner {pid}"] = await api.call("GET", f"/api/v1/partners/{pid}")
        for rid in loaded.referrals:
            seen[f"referral {rid}"] = await api.call("GET", f"/api/v1/referrals/{rid}")
        return seen


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


# ---- the drill ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--calls", type=int, default=600, help="simulated calls in all (default 600)")
    parser.add_argument("--records", type=int, default=160, help="contact records written (default 160)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the drill's folder (its path is printed)")
    args = parser.parse_args()

    from hotline_api.db.embedded import EmbeddedPostgres

    base = short_tempdir()
    a_dir, b_dir, logs, backups, escrow = (base / n for n in ("a", "b", "logs", "backups", "escrow"))
    for d in (logs, backups, escrow):
        d.mkdir(mode=0o700)
    print(f"drill folder: {base}", flush=True)
    problems: list[str] = []
    figures: list[tuple[str, str]] = []
    service_a = Service(a_dir, logs)
    service_b = Service(b_dir, logs)
    servers: list[EmbeddedPostgres] = []
    loaded = Loaded()
    started = time.monotonic()

    def step(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)

    try:
        # 1. service A, loaded through its API
        step("service A: hotline-api serve on a fresh data folder")
        service_a.start()
        if not service_a.admin_password:
            raise RuntimeError("serve printed no one-time password for admin")
        asyncio.run(setup_people(service_a.url, service_a.admin_password, loaded))
        first = args.calls // 2
        step(f"service A: {first} simulated calls, then {args.records // 2} contact records with cases")
        asyncio.run(simulate(service_a.url, loaded, first, args.seed))
        asyncio.run(case_work(service_a.url, loaded, args.records // 2, args.seed))

        # 2. a key rotation half-way
        step("key rotation: keys add, keys activate, restart")
        service_a.stop()
        rc, output, _ = cli(["keys", "add", "--data-dir", str(a_dir)], logs)
        new_kid = re.search(r"key (\S+) added", output)
        if rc != 0 or not new_kid:
            raise RuntimeError(f"keys add failed: {output}")
        rc, output, _ = cli(["keys", "activate", new_kid.group(1), "--data-dir", str(a_dir)], logs)
        if rc != 0:
            raise RuntimeError(f"keys activate failed: {output}")
        service_a.start()
        step(f"service A: {args.calls - first} more calls and {args.records - args.records // 2} records")
        asyncio.run(simulate(service_a.url, loaded, args.calls - first, args.seed + 1))
        asyncio.run(case_work(service_a.url, loaded, args.records - args.records // 2, args.seed + 1))
        service_a.stop()

        # 3. the backup
        step("hotline-api backup (service stopped)")
        dump = backups / "hotline.dump"
        rc, output, backup_s = cli(["backup", "--out", str(dump), "--data-dir", str(a_dir)], logs)
        if rc != 0:
            raise RuntimeError(f"backup failed ({rc}):\n{output}")
        if b"encryption_keys" in dump.read_bytes():
            problems.append("the dump contains the key file's content")

        # 4. the fresh server: an empty folder and the escrowed key file only
        step("fresh server B: copy the escrowed key file, hotline-api restore")
        shutil.copy2(a_dir / "keys" / "keys.json", escrow / "keys.json")
        # as root the embedded server's own user must be able to enter the data folder
        b_dir.mkdir(mode=0o711 if os.geteuid() == 0 else 0o700)
        (b_dir / "keys").mkdir(mode=0o700)
        shutil.copy2(escrow / "keys.json", b_dir / "keys" / "keys.json")
        rc, restore_output, restore_s = cli(["restore", "--from", str(dump), "--data-dir", str(b_dir)], logs)
        print(restore_output)
        if rc != 0:
            problems.append(f"hotline-api restore exited {rc}")

        # 5. verification, by the drill itself
        step("verifying: row counts, every encrypted value on both sides, the audit chain")
        pg_a, pg_b = EmbeddedPostgres(a_dir), EmbeddedPostgres(b_dir)
        for pg in (pg_a, pg_b):
            pg.acquire()
            servers.append(pg)
        counts_a, counts_b = table_counts(pg_a.conninfo("hotline")), table_counts(pg_b.conninfo("hotline"))
        for t in differences(counts_a, counts_b):
            problems.append(f"rows of {t}: {counts_a.get(t)} on A, {counts_b.get(t)} on B")
        values_a = decrypted_values(pg_a.conninfo("hotline"), a_dir / "keys" / "keys.json")
        values_b = decrypted_values(pg_b.conninfo("hotline"), b_dir / "keys" / "keys.json")
        compared = 0
        for column in values_a:
            wrong = differences(values_a[column], values_b.get(column, {}))
            if wrong:
                problems.append(f"{column}: {len(wrong)} value(s) differ or are missing")
            compared += len(values_a[column])
        kids = key_ids(pg_b.conninfo("hotline"))
        if len(kids) < 2:
            problems.append(f"the data should be sealed under two keys; key_checks has {sorted(kids)}")
        chain_ok, entries = asyncio.run(audit_chain(pg_b.url("hotline")))
        if not chain_ok or entries != counts_a.get("audit_log"):
            problems.append(f"audit chain on B: ok={chain_ok}, {entries} entries")

        step("both services up: the same reads through the API")
        service_a.start()
        service_b.start()
        reads_a = asyncio.run(api_reads(service_a.url, loaded))
        reads_b = asyncio.run(api_reads(service_b.url, loaded))
        wrong_reads = differences(reads_a, reads_b)
        if wrong_reads:
            problems.append(f"{len(wrong_reads)} API reads differ, e.g. {wrong_reads[:3]}")
        service_b.stop()

        # 6. a hot backup, while the simulator posts calls to service A
        step("hot backup: hotline-api backup while the simulator posts calls")
        hot = backups / "hot.dump"

        async def hot_backup() -> tuple[int, str, float]:
            load = asyncio.create_task(simulate(service_a.url, loaded, 300, args.seed + 2, rate=60))
            await asyncio.sleep(1.0)
            result = await asyncio.to_thread(
                cli, ["backup", "--out", str(hot), "--data-dir", str(a_dir)], logs
            )
            await load
            return result

        rc, output, hot_backup_s = asyncio.run(hot_backup())
        if rc != 0:
            raise RuntimeError(f"hot backup failed ({rc}):\n{output}")
        pg_b.ensure_database("hotline_hot")
        rc, hot_output, hot_restore_s = cli(
            ["restore", "--from", str(hot)],
            logs,
            clean_env(HOTLINE_DATABASE_URL=pg_b.url("hotline_hot"), HOTLINE_DATA_DIR=str(b_dir)),
        )
        if rc != 0:
            print(hot_output)
            problems.append(f"the hot backup's restore exited {rc}")
        hot_calls = table_counts(pg_b.conninfo("hotline_hot"))["calls"]
        service_a.stop()

        main_tables = ("calls", "webhook_events", "contact_records", "cases", "case_persons", "case_notes")
        main_tables += ("referrals", "partners", "audit_log")
        for t in main_tables:
            figures.append((f"rows: {t}", f"{counts_b.get(t, 0):,} (A: {counts_a.get(t, 0):,})"))
        figures.append(("rows: all tables", f"{sum(counts_b.values()):,} in {len(counts_b)} tables"))
        figures.append(
            ("encrypted values decrypted and compared", f"{compared:,} in {len(values_a)} columns")
        )
        figures.append(("keys needed (escrowed file)", ", ".join(sorted(kids)) + " + hash key"))
        figures.append(("API reads compared", f"{len(reads_a):,} (cases, records, partners, referrals)"))
        figures.append(("audit chain on B", f"{entries:,} entries intact" if chain_ok else "BROKEN"))
        figures.append(("dump size", f"{dump.stat().st_size / 1024 / 1024:.2f} MB"))
        figures.append(("time to back up (hotline-api backup)", f"{backup_s:.1f} s"))
        figures.append(("time to restore (fresh server: initdb, restore, checks)", f"{restore_s:.1f} s"))
        figures.append(
            (
                "hot backup under load: back up / restore",
                f"{hot_backup_s:.1f} s / {hot_restore_s:.1f} s, "
                f"{hot_calls:,} calls, checks {'passed' if rc == 0 else 'FAILED'}",
            )
        )
        figures.append(("drill", f"{time.monotonic() - started:.0f} s in all"))
    except Exception as exc:
        problems.append(f"the drill stopped: {exc}")
    finally:
        service_a.stop()
        service_b.stop()
        for pg in servers:
            pg.release()
        if not args.keep and not problems:
            shutil.rmtree(base, ignore_errors=True)

    print()
    width = max((len(k) for k, _ in figures), default=10)
    print(f"| {'restore drill':<{width}} | result |")
    print(f"|{'-' * (width + 2)}|---|")
    for k, v in figures:
        print(f"| {k:<{width}} | {v} |")
    if problems:
        print("\nFAILED:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print(f"(the drill's folder is kept: {base})", file=sys.stderr)
        return 1
    print("\nrestore drill passed: every row, every encrypted value and the audit chain came back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
