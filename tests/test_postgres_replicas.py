"""Replicas on PostgreSQL: real `kubegate up` processes sharing one data dir and one database.

Propagation (a write on one replica decides the other's next review within a second, with and
without workers), races that only the database can settle, the database going away and
coming back, and a replica killed with SIGKILL in the middle of writes.
"""

from __future__ import annotations

import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from conftest import BIN, Server, ensure_role, free_port
from postgres import Postgres, running_postgres
from test_replicas import VIEW, at, decisions_within, fresh_review, grant_and_revoke, viewer
from test_authz_webhook import sar
from test_token_webhook import Apiserver, sample, token_for, user_key

EDIT = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy"


class Pair:
    """Two replicas of one data dir (made by `kubegate init`) on one PostgreSQL database."""

    def __init__(self, folder: Path, database_url: str, setenv: Callable[[str, str], None], *extra: str) -> None:
        setenv("KUBEGATE_DATABASE_URL", database_url)  # for the data-dir commands (webhook-config)
        self.data = folder / "data"
        subprocess.run([str(BIN / "kubegate"), "init", "--data-dir", str(self.data)], check=True, capture_output=True)
        args = ("--database-url", database_url, *extra)
        self.a = Server(self.data, port=free_port(), extra_args=args)
        self.b = Server(self.data, port=free_port(), extra_args=args)
        self.a.start()
        self.b.start()

    def stop(self) -> None:
        for server in (self.a, self.b):
            if server.process is not None:
                server.stop()


@pytest.fixture
def pair(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    replicas = Pair(tmp_path, postgres.fresh_database(), monkeypatch.setenv)
    yield replicas
    replicas.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_write_on_one_replica_decides_the_others_next_review(postgres: Postgres, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    pair = Pair(tmp_path, postgres.fresh_database(), monkeypatch.setenv, "--workers", str(workers))
    try:
        apiserver, user, role = viewer(pair.a, "pg-prop", tmp_path)
        at(apiserver, pair.b)  # reviews at B
        granted, revoked = grant_and_revoke(pair.a.client("eks"), "pg-prop", role, apiserver, user)
        assert granted < 1.0 and revoked < 1.0, (granted, revoked)
    finally:
        pair.stop()


def test_races_are_settled_by_the_database(pair: Pair) -> None:
    eks_a, eks_b = pair.a.client("eks"), pair.b.client("eks")
    eks_a.create_cluster(name="pg-race", roleArn=ensure_role(pair.a, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                         accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    barrier = threading.Barrier(2)

    def create(client: Any, arn: str) -> str:
        barrier.wait()
        try:
            client.create_access_entry(clusterName="pg-race", principalArn=arn)
            return "created"
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])

    with ThreadPoolExecutor(2) as pool:
        for i in range(20):
            arn = f"arn:aws:iam::999988887777:role/race-{i}"
            outcomes = sorted(pool.map(lambda c: create(c, arn), (eks_a, eks_b)))
            assert outcomes == ["ResourceInUseException", "created"], (i, outcomes)
        arn = "arn:aws:iam::999988887777:role/race-0"

        def associate(client: Any, policy: str) -> None:
            barrier.wait()
            client.associate_access_policy(clusterName="pg-race", principalArn=arn, policyArn=policy,
                                           accessScope={"type": "cluster"})

        for policies in ((VIEW, EDIT), (ADMIN, EDIT)):  # concurrent associations on one entry: none is lost
            list(pool.map(associate, (eks_a, eks_b), policies))
        held = {p["policyArn"] for p in eks_a.list_associated_access_policies(
            clusterName="pg-race", principalArn=arn)["associatedAccessPolicies"]}
        assert held == {VIEW, EDIT, ADMIN}

        def switch(client: Any) -> str:
            barrier.wait()
            try:
                client.update_cluster_config(name="pg-race", accessConfig={"authenticationMode": "API"})
                return "switched"
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])

        outcomes = sorted(pool.map(switch, (eks_a, eks_b)))
        assert outcomes == ["InvalidParameterException", "switched"], outcomes  # API -> API is refused
    updates = eks_a.list_updates(name="pg-race")["updateIds"]
    assert len(updates) == 1


