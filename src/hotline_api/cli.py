"""The ``hotline-api`` command."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from hotline_api.cli_backup import backup, restore
from hotline_api.cli_privacy import keys_cli, purge
from hotline_api.cli_reports import report
from hotline_api.config import Settings, get_settings

if TYPE_CHECKING:
    from hotline_api.telephony.simulator import Tally, Target

cli = typer.Typer(
    help="hotline-api: the contact-centre backend of the 111 / 1800 1567 hotline.",
    no_args_is_help=True,
    add_completion=False,
)
audit_cli = typer.Typer(help="The audit log.", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")
switchboard_cli = typer.Typer(help="Switchboards and their webhook credentials.", no_args_is_help=True)
cli.add_typer(switchboard_cli, name="switchboard")
cli.add_typer(keys_cli, name="keys")
cli.command()(purge)
cli.command()(report)
cli.command()(backup)
cli.command()(restore)
out = Console()
err = Console(stderr=True)

# EX_TEMPFAIL: a one-process service that reached HOTLINE_MEMORY_LIMIT_MB; start it again
EXIT_MEMORY_LIMIT = 75

DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="data folder (HOTLINE_DATA_DIR)")]


def _settings(data_dir: Path | None) -> Settings:
    settings = get_settings()
    if data_dir is not None:
        os.environ["HOTLINE_DATA_DIR"] = str(data_dir)
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings with a database_url: the configured server, or the embedded one (started if need be)."""
    if not settings.embedded:
        yield settings
        return
    from hotline_api.db.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir, settings.embedded_pg_user)
    embedded.acquire()
    try:
        embedded.ensure_database("hotline")
        url = embedded.url("hotline")
        # worker processes and child commands find the same server
        os.environ["HOTLINE_DATABASE_URL"] = url
        yield settings.model_copy(update={"database_url": url})
    finally:
        embedded.release()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if need be) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# pg_advisory_xact_lock key held while bootstrapping: a second process starting at the same moment
# waits, then finds the key checks and the admin already there
_BOOTSTRAP_LOCK = 0x424F_4F54  # "BOOT"


