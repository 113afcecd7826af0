"""Forged tokens pointing at AWS's STS, and revocation in kubegate's own IAM, against real servers.

Forged tokens are what anyone who can reach a kube-apiserver can make: presigned with made-up
credentials for AWS's STS. This machine has no route to AWS, so "AWS hangs" is a listener on
127.0.0.1 that accepts and never answers, put in AWS's place with the testing-only
`--unsafe-aws-sts-url-override`; how many connections it accepted is what the tests count.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from conftest import Server, ensure_role, eventually
from test_token_webhook import Apiserver, assume, token_for, user_key

from kubegate.identity import token_maker
from kubegate.identity.aws_sts import AWS_STS_CONCURRENCY

THREADPOOL = 40  # the threadpool the management API shares (anyio's default), which forged reviews once filled


def forged_token(cluster: str, host: str = "sts.us-east-1.amazonaws.com") -> str:
    """A token that passes every local check, presigned with credentials nobody issued."""
    session = botocore.session.Session()
    session.set_credentials("AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
    sts = token_maker.new_sts_client(region="us-east-1", endpoint_url=f"https://{host}", session=session)
    return token_maker.make_token(sts, cluster)


class BlackHole:
    """AWS's STS, hanging: a TCP listener on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            with self._lock:
                self.accepted += 1
                self._held.append(conn)

    def waiting(self) -> int:
        """Connections whose caller is still waiting for an answer (not yet hung up)."""
        with self._lock:
            held = list(self._held)
        return sum(1 for conn in held if _peer_open(conn))

    def close(self) -> None:
        self.sock.close()
        with self._lock:
            for conn in self._held:
                conn.close()


