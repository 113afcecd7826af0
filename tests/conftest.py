"""Shared fixtures: a real `kubegate up` subprocess over HTTPS, clients pointed at it, and a throwaway PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from postgres import Postgres, PostgresNotFound, find_bindir, running_postgres

BIN = Path(sys.executable).parent
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "webhook-samples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One running kubegate: start, stop (SIGTERM) and start again on the same data dir."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> str:
        return str(self.data_dir / "ca.crt")

    def start(self) -> None:
        self.log_path = self.data_dir.parent / f"kubegate-{self.port}.log"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(BIN / "kubegate"), "up", "--data-dir", str(self.data_dir), "--port", str(self.port),
             *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.extra_env},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kubegate exited early:\n{self.log()}")
            if (self.data_dir / "ca.crt").exists():
                try:
                    context = ssl.create_default_context(cafile=self.ca)
                    with urllib.request.urlopen(f"{self.endpoint}/healthz", context=context, timeout=2) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"kubegate did not start:\n{self.log()}")

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def credentials(self) -> tuple[str, str]:
        import configparser

        parser = configparser.ConfigParser()
        parser.read(self.data_dir / "credentials")
        return parser["default"]["aws_access_key_id"], parser["default"]["aws_secret_access_key"]

    def account(self) -> str:
        import json

        return str(json.loads((self.data_dir / "config.json").read_text())["account_id"])

    def client(self, service: str = "eks", *, key: tuple[str, str] | None = None, **kwargs: Any) -> Any:
        access_key, secret = key or self.credentials()
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            verify=self.ca,
            **{"config": Config(retries={"max_attempts": 1}), **kwargs},
        )

    def cli_env(self) -> dict[str, str]:
        """The environment `eval "$(kubegate env)"` gives a shell."""
        out = subprocess.run(
            [str(BIN / "kubegate"), "env", "--data-dir", str(self.data_dir)],
            check=True, capture_output=True, text=True,
        ).stdout
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        for line in out.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value.strip("'")
        return env


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``check()`` once it is truthy, else its last result after ``timeout`` seconds.

    For changes another process commits (the CLI writing the database): the server's
    snapshots pick them up within its 2-second sync.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def trust_policy(principal: str) -> str:
    import json

    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}],
    })


def ensure_role(server: Server, name: str, path: str = "/") -> str:
    """An IAM role of kubegate's account (created once), trusted by the whole account."""
    iam = server.client("iam")
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName=name, Path=path,
                                   AssumeRolePolicyDocument=trust_policy(server.account()))["Role"]["Arn"])


def ensure_user(server: Server, name: str) -> str:
    iam = server.client("iam")
    try:
        return str(iam.get_user(UserName=name)["User"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_user(UserName=name)["User"]["Arn"])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    instance = Server(tmp_path_factory.mktemp("kubegate") / "data")
    instance.start()
    yield instance
    if instance.process is not None:
        instance.stop()


@pytest.fixture(scope="session")
def eks(server: Server) -> Any:
    return server.client("eks")


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Any]:
    """A real OpenID provider on https://127.0.0.1 (see tests/oidc_provider.py), stopped at session end."""
    from oidc_provider import running_oidc_provider

    with running_oidc_provider() as provider:
        yield provider


@pytest.fixture(scope="session")
def oidc_kubegate(oidc_provider: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A kubegate of its own that trusts the test OpenID provider's CA (`--oidc-ca-file`)."""
    instance = Server(tmp_path_factory.mktemp("kubegate-oidc") / "data",
                      extra_args=("--oidc-ca-file", oidc_provider.ca_file))
    instance.start()
    yield instance
    if instance.process is not None:
        instance.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server of the test session (tests/postgres.py): ``.url(dbname)``, ``.fresh_database()``,
    ``.stop()``, ``.start()``. Skipped where PostgreSQL isn't installed, except in CI (``CI`` set), where
    that fails: `make test` installs it."""
    try:
        bindir = find_bindir()
    except PostgresNotFound as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and PostgreSQL is missing: {exc}", pytrace=False)
        pytest.skip(str(exc))
    with running_postgres(bindir) as server:
        yield server
