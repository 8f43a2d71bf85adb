"""``hotline-api serve --demo``: a trial installation that shows itself working.

The service gets a demo user for each role (their passwords printed once), a few simulated
counsellors ("bots") available at each switchboard, and a webhook credential per switchboard kept
in memory; once it answers /readyz, a background thread plays the simulator's live mode against
it (telephony/simulator.py: ``run_live``): calls arrive at the three switchboards, are routed by
region, ring a counsellor, are answered and end, and the counsellor goes into wrap-up. A newcomer
who signs in as ``demo-counsellor-hanoi`` and sets themselves available is offered calls too.

Not for production: the users have known names and roles, and the records fill with simulated
calls. Everything here goes through the same services as the real thing (users, credentials,
presence); the only shortcut is the bots' presence, set in the database as a counsellor's console
would set it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hotline_api.audit import service as audit
from hotline_api.auth import passwords
from hotline_api.auth import service as auth
from hotline_api.auth.models import User, UserExtension
from hotline_api.auth.schemas import ExtensionIn, UserCreate, UserUpdate
from hotline_api.config import Settings
from hotline_api.errors import Conflict
from hotline_api.privacy.crypto import Keyring
from hotline_api.routing.models import Presence
from hotline_api.telephony import credentials
from hotline_api.telephony.models import SwitchboardCredential
from hotline_api.telephony.simulator import LiveCallResult, Target, run_live

logger = logging.getLogger(__name__)
ACTOR = audit.Actor("system:demo")
CREDENTIAL_LABEL = "demo-simulator"
SWITCHBOARDS = ("hanoi", "danang", "angiang")
# the dial targets' numbering: Hà Nội 1xxx, Đà Nẵng 2xxx, An Giang 3xxx (as in docs and the simulator)
_EXTENSION_DIGIT = {"hanoi": "1", "danang": "2", "angiang": "3"}
BOTS_PER_SWITCHBOARD = {"hanoi": 3, "danang": 2, "angiang": 2}
DEFAULT_RATE_PER_MINUTE = 4.0
# how often the bots are looked after: a missed offer or an ended wrap-up makes them available again
TEND_SECONDS = 5.0


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: str
    switchboard: str
    extension: str | None = None  # the dial target at the home switchboard, for counsellors


ACCOUNTS = (
    DemoAccount("demo-counsellor-hanoi", "Demo: tư vấn viên Hà Nội", "counsellor", "hanoi", "PJSIP/1012"),
    DemoAccount("demo-counsellor-danang", "Demo: tư vấn viên Đà Nẵng", "counsellor", "danang", "PJSIP/2012"),
    DemoAccount(
        "demo-counsellor-angiang", "Demo: tư vấn viên An Giang", "counsellor", "angiang", "PJSIP/3012"
    ),
    DemoAccount("demo-supervisor-hanoi", "Demo: giám sát viên Hà Nội", "supervisor", "hanoi"),
    DemoAccount("demo-national", "Demo: giám sát viên toàn quốc", "national_supervisor", "hanoi"),
    DemoAccount("demo-analyst", "Demo: chuyên viên phân tích", "analyst", "hanoi"),
    DemoAccount("demo-admin", "Demo: quản trị viên", "admin", "hanoi"),
)


def bot_accounts() -> list[DemoAccount]:
    """The simulated counsellors: demo-bot-hanoi-1 on PJSIP/1091, …"""
    return [
        DemoAccount(
            f"demo-bot-{board}-{i}",
            f"Demo: tư vấn viên mô phỏng {board} {i}",
            "counsellor",
            board,
            f"PJSIP/{_EXTENSION_DIGIT[board]}09{i}",
        )
        for board, n in BOTS_PER_SWITCHBOARD.items()
        for i in range(1, n + 1)
    ]


@dataclass
class DemoUser:
    account: DemoAccount
    user_id: int
    extension: str | None  # as registered (another number when the usual one belongs to someone else)
    password: str
    created: bool


@dataclass
class DemoSetup:
    people: list[DemoUser]  # the accounts a newcomer signs in with
    bots: list[DemoUser]
    secrets: dict[str, str]  # switchboard → the simulator's webhook secret (never shown)
    no_credential: list[str] = field(default_factory=list)  # switchboards with no free credential slot

    @property
    def human_extensions(self) -> set[str]:
        return {u.extension for u in self.people if u.extension}

    @property
    def bot_ids(self) -> list[int]:
        return [u.user_id for u in self.bots]


async def _free_extension(session: AsyncSession, board: str, wanted: str, user_id: int | None) -> str:
    """``wanted``, or the next number up when another user answers on it (an existing installation)."""
    taken = dict(
        (
            await session.execute(
                select(UserExtension.extension, UserExtension.user_id).where(
                    UserExtension.switchboard_code == board
                )
            )
        ).all()
    )
    tech, _, number = wanted.partition("/")
    candidate, n = wanted, int(number)
    while candidate in taken and taken[candidate] != user_id:
        n += 1
        candidate = f"{tech}/{n}"
    return candidate


async def _ensure_user(session: AsyncSession, account: DemoAccount) -> DemoUser:
    """Create the account, or bring an existing one back to its demo shape with a new password."""
    user = await session.scalar(
        select(User)
        .where(User.username == account.username)
        .options(selectinload(User.roles), selectinload(User.extensions))
    )
    extension = None
    if account.extension:
        extension = await _free_extension(
            session, account.switchboard, account.extension, user.id if user else None
        )
    extensions = [ExtensionIn(switchboard=account.switchboard, extension=extension)] if extension else []
    if user is None:
        user, password = await auth.create_user(
            session,
            UserCreate(
                username=account.username,
                display_name=account.display_name,
                roles=[account.role],
                home_switchboard=account.switchboard,
                extensions=extensions,
                languages=["vi"],
            ),
            must_change=False,  # a trial: the printed passwords stay usable as they are
        )
        assert password is not None
        await audit.record(
            session,
            ACTOR,
            "create",
            "user",
            user.id,
            {"roles": [account.role], "home_switchboard": account.switchboard, "demo": True},
        )
        return DemoUser(account, user.id, extension, password, created=True)
    changed = await auth.update_user(
        session,
        user,
        UserUpdate(
            display_name=account.display_name,
            roles=[account.role],
            home_switchboard=account.switchboard,
            extensions=extensions,
            is_active=True,
        ),
    )
    password = passwords.generate_password()
    await auth.set_password(session, user, password)  # also ends the account's sessions
    if changed:
        await audit.record(session, ACTOR, "update", "user", user.id, {"fields": changed, "demo": True})
    await audit.record(session, ACTOR, "reset_password", "user", user.id, {"demo": True})
    return DemoUser(account, user.id, extension, password, created=False)


async def _set_presence(session: AsyncSession, user: DemoUser, bot: bool) -> None:
    """Bots are available at their switchboard. A person keeps their own choice, except a call
    left hanging by a demo that was stopped abruptly: they start offline, free of it."""
    now = datetime.now(UTC)
    p = await session.get(Presence, user.user_id, with_for_update=True)
    if p is None:
        if bot:
            session.add(
                Presence(
                    user_id=user.user_id,
                    switchboard_code=user.account.switchboard,
                    state="available",
                    since=now,
                    idle_since=now,
                )
            )
        return
    if bot or p.state in ("reserved", "on_call", "missed"):
        p.state = "available" if bot else "offline"
        p.switchboard_code = user.account.switchboard
        p.since = now
        p.idle_since = now if bot else p.idle_since
        p.call_id = None
        p.reserved_until = None
        p.wrap_up_until = None


async def _simulator_secret(session: AsyncSession, keyring: Keyring, board: str) -> str | None:
    """A fresh webhook secret for the simulator at ``board``; the previous demo's is revoked first,
    so that restarting the demo never uses up the switchboard's two credential slots."""
    old = await session.scalars(
        select(SwitchboardCredential).where(
            SwitchboardCredential.switchboard_code == board,
            SwitchboardCredential.label == CREDENTIAL_LABEL,
            SwitchboardCredential.revoked_at.is_(None),
        )
    )
    for cred in old.all():
        await credentials.revoke(session, board, cred.id, ACTOR.label)
        await audit.record(
            session, ACTOR, "revoke_credential", "switchboard", board, {"credential_id": cred.id}
        )
    try:
        async with session.begin_nested():
            cred, secret = await credentials.issue(session, keyring, board, CREDENTIAL_LABEL, ACTOR.label)
    except Conflict:
        return None  # two credentials of the switchboard's own are active: leave them be
    await audit.record(session, ACTOR, "issue_credential", "switchboard", board, {"credential_id": cred.id})
    return secret