def _peer_open(conn: socket.socket) -> bool:
    """Read what the caller sent (never answered), so its hang-up shows as end of stream."""
    try:
        while conn.recv(65536, socket.MSG_DONTWAIT):
            pass
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def start_with_cluster(data_dir: Path, cluster: str, *args: str) -> Server:
    instance = Server(data_dir, extra_args=args)
    instance.start()
    instance.client("eks").create_cluster(
        name=cluster, roleArn=ensure_role(instance, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
        accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    return instance


@pytest.fixture(scope="module")
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture(scope="module")
def hanging(tmp_path_factory: pytest.TempPathFactory, black_hole: BlackHole) -> Iterator[tuple[Server, Apiserver]]:
    """kubegate whose AWS STS is the black hole, with cluster hd and its kube-apiserver's certificate."""
    root = tmp_path_factory.mktemp("hanging")
    instance = start_with_cluster(root / "data", "hd", "--unsafe-aws-sts-url-override", black_hole.url)
    yield instance, Apiserver(instance, "hd", root)
    instance.stop()


def test_unsafe_override_is_loud_and_loopback_only(hanging: tuple[Server, Apiserver], tmp_path: Path) -> None:
    assert "UNSAFE, FOR TESTING ONLY" in hanging[0].log()
    refused = Server(tmp_path / "data", extra_args=("--unsafe-aws-sts-url-override", "http://10.0.0.1:80"))
    with pytest.raises(RuntimeError, match="loopback"):
        refused.start()


def test_no_aws_sts_refuses_aws_tokens_and_keeps_its_own(tmp_path: Path) -> None:
    offline = start_with_cluster(tmp_path / "data", "off", "--no-aws-sts")
    try:
        apiserver = Apiserver(offline, "off", tmp_path)
        for host in ("sts.us-east-1.amazonaws.com", "sts.amazonaws.com"):
            status = apiserver.status(forged_token("off", host))
            assert status["authenticated"] is False
            assert "AWS STS is disabled" in status["error"] and host in status["error"]
        assert apiserver.status(token_for(offline, offline.credentials(), "off"))["authenticated"] is True
    finally:
        offline.stop()


def test_a_refusal_is_remembered_per_cluster(hanging: tuple[Server, Apiserver], black_hole: BlackHole,
                                             tmp_path: Path) -> None:
    server, apiserver = hanging
    token = forged_token("hd")
    before = black_hole.accepted
    first = apiserver.status(token)
    assert first["authenticated"] is False and "error during GET" in first["error"]  # AWS never answered
    assert black_hole.accepted == before + 1
    again = apiserver.status(token)
    assert again["authenticated"] is False and "remembered" in again["error"]
    assert black_hole.accepted == before + 1  # answered without a call
    audit = [json.loads(line) for line in (server.data_dir / "audit.log").read_text().splitlines()]
    assert "remembered" in audit[-1]["reason"] and token not in json.dumps(audit)
    # The same token reviewed for another cluster is another question for STS.
    server.client("eks").create_cluster(name="hd-other", roleArn=ensure_role(server, "eks"),
                                        resourcesVpcConfig={"subnetIds": ["s"]})
    other = Apiserver(server, "hd-other", tmp_path).status(token)
    assert other["authenticated"] is False and "remembered" not in other["error"]
    assert black_hole.accepted == before + 2


def test_forged_tokens_do_not_stall_the_management_api(hanging: tuple[Server, Apiserver],
                                                        black_hole: BlackHole) -> None:
    """More forged reviews in flight than the shared threadpool has threads; ListClusters must still answer.

    No tight timing: the management call only has to come back within its read timeout, which is
    shorter than one call to the hanging STS, and while forged reviews are still held there.
    """
    server, apiserver = hanging
    impatient = server.client("eks", config=Config(retries={"total_max_attempts": 1}, connect_timeout=4,
                                                   read_timeout=4))  # no retry: a timeout fails the test
    hosts = ("sts.us-east-1.amazonaws.com", "sts.amazonaws.com")
    tokens = [forged_token("hd", hosts[i % 2]) for i in range(THREADPOOL + AWS_STS_CONCURRENCY)]
    before = black_hole.accepted
    with ThreadPoolExecutor(len(tokens)) as senders:
        reviews = [senders.submit(apiserver.status, token) for token in tokens]
        assert eventually(lambda: black_hole.waiting() >= AWS_STS_CONCURRENCY, timeout=10)
        clusters = impatient.list_clusters()["clusters"]
        still_waiting = black_hole.waiting()
        statuses: list[dict[str, Any]] = [review.result(timeout=60) for review in reviews]
    assert "hd" in clusters
    assert still_waiting > 0  # ListClusters came back while AWS still held forged reviews
    assert all(status["authenticated"] is False for status in statuses)
    busy = [s for s in statuses if "AWS STS busy" in s["error"]]
    timed_out = [s for s in statuses if "error during GET" in s["error"]]
    assert len(busy) >= len(tokens) - AWS_STS_CONCURRENCY and len(busy) + len(timed_out) == len(tokens)
    assert black_hole.accepted - before <= AWS_STS_CONCURRENCY


# Revocation in kubegate's own IAM: cached identities go at the next review.


@pytest.fixture(scope="module")
def rv(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apiserver]:
    eks = server.client("eks")
    eks.create_cluster(name="rv", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API"})
    yield Apiserver(server, "rv", tmp_path_factory.mktemp("rv"))
    eks.delete_cluster(name="rv")


def entry_and_token(server: Server, user: str, cluster: str = "rv") -> tuple[str, str]:
    """A user with a key and an access entry; the key's ID and a token for the cluster, reviewed (and cached) twice."""
    access_key, secret, arn = user_key(server, user)
    server.client("eks").create_access_entry(clusterName=cluster, principalArn=arn)
    return access_key, token_for(server, (access_key, secret), cluster)


def authenticated_twice(apiserver: Apiserver, token: str) -> bool:
    return all(apiserver.status(token)["authenticated"] is True for _ in range(2))  # the second from the cache


def test_deactivated_key_is_refused_at_the_next_review(server: Server, rv: Apiserver) -> None:
    iam = server.client("iam")
    access_key, token = entry_and_token(server, "rv-deactivated")
    assert authenticated_twice(rv, token)
    iam.update_access_key(UserName="rv-deactivated", AccessKeyId=access_key, Status="Inactive")
    refused = rv.status(token)
    assert refused["authenticated"] is False and "403" in refused["error"]
    iam.update_access_key(UserName="rv-deactivated", AccessKeyId=access_key, Status="Active")
    assert rv.status(token)["authenticated"] is True


def test_deleted_key_is_refused_at_the_next_review(server: Server, rv: Apiserver) -> None:
    access_key, token = entry_and_token(server, "rv-deleted-key")
    assert authenticated_twice(rv, token)
    server.client("iam").delete_access_key(UserName="rv-deleted-key", AccessKeyId=access_key)
    assert rv.status(token)["authenticated"] is False


def test_deleted_user_is_refused_at_the_next_review(server: Server, rv: Apiserver) -> None:
    iam = server.client("iam")
    access_key, token = entry_and_token(server, "rv-deleted-user")
    assert authenticated_twice(rv, token)
    iam.delete_access_key(UserName="rv-deleted-user", AccessKeyId=access_key)  # IAM deletes no user with keys
    iam.delete_user(UserName="rv-deleted-user")
    assert rv.status(token)["authenticated"] is False


def test_a_deleted_roles_sessions_are_refused_at_the_next_review(server: Server, rv: Apiserver) -> None:
    """A session ends with its role: a re-created namesake (another unique ID) does not revive it."""
    iam = server.client("iam")
    access_key, secret, user_arn = user_key(server, "rv-session-user")
    role_arn = iam.create_role(RoleName="rv-doomed", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    server.client("eks").create_access_entry(clusterName="rv", principalArn=role_arn)
    token = token_for(server, assume(server, (access_key, secret), role_arn, "s-doomed"), "rv")
    assert authenticated_twice(rv, token)
    iam.delete_role(RoleName="rv-doomed")
    assert rv.status(token)["authenticated"] is False
    iam.create_role(RoleName="rv-doomed", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]}))
    assert rv.status(token)["authenticated"] is False


def test_a_replica_drops_identities_revoked_elsewhere(tmp_path: Path) -> None:
    """Two servers on one data dir and database: IAM changed through one reaches the other's cache
    through the store's IAM generation and its half-second revision poll."""
    first = start_with_cluster(tmp_path / "data", "rep")
    second = Server(first.data_dir)
    second.start()
    try:
        access_key, token = entry_and_token(second, "rep-user", "rep")  # presigned for the second's own STS
        apiserver = Apiserver(second, "rep", tmp_path)
        # The shared data dir names the first replica's address (the second only reads it): review at the second.
        apiserver.url = apiserver.url.replace(f":{first.port}/", f":{second.port}/")
        assert authenticated_twice(apiserver, token)
        first.client("iam").update_access_key(UserName="rep-user", AccessKeyId=access_key, Status="Inactive")
        assert eventually(lambda: apiserver.status(token)["authenticated"] is False, timeout=10)
    finally:
        second.stop()
        first.stop()
