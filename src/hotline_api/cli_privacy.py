"""``hotline-api keys …`` and ``hotline-api purge``: key rotation and the retention policy.

See privacy/rotation.py and privacy/retention.py for what they do, docs/keys.md for the procedure.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hotline_api.config import Settings

keys_cli = typer.Typer(help="Encryption keys: add, activate, rotate, status.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="data folder (HOTLINE_DATA_DIR)")]


def _settings(data_dir: Path | None) -> Settings:
    from hotline_api.cli import _settings as settings_of

    return settings_of(data_dir)


def _run(settings0: Settings, work: Any) -> Any:
    from hotline_api.cli import database
    from hotline_api.db.session import make_engine, make_sessionmaker
    from hotline_api.privacy.keys import load_or_create_keyring

    async def go(settings: Settings) -> Any:
        assert settings.database_url
        keyring, _ = load_or_create_keyring(settings)
        engine = make_engine(settings.database_url, settings)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await work(session, keyring, settings)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    with database(settings0) as settings:
        return asyncio.run(go(settings))


@keys_cli.command("add")
def keys_add(data_dir: DataDirOpt = None) -> None:
    """Add a new encryption key, not active yet (restart the service processes, then activate it)."""
    from datetime import UTC, datetime

    from hotline_api.privacy.crypto import encode_key, new_key
    from hotline_api.privacy.keys import KEY_FILE, read_key_file, write_key_file

    settings = _settings(data_dir)
    kid = "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    key = encode_key(new_key())
    if settings.encryption_keys is not None:
        out.print("The keys come from HOTLINE_ENCRYPTION_KEYS: append this entry to it on every host,")
        out.print("keep a copy in the escrow, restart the service processes, then set HOTLINE_ACTIVE_KEY_ID:")
        out.print(f",{kid}:{key}", soft_wrap=True)
        return
    path = settings.keys_dir / KEY_FILE
    if not path.exists():
        err.print(
            f"[red]no key file at {path}[/]: start the service once, or configure HOTLINE_ENCRYPTION_KEYS"
        )
        raise typer.Exit(1)
    read_key_file(path)  # refuses a damaged file before it is rewritten
    import json

    content = json.loads(path.read_text())
    while kid in content["encryption_keys"]:  # never replace a key: what it sealed would be lost
        kid += os.urandom(2).hex()
    content["encryption_keys"][kid] = key
    write_key_file(path, content)
    out.print(f"key {kid} added to {path} (not active). Back the file up to the escrow now, restart the")
    out.print(f"service processes one by one, then: hotline-api keys activate {kid}")


@keys_cli.command("activate")
def keys_activate(key_id: Annotated[str, typer.Argument()], data_dir: DataDirOpt = None) -> None:
    """Seal new values with this key (restart the service processes afterwards, then rotate)."""
    import json

    from hotline_api.privacy.keys import KEY_FILE, read_key_file, write_key_file

    settings = _settings(data_dir)
    if settings.encryption_keys is not None:
        out.print(
            f"The keys come from the environment: set HOTLINE_ACTIVE_KEY_ID={key_id} on every host and restart."
        )
        return
    path = settings.keys_dir / KEY_FILE
    keyring = read_key_file(path)
    if key_id not in keyring.keys:
        err.print(f"[red]no key {key_id!r}[/] in {path}; known: {', '.join(sorted(keyring.keys))}")
        raise typer.Exit(1)
    content = json.loads(path.read_text())
    content["active_key_id"] = key_id
    write_key_file(path, content)
    out.print(f"{key_id} is the active key in {path}. Restart the service processes one by one, then:")
    out.print("hotline-api keys rotate")


@keys_cli.command("status")
def keys_status(data_dir: DataDirOpt = None) -> None:
    """How many stored values each key has sealed, per column."""
    from hotline_api.privacy import rotation

    async def work(session: Any, keyring: Any, settings: Settings) -> list[tuple[str, str, str, int]]:
        return await rotation.status(session)

    rows = _run(_settings(data_dir), work)
    table = Table("table", "column", "key", "values")
    for t, c, k, n in rows:
        table.add_row(t, c, k, f"{n:,}")
    out.print(table)


@keys_cli.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="rows per transaction")] = 500,
    data_dir: DataDirOpt = None,
) -> None:
    """Re-seal every stored value under the active key, while the service runs."""
    from hotline_api.privacy import rotation
    from hotline_api.privacy.keys import check_keys

    async def work(session: Any, keyring: Any, settings: Settings) -> dict[Any, int]:
        await check_keys(session, keyring)  # the new key's check row, and the old ones still read
        await session.commit()
        todo = await rotation.pending(session, keyring)
        total = sum(todo.values())
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=out,
        ) as progress:
            task = progress.add_task(f"re-sealing under {keyring.active_key_id}", total=total)
            for column, n in todo.items():
                if n:
                    progress.update(task, description=f"{column.table}.{column.column}")
                    await rotation.rotate_column(
                        session, keyring, column, batch, lambda k: progress.advance(task, k)
                    )
        return await rotation.pending(session, keyring)

    left = _run(_settings(data_dir), work)
    remaining = sum(left.values())
    if remaining:
        err.print(f"[yellow]{remaining} value(s) were being changed and were skipped: run it again[/]")
        raise typer.Exit(1)
    out.print("every stored value is sealed with the active key")


def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would go, change nothing")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Carry out the retention policy (docs/keys.md): remove personal data past its time."""
    from hotline_api.audit.service import Actor
    from hotline_api.privacy.retention import purge as run_purge

    async def work(session: Any, keyring: Any, settings: Settings) -> Any:
        return await run_purge(session, settings, Actor(label="system:purge"), dry_run)

    results = _run(_settings(data_dir), work)
    table = Table("data class", "older than", "dry run" if dry_run else "purged")
    for r in results:
        table.add_row(r.data_class, r.cutoff.strftime("%Y-%m-%d %H:%M UTC"), f"{r.rows:,}")
    out.print(table)


__all__ = ["keys_cli", "purge"]