async def setup_demo(session: AsyncSession, keyring: Keyring) -> DemoSetup:
    """The demo users, bots and simulator credentials, in the session's transaction (the caller
    commits). Idempotent: a second run finds the users and gives them new passwords."""
    people = [await _ensure_user(session, a) for a in ACCOUNTS]
    bots = [await _ensure_user(session, a) for a in bot_accounts()]
    for user in people:
        if user.account.role == "counsellor":
            await _set_presence(session, user, bot=False)
    for user in bots:
        await _set_presence(session, user, bot=True)
    secrets: dict[str, str] = {}
    missing: list[str] = []
    for board in SWITCHBOARDS:
        secret = await _simulator_secret(session, keyring, board)
        if secret is None:
            missing.append(board)
        else:
            secrets[board] = secret
    await session.flush()
    return DemoSetup(people=people, bots=bots, secrets=secrets, no_credential=missing)


async def prepare(settings: Settings) -> DemoSetup:
    """setup_demo() in its own transaction, committed."""
    from hotline_api.db.session import make_engine, make_sessionmaker
    from hotline_api.privacy.keys import load_or_create_keyring

    assert settings.database_url
    keyring, _ = load_or_create_keyring(settings)
    engine = make_engine(settings.database_url, settings)
    try:
        async with make_sessionmaker(engine)() as session:
            # one demo set-up at a time, should two services start at once on one database
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('hotline-demo'))"))
            setup = await setup_demo(session, keyring)
            await session.commit()
            credentials.clear_cache()
            return setup
    finally:
        await engine.dispose()