async def _bootstrap(settings: Settings) -> str | None:
    """Check the keys against the data; create the first admin when there is no user at all."""
    from sqlalchemy import text

    from hotline_api.audit import service as audit
    from hotline_api.auth import service as auth
    from hotline_api.auth.schemas import UserCreate
    from hotline_api.db.session import make_engine, make_sessionmaker
    from hotline_api.privacy.keys import check_keys, load_or_create_keyring

    assert settings.database_url
    keyring, _ = load_or_create_keyring(settings)
    engine = make_engine(settings.database_url, settings)
    try:
        async with make_sessionmaker(engine)() as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _BOOTSTRAP_LOCK})
            await check_keys(session, keyring)
            password = None
            if await auth.count_users(session) == 0:
                user, password = await auth.create_user(
                    session,
                    UserCreate(
                        username="admin",
                        display_name="Quản trị viên",
                        roles=["admin"],
                        home_switchboard="hanoi",
                    ),
                )
                await audit.record(
                    session,
                    audit.Actor("system:serve"),
                    "create",
                    "user",
                    user.id,
                    {"roles": ["admin"], "bootstrap": True},
                )
            await session.commit()
            return password
    finally:
        await engine.dispose()


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (HOTLINE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (HOTLINE_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="service processes (HOTLINE_WORKERS)")] = None,
    migrate: Annotated[
        bool | None,
        typer.Option("--migrate/--no-migrate", help="migrate the database first (HOTLINE_MIGRATE_ON_START)"),
    ] = None,
    data_dir: DataDirOpt = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="a trial installation: demo users for each role (passwords printed once) and simulated "
            "calls from the three switchboards. Never in production.",
        ),
    ] = False,
    demo_rate: Annotated[
        float, typer.Option("--demo-rate", min=0.1, max=600, help="with --demo: simulated calls a minute")
    ] = 4.0,
) -> None:
    """Run the service. Without HOTLINE_DATABASE_URL it starts an embedded PostgreSQL in the data folder."""
    import uvicorn

    from hotline_api.app import create_app
    from hotline_api.db import migrate as migrations
    from hotline_api.observability import configure_logging
    from hotline_api.privacy.crypto import CryptoError
    from hotline_api.privacy.keys import KeyMismatchError, load_or_create_keyring

    started = time.monotonic()
    settings = _settings(data_dir)
    configure_logging(settings.log_level)
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    do_migrate = settings.migrate_on_start if migrate is None else migrate
    if demo and workers > 1:
        err.print(
            f"--demo runs the call simulator beside one service process; it cannot run with {workers} "
            "workers (--workers or HOTLINE_WORKERS): use --workers 1.",
            style="red",
            markup=False,
        )
        raise typer.Exit(2)

    try:
        if settings.encryption_keys is None:
            # two processes starting at once on a new data folder must not each write a key file
            settings.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            with _file_lock(settings.keys_dir / "keys.lock"):
                _, created = load_or_create_keyring(settings)
        else:
            _, created = load_or_create_keyring(settings)
    except CryptoError as exc:  # a half-set or malformed key configuration: say what, no traceback
        err.print(f"the encryption keys cannot be used: {exc} (docs/keys.md)", style="red", markup=False)
        raise typer.Exit(2) from None
    if created is not None:
        err.print(
            f"[bold yellow]Encryption keys were created in {created}.[/] They are the only way to read the "
            "personal data this service stores: back the file up somewhere safe now (docs/keys.md). "
            "Losing it loses the records."
        )
    with database(settings) as settings:
        assert settings.database_url
        if do_migrate:
            migrations.upgrade(settings.database_url)
        try:
            password = asyncio.run(_bootstrap(settings))
        except KeyMismatchError as exc:
            err.print(str(exc), style="red", markup=False)
            raise typer.Exit(1) from None
        if password:
            out.print(
                "[bold]The first admin was created.[/] User name: [bold]admin[/]  one-time password: "
                f"[bold]{password}[/]\nIt is shown only this once: sign in and change it."
            )
        demo_setup = None
        if demo:
            from hotline_api import demo as demo_mode
            from hotline_api.errors import HotlineError

            try:
                demo_setup = asyncio.run(demo_mode.prepare(settings))
            except HotlineError as exc:
                err.print(f"the demo could not be prepared: {exc.message}", style="red", markup=False)
                raise typer.Exit(1) from None
            demo_mode.print_accounts(out, err, demo_setup, demo_mode.client_url(host, port) + "/console")
        out.print(
            f"hotline-api ready to listen on http://{host}:{port} "
            f"(prepared in {time.monotonic() - started:.1f} s)"
        )
        common = dict(
            host=host,
            port=port,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
        if workers > 1:
            # each worker's memory guard ends it with SIGTERM; uvicorn's supervisor starts another
            uvicorn.run("hotline_api.app:app_factory", factory=True, workers=workers, **common)  # type: ignore[arg-type]
            return
        # one process: past the memory limit it stops as on SIGTERM and exits with EX_TEMPFAIL, for
        # systemd (Restart=on-failure or always) or Docker to start it again
        replaced = False

        def end_for_memory() -> None:
            nonlocal replaced
            replaced = True
            server.should_exit = True

        app = create_app(settings, on_memory_limit=end_for_memory)
        server: uvicorn.Server
        if demo_setup is not None:
            from hotline_api import demo as demo_mode

            runner = demo_mode.DemoRunner(demo_mode.client_url(host, port), demo_setup, settings, demo_rate)
            server = demo_mode.DemoServer(uvicorn.Config(app, **common), runner)  # type: ignore[arg-type]
            runner.start()
            try:
                with contextlib.suppress(KeyboardInterrupt):  # uvicorn passes Ctrl-C on once stopped
                    server.run()
            finally:
                runner.stop()
        else:
            server = uvicorn.Server(uvicorn.Config(app, **common))  # type: ignore[arg-type]
            with contextlib.suppress(KeyboardInterrupt):
                server.run()
        if not server.started:
            raise typer.Exit(3)
        if replaced:
            err.print(
                f"the service stopped at its memory limit (HOTLINE_MEMORY_LIMIT_MB={settings.memory_limit_mb:g}) "
                f"to be started again; exit status {EXIT_MEMORY_LIMIT}",
                markup=False,
            )
            raise typer.Exit(EXIT_MEMORY_LIMIT)


@cli.command()
def migrate(data_dir: DataDirOpt = None) -> None:
    """Bring the database schema to the newest revision."""
    from hotline_api.db import migrate as migrations

    with database(_settings(data_dir)) as settings:
        assert settings.database_url
        migrations.upgrade(settings.database_url)
        out.print(f"database at revision {migrations.head_revision()}")


@cli.command("create-user")
def create_user(
    username: Annotated[str, typer.Option(help="sign-in name: lower-case letters, digits, . _ -")],
    display_name: Annotated[str, typer.Option(help="the person's name as colleagues know it")],
    role: Annotated[
        list[str],
        typer.Option(help="counsellor, supervisor, national_supervisor, analyst, admin; repeat for several"),
    ],
    switchboard: Annotated[str, typer.Option(help="home switchboard: hanoi, danang, angiang")] = "hanoi",
    extension: Annotated[
        list[str] | None,
        typer.Option(help="SWITCHBOARD=DIAL_TARGET, e.g. hanoi=PJSIP/1012; repeat for several"),
    ] = None,
    language: Annotated[
        list[str] | None, typer.Option(help="languages counselled in (ISO 639), default vi")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a user and print their one-time password."""
    from pydantic import ValidationError

    from hotline_api.auth.schemas import ExtensionIn, UserCreate
    from hotline_api.errors import HotlineError

    try:
        exts = []
        for item in extension or []:
            board, sep, target = item.partition("=")
            if not sep:
                raise typer.BadParameter(f"{item!r}: write SWITCHBOARD=DIAL_TARGET", param_hint="--extension")
            exts.append(ExtensionIn(switchboard=board, extension=target))
        data = UserCreate(
            username=username,
            display_name=display_name,
            roles=role,
            home_switchboard=switchboard,
            extensions=exts,
            languages=language or ["vi"],
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(f"[red]{'.'.join(str(p) for p in first['loc'])}: {first['msg']}[/]")
        raise typer.Exit(2) from None

    async def run(settings: Settings) -> str | None:
        from hotline_api.audit import service as audit
        from hotline_api.auth import service as auth
        from hotline_api.db.session import make_engine, make_sessionmaker

        assert settings.database_url
        engine = make_engine(settings.database_url, settings)
        try:
            async with make_sessionmaker(engine)() as session:
                user, password = await auth.create_user(session, data)
                await audit.record(
                    session,
                    audit.Actor("system:cli"),
                    "create",
                    "user",
                    user.id,
                    {"roles": data.roles, "home_switchboard": data.home_switchboard},
                )
                await session.commit()
                return password
        finally:
            await engine.dispose()

    with database(_settings(data_dir)) as settings:
        try:
            password = asyncio.run(run(settings))
        except HotlineError as exc:
            err.print(f"[red]{exc.message}[/]")
            raise typer.Exit(1) from None
    out.print(f"user {username!r} created.")
    if password:
        out.print(f"one-time password (shown once): [bold]{password}[/]")


@audit_cli.command("verify")
def audit_verify(data_dir: DataDirOpt = None) -> None:
    """Recompute the audit log's hash chain; exit 1 when an entry was altered or removed."""
    from hotline_api.audit import service as audit
    from hotline_api.db.session import make_engine, make_sessionmaker

    async def run(settings: Settings) -> audit.VerifyResult:
        assert settings.database_url
        engine = make_engine(settings.database_url, settings)
        try:
            async with make_sessionmaker(engine)() as session:
                return await audit.verify_chain(session)
        finally:
            await engine.dispose()

    with database(_settings(data_dir)) as settings:
        result = asyncio.run(run(settings))
    if result.ok:
        out.print(f"audit log intact: {result.entries} entries")
    else:
        err.print(f"[red]audit log broken at entry {result.first_bad_id}: {result.problem}[/]")
        raise typer.Exit(1)


async def _with_session(settings: Settings, work):  # type: ignore[no-untyped-def]
    from hotline_api.db.session import make_engine, make_sessionmaker
    from hotline_api.privacy.keys import load_or_create_keyring

    assert settings.database_url
    keyring, _ = load_or_create_keyring(settings)
    engine = make_engine(settings.database_url, settings)
    try:
        async with make_sessionmaker(engine)() as session:
            result = await work(session, keyring)
            await session.commit()
            return result
    finally:
        await engine.dispose()


@switchboard_cli.command("issue-credential")
def issue_credential(
    switchboard: Annotated[str, typer.Argument(help="hanoi, danang or angiang")],
    label: Annotated[str | None, typer.Option(help="what will use it: dialplan, relay …")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Issue a webhook secret for a switchboard (at most two active); it is printed once."""
    from hotline_api.audit import service as audit
    from hotline_api.errors import HotlineError
    from hotline_api.telephony import credentials

    async def work(session, keyring):  # type: ignore[no-untyped-def]
        cred, secret = await credentials.issue(session, keyring, switchboard, label, "system:cli")
        await audit.record(
            session,
            audit.Actor("system:cli"),
            "issue_credential",
            "switchboard",
            switchboard,
            {"credential_id": cred.id},
        )
        return cred.id, secret

    with database(_settings(data_dir)) as settings:
        try:
            cred_id, secret = asyncio.run(_with_session(settings, work))
        except HotlineError as exc:
            err.print(f"[red]{exc.message}[/]")
            raise typer.Exit(1) from None
    out.print(f"credential {cred_id} for {switchboard}; secret (shown once):")
    print(secret)


@switchboard_cli.command("revoke-credential")
def revoke_credential(
    switchboard: Annotated[str, typer.Argument()],
    credential_id: Annotated[str, typer.Argument()],
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke a webhook secret; every service process refuses it within 5 seconds."""
    from hotline_api.audit import service as audit
    from hotline_api.errors import HotlineError
    from hotline_api.telephony import credentials

    async def work(session, keyring):  # type: ignore[no-untyped-def]
        await credentials.revoke(session, switchboard, credential_id, "system:cli")
        await audit.record(
            session,
            audit.Actor("system:cli"),
            "revoke_credential",
            "switchboard",
            switchboard,
            {"credential_id": credential_id},
        )

    with database(_settings(data_dir)) as settings:
        try:
            asyncio.run(_with_session(settings, work))
        except HotlineError as exc:
            err.print(f"[red]{exc.message}[/]")
            raise typer.Exit(1) from None
    out.print(f"credential {credential_id} of {switchboard} revoked")


@switchboard_cli.command("credentials")
def list_credentials(switchboard: Annotated[str, typer.Argument()], data_dir: DataDirOpt = None) -> None:
    """List a switchboard's credentials (never their secrets)."""
    from hotline_api.errors import HotlineError
    from hotline_api.telephony import credentials

    async def work(session, keyring):  # type: ignore[no-untyped-def]
        return [
            (c.id, c.label, c.created_at, c.revoked_at)
            for c in await credentials.list_credentials(session, switchboard)
        ]

    with database(_settings(data_dir)) as settings:
        try:
            rows = asyncio.run(_with_session(settings, work))
        except HotlineError as exc:
            err.print(f"[red]{exc.message}[/]")
            raise typer.Exit(1) from None
    for cred_id, label, created, revoked in rows:
        state = f"revoked {revoked:%Y-%m-%d %H:%M}" if revoked else "active"
        out.print(f"{cred_id}  {label or '-':<12} created {created:%Y-%m-%d %H:%M}  {state}")


@cli.command()
def sweep(
    idle_hours: Annotated[
        float | None, typer.Option(help="close calls silent for this long (HOTLINE_SWEEP_IDLE_HOURS)")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Close calls whose end never arrived (serve does this every minute by itself)."""
    from datetime import timedelta

    from hotline_api.calls.service import sweep as sweep_calls

    settings0 = _settings(data_dir)
    hours = idle_hours if idle_hours is not None else settings0.sweep_idle_hours

    async def work(session, keyring):  # type: ignore[no-untyped-def]
        return await sweep_calls(session, timedelta(hours=hours))

    with database(settings0) as settings:
        closed = asyncio.run(_with_session(settings, work))
    out.print(f"{closed} call(s) closed by the sweeper")


@cli.command()
def simulate(
    url: Annotated[str, typer.Option(help="the service's base URL")] = "http://127.0.0.1:8000",
    secret: Annotated[
        list[str],
        typer.Option(
            help="SWITCHBOARD=SECRET for each of hanoi, danang, angiang "
            "(`hotline-api switchboard issue-credential`)"
        ),
    ] = [],  # noqa: B006
    count: Annotated[int, typer.Option(help="calls to simulate")] = 100,
    rate: Annotated[float, typer.Option(help="calls started per second (0: as fast as possible)")] = 2.0,
    seed: Annotated[int | None, typer.Option(help="repeat a run exactly")] = None,
    batch: Annotated[
        bool, typer.Option(help="send each call's ARI events in one batch, as a relay does")
    ] = False,
    cel: Annotated[bool, typer.Option(help="post CEL events too")] = False,
    sign: Annotated[bool, typer.Option(help="Standard Webhooks signatures instead of HTTP Basic")] = False,
    route: Annotated[
        bool,
        typer.Option(
            help="ask /route for each call that reaches the queue, as the dialplan "
            "does, and let the counsellor it names answer"
        ),
    ] = False,
    live: Annotated[
        bool,
        typer.Option(
            help="play each call in real time, one event per request as it happens, following the /route "
            "dialogue (waits, re-asks, transfers); calls last minutes, so many overlap. Ctrl-C: the "
            "callers hang up and the command stops"
        ),
    ] = False,
) -> None:
    """Post realistic event streams of the three switchboards to a running service."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hotline_api.telephony.simulator import Target, run

    secrets: dict[str, str] = {}
    for item in secret:
        board, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r}: write SWITCHBOARD=SECRET", param_hint="--secret")
        secrets[board] = value
    missing = {"hanoi", "danang", "angiang"} - set(secrets)
    if missing:
        raise typer.BadParameter(f"no secret for {', '.join(sorted(missing))}", param_hint="--secret")
    target = Target(url.rstrip("/"), secrets, sign)
    if live:
        if batch:
            raise typer.BadParameter("a live call posts one event per request", param_hint="--batch")
        _simulate_live(target, count, rate, seed, cel)
        return
    with Progress(
        TextColumn("calls"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
    ) as progress:
        task = progress.add_task("calls", total=count)
        tally = asyncio.run(
            run(target, count, rate, seed, batch, cel, lambda: progress.advance(task), route=route)
        )
    out.print(f"{sum(tally.calls.values())} calls, {tally.events} events accepted")
    out.print("calls by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.calls.items())))
    out.print("responses: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.responses.items())))
    if route:
        out.print("routing answers: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.routes.items())))
    if any(code >= 400 for code in tally.responses):
        raise typer.Exit(1)


def _simulate_live(target: Target, count: int, rate: float, seed: int | None, cel: bool) -> None:
    import signal

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hotline_api.telephony.simulator import run_live

    per_minute = rate * 60 if rate > 0 else 60.0

    async def main(advance: Callable[[], None]) -> Tally:
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # Ctrl-C: the callers hang up, then we stop
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        return await run_live(
            target, per_minute, stop, seed, with_cel=cel, on_call=lambda _: advance(), max_calls=count
        )

    with Progress(TextColumn("live calls ended"), BarColumn(), MofNCompleteColumn(), console=err) as progress:
        task = progress.add_task("calls", total=count)
        tally = asyncio.run(main(lambda: progress.advance(task)))
    out.print(f"{sum(tally.calls.values())} live calls, {tally.events} events accepted")
    out.print("calls by outcome: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.calls.items())))
    out.print("responses: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.responses.items())))
    out.print("routing answers: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.routes.items())))
    if any(code >= 400 for code in tally.responses):
        raise typer.Exit(1)


@cli.command()
def relay(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="HOTLINE_RELAY_CONFIG",
            help="the relay's TOML file (HOTLINE_RELAY_* variables override it); see docs/relay.md",
        ),
    ] = None,
) -> None:
    """Run beside a PBX: forward its ARI (and AMI) events to the service through a durable spool."""
    from hotline_api.observability import configure_logging
    from hotline_api.relay.config import ConfigError, load_settings
    from hotline_api.relay.runner import serve as serve_relay
    from hotline_api.relay.spool import SpoolError

    try:
        settings = load_settings(config)
        settings.hmac_key()
    except ConfigError as exc:
        err.print(f"relay configuration: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    try:
        asyncio.run(serve_relay(settings))
    except (SpoolError, OSError) as exc:  # the spool locked or unwritable, the status port taken
        err.print(f"relay: {exc}", style="red", markup=False)
        raise typer.Exit(1) from None


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
