"""What bench/soak and bench/faults share: two `kubegate up` replicas of one data dir on a throwaway
PostgreSQL (tests/postgres.py), a cluster with two roles whose users kube-apiserver would pass on,
SubjectAccessReviews posted with the webhook client certificate, and RSS/percentile helpers.

Only loopback addresses: PostgreSQL listens on 127.0.0.1, the replicas on 127.0.0.1 free ports.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
from botocore.config import Config  # noqa: E402

from conftest import Server, ensure_role, trust_policy  # noqa: E402
from postgres import running_postgres  # noqa: E402,F401  (re-exported for the scripts)
import test_postgres_replicas  # noqa: E402
from test_authz_webhook import sar  # noqa: E402
from test_replicas import VIEW, at, fresh_review  # noqa: E402,F401
from test_token_webhook import Apiserver, assume, token_for, user_key  # noqa: E402

READ_PODS = {"namespace": "dev", "verb": "get", "group": "", "resource": "pods"}  # View allows it
DELETE_SECRETS = {"namespace": "kube-system", "verb": "delete", "group": "", "resource": "secrets", "name": "x"}
CLUSTER = "soak"


class Pair(test_postgres_replicas.Pair):
    """The tests' two replicas on one database and data dir, with `workers` each; stop() makes sure."""

    def __init__(self, folder: Path, database_url: str, workers: int) -> None:
        super().__init__(folder, database_url, os.environ.__setitem__, "--workers", str(workers))

    def stop(self) -> None:
        for server in (self.a, self.b):
            if server.process is not None:
                try:
                    server.stop()
                except Exception:  # noqa: BLE001 - already gone or stuck: make sure it is gone
                    kill_tree(server)


def eks(server: Server):
    """A boto3 EKS client of SERVER that never retries: every failure shows (the tests' max_attempts=1 is one
    retry in botocore's legacy mode, which would hide a reset connection behind its retry)."""
    return server.client("eks", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            for child in (task / "children").read_text().split():
                pids += tree(int(child))
        except OSError:
            pass
    return pids


def rss_mb(pid: int) -> float:
    """VmRSS of a process and all its children (workers), in MB."""
    total = 0
    for each in tree(pid):
        try:
            found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{each}/status").read_text())
        except OSError:
            continue
        total += int(found[1]) if found else 0
    return total / 1024


def kill_tree(server: Server) -> None:
    """SIGKILL a replica and its workers at once (no chance to drain or say goodbye)."""
    if server.process is None:
        return
    pids = tree(server.process.pid)
    for pid in reversed(pids):  # children first, so none is left orphaned and serving
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.process.wait(timeout=10)
    server.process = None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


class Subjects:
    """Cluster CLUSTER in API mode (made at replica A) with two role entries:

    steady: View at cluster scope for the whole run, so its reviews of READ_PODS must be allowed and of
            DELETE_SECRETS must not be;
    flip:   View associated and disassociated by the writes, so its READ_PODS decision flips with them.
    """

    def __init__(self, pair: Pair, out: Path) -> None:
        a = pair.a
        eks = a.client("eks")
        eks.create_cluster(name=CLUSTER, roleArn=ensure_role(a, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                           accessConfig={"authenticationMode": "API"})
        access_key, secret, user_arn = user_key(a, f"{CLUSTER}-user")
        webhook = Apiserver(a, CLUSTER, out / "webhook")
        at(webhook, a)
        self.roles: dict[str, str] = {}
        self.users: dict[str, dict[str, Any]] = {}
        for name in ("steady", "flip"):
            role = a.client("iam").create_role(RoleName=f"{CLUSTER}-{name}",
                                               AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]["Arn"]
            eks.create_access_entry(clusterName=CLUSTER, principalArn=role)
            status = webhook.status(token_for(a, assume(a, (access_key, secret), role, name), CLUSTER))
            if not status.get("authenticated"):
                raise RuntimeError(f"TokenReview of the {name} role: {status}")
            self.roles[name], self.users[name] = role, status["user"]
        eks.associate_access_policy(clusterName=CLUSTER, principalArn=self.roles["steady"], policyArn=VIEW,
                                    accessScope={"type": "cluster"})
        self.path = webhook.authz_url[webhook.authz_url.index("/k8s/"):] + "?timeout=30s"
        folder = out / "webhook"
        self.context = ssl.create_default_context(cafile=str(folder / "ca.crt"))
        self.context.load_cert_chain(str(folder / "client.crt"), str(folder / "client.key"))
        self.bodies = {
            ("steady", True): json.dumps(sar(self.users["steady"], READ_PODS)),
            ("steady", False): json.dumps(sar(self.users["steady"], DELETE_SECRETS)),
            ("flip", True): json.dumps(sar(self.users["flip"], READ_PODS)),
        }
        self.webhook = webhook

    def client(self) -> httpx.Client:
        """A kept-alive connection pool with the webhook client certificate (one per thread)."""
        return httpx.Client(verify=self.context, timeout=30)

    def review(self, client: httpx.Client, server: Server, body: str, *, fresh: bool = False) -> tuple[int, bool | None]:
        """POST one SubjectAccessReview to SERVER: (HTTP status, allowed or None if not 200)."""
        headers = {"Content-Type": "application/json"}
        if fresh:
            headers["Connection"] = "close"  # a new connection: the kernel may hand it to any worker
        response = client.post(server.endpoint + self.path, content=body, headers=headers)
        if response.status_code != 200:
            return response.status_code, None
        return 200, bool(response.json()["status"].get("allowed"))


def readyz(server: Server, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, Any]]:
    with httpx.Client(verify=context or ssl.create_default_context(cafile=server.ca), timeout=5) as client:
        answer = client.get(server.endpoint + "/readyz")
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, {"body": answer.text[:200]}


def monotonic_ms(since: float) -> float:
    return (time.monotonic() - since) * 1000
