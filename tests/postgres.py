"""A throwaway PostgreSQL server for the tests: initdb in a temp folder, 127.0.0.1 on a free port.

Finding the server: ``pg_config --bindir``, else the newest ``/usr/lib/postgresql/*/bin`` (where
Debian's package puts it, off PATH), else ``initdb`` on PATH. Not found: :class:`PostgresNotFound`;
the conftest fixture skips on it, but fails when ``CI`` is set, so CI never passes by skipping.

PostgreSQL refuses to run as root. As root, initdb and postgres run as the system user
``kubegate-pg`` (created with ``useradd --system`` when missing; ``nobody`` if that fails) through
``runuser -u USER --``; the folder is handed to that user, mode 700. Trust authentication, user
``kubegate``, no TCP listener but 127.0.0.1, and the unix socket in the same temp folder.

``stop()`` and ``start()`` bring the same server (same data, same port) down and up again,
for tests of the database going away.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

SUPERUSER = "kubegate"
OS_USER = "kubegate-pg"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",  # a test server: nothing to keep across a crash
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}


class PostgresNotFound(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) on this machine."""


def find_bindir() -> Path:
    """The folder holding initdb, pg_ctl and postgres."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            candidates.append(Path(out))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresNotFound(
        "PostgreSQL server binaries not found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH); "
        "on Debian: apt-get install -y postgresql"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_user() -> str:
    """As root: a user PostgreSQL agrees to run as, created once."""
    for user in (OS_USER, "nobody"):
        if subprocess.run(["id", "-u", user], capture_output=True, check=False).returncode == 0:
            return user
        if user == OS_USER and shutil.which("useradd"):
            made = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER],
                capture_output=True, check=False,
            )
            if made.returncode in (0, 9):  # 9: made meanwhile by a concurrent run
                return OS_USER
    raise PostgresNotFound(f"running as root, and neither {OS_USER!r} could be created nor 'nobody' found")


class Postgres:
    """One PostgreSQL server in its own temp folder; ``start()`` again after ``stop()`` keeps its data and port."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="kubegate-pg-"))  # under /tmp: reachable by the OS user
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_path = self.root / "postgres.log"
        self.os_user = _unprivileged_user() if os.geteuid() == 0 else None
        self.database = "kubegate"  # the session's database
        self._running = False

    # server life

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.os_user, "--"] if self.os_user else []
        # cwd: the OS user must be able to enter it (pytest's may be root's 700 folder)
        result = subprocess.run([*prefix, *argv], cwd=self.root, capture_output=True, text=True, check=False,
                                env={**os.environ, "LC_ALL": "C"})
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
                               f"{self.log()}")
        return result

    def init(self) -> None:
        self.socket_dir.mkdir()
        if self.os_user:
            shutil.chown(self.root, self.os_user)
            shutil.chown(self.socket_dir, self.os_user)
        os.chmod(self.root, 0o700)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", SUPERUSER,
                  "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
        self.start()
        self.create_database(self.database)

    def start(self) -> None:
        options = " ".join([f"-p {self.port}", f"-k {self.socket_dir}",
                            *(f"-c {key}={value}" for key, value in SETTINGS.items())])
        self._run(str(self.bindir / "pg_ctl"), "start", "-w", "-t", "30", "-D", str(self.data),
                  "-l", str(self.log_path), "-o", options)
        self._running = True

    def stop(self) -> None:
        """Fast shutdown: connected clients are cut off, as when the database goes away."""
        if self._running:
            self._run(str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data))
            self._running = False

    def destroy(self) -> None:
        try:
            if self._running:
                ctl = str(self.bindir / "pg_ctl")
                if self._run(ctl, "stop", "-w", "-m", "fast", "-D", str(self.data), check=False).returncode:
                    self._run(ctl, "stop", "-w", "-m", "immediate", "-D", str(self.data), check=False)
                self._running = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # databases

    def url(self, dbname: str | None = None) -> str:
        """The SQLAlchemy URL of a database of this server (default: the session's)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname or self.database}"

    def create_database(self, name: str) -> None:
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # names are ours

    def fresh_database(self, name: str | None = None) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self.create_database(name)
        return self.url(name)


@contextmanager
def running_postgres(bindir: Path | None = None) -> Iterator[Postgres]:
    """A started server with the session database; stopped and its folder removed afterwards, whatever happened."""
    server = Postgres(bindir)
    try:
        server.init()
        yield server
    finally:
        server.destroy()