async def tend_bots(session: AsyncSession, bot_ids: list[int]) -> int:
    """Bots that missed an offer, or whose wrap-up has ended, become available (a person would press
    the button). A bot a supervisor put on a break or offline stays so. Returns how many changed."""
    result = await session.execute(
        text(
            "UPDATE counsellor_presence SET state = 'available', since = now(), call_id = NULL, "
            "reserved_until = NULL, "
            "idle_since = CASE WHEN state = 'wrap_up' THEN wrap_up_until ELSE now() END, wrap_up_until = NULL "
            "WHERE user_id = ANY(:ids) "
            "AND (state = 'missed' OR (state = 'wrap_up' AND wrap_up_until <= now()))"
        ),
        {"ids": bot_ids},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def print_accounts(out: Console, err: Console, setup: DemoSetup, console_url: str) -> None:
    err.print(
        "[bold red]DEMO MODE.[/] The users below have well-known names and roles, and the records fill "
        "with simulated calls: use --demo on a trial installation only, never on one that holds real "
        "calls or is reachable by others."
    )
    table = Table(title="Demo users (the passwords are shown only this once)", box=None, pad_edge=False)
    for name in ("user", "role", "switchboard", "extension", "password"):
        table.add_column(name, no_wrap=True)
    for u in setup.people:
        table.add_row(
            u.account.username, u.account.role, u.account.switchboard, u.extension or "-", u.password
        )
    # a table wider than a pipe's default 80 columns must not wrap or cut the passwords
    wide = Console(file=out.file, width=max(out.width, 120), highlight=False)
    wide.print(table)
    out.print(f"{len(setup.bots)} simulated counsellors (demo-bot-hanoi-1 …) take calls too.")
    out.print(
        f"Open [bold]{console_url}[/], sign in as a counsellor and set yourself available: "
        "calls of your switchboard will be offered to you as well."
    )
    for board in setup.no_credential:
        err.print(
            f"[yellow]{board} has two active webhook credentials of its own: the demo simulates no calls there.[/]"
        )


class DemoRunner:
    """The simulator's live mode in a background thread with its own event loop, started once the
    service answers /readyz, stopped by stop() (the live calls then hang up at once)."""

    def __init__(
        self,
        url: str,
        setup: DemoSetup,
        settings: Settings,
        rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
        seed: int | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.setup = setup
        self.settings = settings
        self.rate = rate_per_minute
        self.seed = seed
        self.calls = 0
        self._thread = threading.Thread(target=self._main, name="hotline-demo", daemon=True)
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        # the service's access log already has a line per request: not a second one from the client
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(stop.set)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception:
            logger.exception("the demo's simulator stopped")

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if self._stopping.is_set():
            return
        if not self.setup.secrets or not await self._ready():
            return
        tending = asyncio.create_task(self._tend())
        try:
            await run_live(
                Target(self.url, self.setup.secrets),
                self.rate,
                self._stop,
                self.seed,
                always_answer=self.setup.human_extensions,
                switchboards=list(self.setup.secrets),
                on_call=self._counted,
            )
        finally:
            tending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tending

    def _counted(self, result: LiveCallResult) -> None:
        self.calls += 1

    async def _ready(self) -> bool:
        assert self._stop is not None
        async with httpx.AsyncClient(timeout=2) as client:
            while not self._stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.2)
        return False

    async def _tend(self) -> None:
        from hotline_api.db.session import make_engine, make_sessionmaker

        assert self.settings.database_url and self._stop is not None
        engine = make_engine(self.settings.database_url, self.settings.model_copy(update={"db_pool_size": 1}))
        try:
            while not self._stop.is_set():
                try:
                    async with make_sessionmaker(engine)() as session:
                        await tend_bots(session, self.setup.bot_ids)
                        await session.commit()
                except Exception as exc:  # the database restarting: try again next time
                    logger.warning("demo: the bots' presence could not be updated (%s)", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), TEND_SECONDS)
        finally:
            await engine.dispose()


class DemoServer(uvicorn.Server):
    """uvicorn's server, which stops the demo's calls before it stops answering: the simulated
    callers hang up while the service can still record it, and no call is left open."""

    def __init__(self, config: uvicorn.Config, runner: DemoRunner) -> None:
        super().__init__(config)
        self.runner = runner

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await asyncio.to_thread(self.runner.stop)
        await super().shutdown(sockets)


def client_url(host: str, port: int) -> str:
    """Where a process on this machine reaches a service listening on ``host``."""
    if host in ("0.0.0.0", ""):  # noqa: S104 - comparing, not binding
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
