"""The data dir: everything one kubegate instance keeps on disk besides its database.

First start creates a private CA and serving certificate, an account ID and region, the
key that encrypts secrets at rest, and the bootstrap administrator's access key as an
AWS shared-credentials file. Later starts reuse them, so clients keep trusting the CA
and the key keeps working.

Only the owner may read any of it: the directory is 0700 (an existing one is tightened, and
the log says so), private material and the SQLite database (encrypted secrets, session
token digests) are created 0600 before anything is written to them.
"""

from __future__ import annotations

import configparser
import ipaddress
import json
import logging
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from kubegate import pki
from kubegate.identity import credentials as generate

DEFAULT_DATA_DIR = ".kubegate"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8443
DEFAULT_REGION = "us-east-1"
DIRECTORY_MODE = 0o700
PRIVATE_MODE = 0o600
DATABASE_FILE = "kubegate.db"
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
log = logging.getLogger("kubegate")


@dataclass(frozen=True)
class InstanceConfig:
    account_id: str
    region: str
    host: str
    port: int
    public_url: str | None = None  # what clients and kube-apiservers use: a load balancer in front of replicas

    @property
    def endpoint(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "::") else self.host
        return f"https://{host}:{self.port}"

    @property
    def public_hosts(self) -> tuple[str, ...]:
        """The public URL's host as a presigned token can carry it, for the STS host check."""
        if not self.public_url:
            return ()
        parts = urlsplit(self.public_url)
        port = parts.port or 443
        return (f"{parts.hostname}:{port}", *((parts.hostname,) if port == 443 and parts.hostname else ()))


def check_public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"--public-url must be https://HOST[:PORT], not {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True)
class BootstrapKey:
    access_key_id: str
    secret_access_key: str


class DataDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()

    ca_certificate = property(lambda self: self.path / "ca.crt")
    ca_key = property(lambda self: self.path / "ca.key")
    server_certificate = property(lambda self: self.path / "server.crt")
    server_key = property(lambda self: self.path / "server.key")
    secret_key = property(lambda self: self.path / "secret.key")
    config_file = property(lambda self: self.path / "config.json")
    credentials = property(lambda self: self.path / "credentials")

    @property
    def default_database_url(self) -> str:
        """The data dir's SQLite database, whose file is first made to exist with mode 0600.

        SQLite would create it with the umask's mode (0644) when it opens it; its -wal, -shm and
        -journal files take the database file's mode, and are tightened too if they exist.
        """
        database = self.path / DATABASE_FILE
        if self.path.is_dir():
            _create_private(database)
            for suffix in _SQLITE_SIDE_FILES:
                side = database.with_name(database.name + suffix)
                if side.exists():
                    _tighten(side, PRIVATE_MODE)
        return f"sqlite:///{database}"

    def initialize(self, *, region: str | None, host: str, port: int, public_url: str | None = None) -> InstanceConfig:
        """Create what is missing; keep what exists (the account and region never change).

        Replicas share one data dir (a copy, or a mounted secret) and only read it: `kubegate init`
        writes it once; `up` writes it only when it is new.
        """
        self.path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        _tighten(self.path, DIRECTORY_MODE)
        previous = self.config() if self.config_file.exists() else None
        public_url = check_public_url(public_url) if public_url else (previous.public_url if previous else None)
        if previous and public_url != previous.public_url:
            self.server_certificate.unlink(missing_ok=True)  # its names must cover the new public URL
        if not self.ca_certificate.exists():
            authority = pki.new_authority()
            _write_private(self.ca_key, pki.key_pem(authority.key))
            self.ca_certificate.write_bytes(pki.certificate_pem(authority.certificate))
            self.server_certificate.unlink(missing_ok=True)
        if not self.server_certificate.exists():
            authority = pki.load_authority(self.ca_certificate, self.ca_key)
            dns, ips = ["localhost"], ["127.0.0.1", "::1"]
            name = urlsplit(public_url).hostname if public_url else None
            if name:
                (ips if _is_ip(name) else dns).append(name)
            certificate, key = authority.issue("kubegate", dns_names=tuple(dns), ip_addresses=tuple(ips))
            _write_private(self.server_key, pki.key_pem(key))
            self.server_certificate.write_bytes(pki.certificate_pem(certificate))
        if not self.secret_key.exists():
            _write_private(self.secret_key, Fernet.generate_key())
        if not self.credentials.exists():
            self._write_credentials(BootstrapKey(generate.access_key_id(), generate.secret_access_key()))
        config = InstanceConfig(
            account_id=previous.account_id if previous else generate.account_id(),
            region=previous.region if previous else (region or DEFAULT_REGION),
            host=host,
            port=port,
            public_url=public_url,
        )
        if previous and region and region != previous.region:
            raise ValueError(f"this data dir's region is {previous.region}; it cannot change to {region}")
        self.config_file.write_text(json.dumps(asdict(config), indent=2) + "\n")
        return config

    def existing(self) -> InstanceConfig:
        """An initialized data dir's config, its folder tightened to owner-only if it was loosened."""
        config = self.config()
        _tighten(self.path, DIRECTORY_MODE)
        return config

    def config(self) -> InstanceConfig:
        try:
            raw = json.loads(self.config_file.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{self.path} is not a kubegate data dir yet: run `kubegate init` (or `kubegate up`) first"
            ) from None
        return InstanceConfig(**raw)

    def cipher(self) -> Fernet:
        return Fernet(self.secret_key.read_bytes())

    def bootstrap_key(self) -> BootstrapKey:
        parser = configparser.ConfigParser()
        parser.read(self.credentials)
        section = parser["default"]
        return BootstrapKey(section["aws_access_key_id"], section["aws_secret_access_key"])

    def _write_credentials(self, key: BootstrapKey) -> None:
        text = (
            "# kubegate bootstrap administrator (the account root). Keep this file private.\n"
            "[default]\n"
            f"aws_access_key_id = {key.access_key_id}\n"
            f"aws_secret_access_key = {key.secret_access_key}\n"
        )
        _write_private(self.credentials, text.encode())


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, PRIVATE_MODE)


def _create_private(path: Path) -> None:
    """Make `path` exist, empty if new, readable by its owner only (an existing one is tightened)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    except FileExistsError:
        _tighten(path, PRIVATE_MODE)


def _tighten(path: Path, mode: int) -> None:
    """Take away group and other permissions `path` has beyond `mode`, saying so."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode & 0o077:
        os.chmod(path, current & mode)
        log.warning("%s was mode %04o; tightened to %04o (owner only)", path, current, current & mode)