def test_the_database_going_away_and_coming_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_postgres() as pg:
        pair = Pair(tmp_path, pg.fresh_database(), monkeypatch.setenv)
        try:
            apiserver, user, role = viewer(pair.a, "pg-down", tmp_path)
            at(apiserver, pair.b)
            eks_a = pair.a.client("eks")
            eks_a.associate_access_policy(clusterName="pg-down", principalArn=role, policyArn=VIEW,
                                          accessScope={"type": "cluster"})
            decisions_within(apiserver, user, True, 1.0)
            access_key, secret, user_arn = user_key(pair.a, "pg-down-keyed")
            eks_a.create_access_entry(clusterName="pg-down", principalArn=user_arn)
            first = token_for(pair.b, (access_key, secret), "pg-down")
            assert apiserver.status(first)["authenticated"]  # B has seen this key once

            pg.stop()
            # decisions and reviews keep being answered from the last snapshot
            assert fresh_review(apiserver, sar(user, {"namespace": "dev", "verb": "get", "group": "",
                                                      "resource": "pods"}))["allowed"] is True
            time.sleep(1.1)  # a token presigned a second later is a new token: its key is known, not queried
            second = token_for(pair.b, (access_key, secret), "pg-down")
            assert second != first
            status = apiserver.status(second)
            assert status["authenticated"] and status["user"]["username"] == user_arn, status
            # writes fail fast with a 503 that SDKs retry
            started = time.monotonic()
            with pytest.raises(ClientError) as refused:
                eks_a.create_access_entry(clusterName="pg-down", principalArn="arn:aws:iam::999988887777:role/x")
            assert refused.value.response["Error"]["Code"] == "ServiceUnavailableException"
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert time.monotonic() - started < 3.0
            with httpx.Client(verify=ssl.create_default_context(cafile=pair.b.ca)) as client:
                deadline = time.monotonic() + 5
                while (health := client.get(pair.b.endpoint + "/readyz").json())["staleSince"] is None:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            assert health["database"] == "unreachable"  # /readyz says since when it is stale

            pg.start()  # back: everything resumes without restarting kubegate
            deadline = time.monotonic() + 15
            while True:
                try:
                    eks_a.disassociate_access_policy(clusterName="pg-down", principalArn=role, policyArn=VIEW)
                    break
                except ClientError:
                    assert time.monotonic() < deadline
                    time.sleep(0.5)
            decisions_within(apiserver, user, False, 3.0)
        finally:
            pair.stop()


def test_sigkill_during_writes_loses_no_acknowledged_write(pair: Pair) -> None:
    eks_a = pair.a.client("eks")
    eks_a.create_cluster(name="pg-kill", roleArn=ensure_role(pair.a, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                         accessConfig={"authenticationMode": "API"})
    acknowledged: list[str] = []
    stop = threading.Event()

    def burst() -> None:
        for i in range(2000):
            if stop.is_set():
                return
            arn = f"arn:aws:iam::999988887777:role/kill-{i}"
            try:
                eks_a.create_access_entry(clusterName="pg-kill", principalArn=arn, kubernetesGroups=["g"],
                                          tags={"written": "whole"})
            except Exception:
                return  # the replica is gone
            acknowledged.append(arn)

    writer = threading.Thread(target=burst)
    writer.start()
    while len(acknowledged) < 20:
        time.sleep(0.01)
    assert pair.a.process is not None
    pair.a.process.send_signal(signal.SIGKILL)
    pair.a.process.wait(timeout=10)
    pair.a.process = None
    stop.set()
    writer.join(timeout=30)
    eks_b = pair.b.client("eks")
    stored: list[str] = []
    token = None
    while True:
        page = eks_b.list_access_entries(clusterName="pg-kill", **({"nextToken": token} if token else {}))
        stored += page["accessEntries"]
        token = page.get("nextToken")
        if not token:
            break
    kills = [arn for arn in stored if ":role/kill-" in arn]
    assert set(acknowledged) <= set(kills)  # every acknowledged write is there
    assert len(kills) - len(acknowledged) <= 1  # at most the one in flight, committed before its answer was sent
    for arn in kills:  # and nothing is half-written: each entry has its groups and its tag
        entry = eks_b.describe_access_entry(clusterName="pg-kill", principalArn=arn)["accessEntry"]
        assert entry["kubernetesGroups"] == ["g"] and entry["tags"] == {"written": "whole"}


def test_a_replica_started_while_the_database_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_postgres() as pg:
        url = pg.fresh_database()
        pg.stop()
        monkeypatch.setenv("KUBEGATE_DATABASE_URL", url)
        subprocess.run([str(BIN / "kubegate"), "init", "--data-dir", str(tmp_path / "data")], check=True,
                       capture_output=True)
        replica = Server(tmp_path / "data", extra_args=("--database-url", url))
        replica.start()  # alive (/healthz), though it knows nothing yet
        try:
            with httpx.Client(verify=ssl.create_default_context(cafile=replica.ca)) as client:
                ready = client.get(replica.endpoint + "/readyz")
                assert ready.status_code == 503 and ready.json()["ready"] is False
                review = sample("v1.36-tokenreview-request.json")
                token = client.post(replica.endpoint + "/k8s/clusters/any/authenticate", json=review).json()
                assert token["status"]["authenticated"] is False
                assert token["status"]["error"].startswith("kubegate is not ready: the database is unavailable")
                body = sample("v1.36-sar-request-resource-create.json")
                decision = client.post(replica.endpoint + "/k8s/clusters/any/authorize", json=body).json()
                assert decision["status"]["allowed"] is False and "not ready" in decision["status"]["reason"]
            with pytest.raises(ClientError) as refused:
                replica.client("eks").list_clusters()
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            pg.start()
            deadline = time.monotonic() + 15
            while True:  # it loads by itself, and serves for real
                try:
                    replica.client("eks").create_cluster(name="late", roleArn=ensure_role(replica, "eks"),
                                                         resourcesVpcConfig={"subnetIds": ["s"]})
                    break
                except ClientError:
                    assert time.monotonic() < deadline
                    time.sleep(0.5)
            with httpx.Client(verify=ssl.create_default_context(cafile=replica.ca)) as client:
                assert client.get(replica.endpoint + "/readyz").json()["ready"] is True
        finally:
            replica.stop()
