"""kubegate's Prometheus metrics: the API of kubegate.api.metrics, its multiprocess mode, and its call sites.

The session `server` fixture runs kubegate in a subprocess and has no /metrics route yet, so the
call sites are exercised in-process instead: kubegate composed by `server.build` on a fresh data
dir, driven through its ASGI app (botocore for the management calls; the webhooks with the client
certificate `webhook-config` would issue placed in the scope, as kubegate's TLS protocol does).
Multiprocess mode is chosen when prometheus_client is imported, so it runs in subprocesses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest
from botocore.awsrequest import AWSResponse
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route

from kubegate.api import metrics
from kubegate.api.aws_apis import sts_api
from kubegate.api.aws_endpoint import AwsEndpoint
from kubegate.api.tls import WEBHOOK_ORGANIZATION, ClientCertificate, _WithClientCertificate
from kubegate.datadir import DataDir
from kubegate.domain.caller import Caller
from kubegate.identity import token_maker
from kubegate.server import Kubegate, build

SAMPLES = Path(__file__).parent / "samples"
REGION = "us-east-1"
PORT = 18443  # never listened on: only the embedded STS's host name in presigned URLs


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Client:
    """Requests to an ASGI app in this process (httpx over ASGITransport, one event loop per request)."""

    def __init__(self, app: Any) -> None:  # an ASGI app: kubegate's, or Starlette's
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


def families(text: bytes) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text.decode())}


# --- the API, in this process (prometheus_client's default registry) ---


def test_counters_move_and_render_parses() -> None:
    labels = {"kind": "authorization", "cluster": "unit", "outcome": "allowed"}
    reviews = value("kubegate_webhook_requests_total", **labels)
    observed = value("kubegate_webhook_duration_seconds_count", kind="authorization")
    fast = value("kubegate_webhook_duration_seconds_bucket", kind="authorization", le="5e-05")
    metrics.webhook_review("authorization", "unit", "allowed", 0.00004)
    metrics.webhook_review("authorization", "unit", "allowed", 0.3)
    assert value("kubegate_webhook_requests_total", **labels) == reviews + 2
    assert value("kubegate_webhook_duration_seconds_count", kind="authorization") == observed + 2
    assert value("kubegate_webhook_duration_seconds_bucket", kind="authorization", le="5e-05") == fast + 1

    hits, misses = value("kubegate_token_cache_total", result="hit"), value("kubegate_token_cache_total", result="miss")
    metrics.token_cache(True)
    metrics.token_cache(False)
    metrics.token_cache(False)
    assert value("kubegate_token_cache_total", result="hit") == hits + 1
    assert value("kubegate_token_cache_total", result="miss") == misses + 2

    calls = value("kubegate_management_requests_total", service="eks", operation="ListClusters", code="OK")
    metrics.management_call("eks", "ListClusters", "OK")
    assert value("kubegate_management_requests_total", service="eks", operation="ListClusters", code="OK") == calls + 1
    errors = value("kubegate_database_errors_total", where="unit")
    metrics.database_error("unit")
    assert value("kubegate_database_errors_total", where="unit") == errors + 1

    metrics.snapshot("unit", 12, 1_700_000_000.5)
    metrics.database_reachable(False, 1_700_000_100.0)
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain") and "version=" in content_type
    parsed = families(body)
    assert parsed["kubegate_webhook_requests"].type == "counter"
    assert parsed["kubegate_webhook_duration_seconds"].type == "histogram"
    histogram = parsed["kubegate_webhook_duration_seconds"].samples
    buckets = {s.labels["le"] for s in histogram if s.name.endswith("_bucket")}
    assert {"5e-05", "1.0", "+Inf"} <= buckets
    revision = [s for s in parsed["kubegate_snapshot_revision"].samples if s.labels == {"cluster": "unit"}]
    assert [s.value for s in revision] == [12]
    assert value("kubegate_snapshot_built_timestamp_seconds", cluster="unit") == 1_700_000_000.5
    assert value("kubegate_database_up") == 0
    assert value("kubegate_database_stale_since_timestamp_seconds") == 1_700_000_100.0

    metrics.database_reachable(True, 1_700_000_200.0)
    assert value("kubegate_database_up") == 1 and value("kubegate_database_stale_since_timestamp_seconds") == 0
    metrics.forget_snapshot("unit")
    assert REGISTRY.get_sample_value("kubegate_snapshot_revision", {"cluster": "unit"}) is None
    after = families(metrics.render()[0])
    for name in ("kubegate_snapshot_revision", "kubegate_snapshot_built_timestamp_seconds"):
        assert all(s.labels.get("cluster") != "unit" for s in after[name].samples)


def test_metrics_endpoint_answers_the_exposition() -> None:
    metrics.management_call("sts", "GetCallerIdentity", "OK")
    client = Client(Starlette(routes=[Route("/metrics", metrics.metrics_endpoint)]))
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert "kubegate_management_requests" in families(response.content)


def test_worker_exited_is_a_no_op_outside_multiprocess_mode() -> None:
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    metrics.worker_exited(os.getpid())


# --- multiprocess mode, in subprocesses (the mode is fixed when prometheus_client is imported) ---

WORKER = """
import os, sys
from kubegate.api import metrics
revision, built, up, since = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "up", float(sys.argv[4])
for _ in range(revision):
    metrics.webhook_review("authentication", "mp", "authenticated", 0.0002)
metrics.token_cache(True)
metrics.management_call("eks", "ListClusters", "OK")
metrics.snapshot("mp", revision, built)
metrics.snapshot("gone", 1, 1.0)
metrics.forget_snapshot("gone")
metrics.database_reachable(up, since)
print(os.getpid())
"""

SCRAPE = """
import sys
from kubegate.api import metrics
for pid in sys.argv[1:]:
    metrics.worker_exited(int(pid))
sys.stdout.buffer.write(metrics.render()[0])
"""


def run(script: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(script), *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_multiprocess_mode_merges_the_workers(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run(WORKER, env, "7", "200.0", "up", "0")
    last = run(WORKER, env, "5", "100.0", "down", "50.0").strip()
    merged = samples(run(SCRAPE, env))
    reviews = ("kubegate_webhook_requests_total", (("cluster", "mp"), ("kind", "authentication"),
                                                   ("outcome", "authenticated")))
    assert merged[reviews] == 12
    assert merged[("kubegate_webhook_duration_seconds_count", (("kind", "authentication"),))] == 12
    assert merged[("kubegate_token_cache_total", (("result", "hit"),))] == 2
    assert merged[("kubegate_token_cache_total", (("result", "miss"),))] == 0
    assert merged[("kubegate_management_requests_total", (("code", "OK"), ("operation", "ListClusters"),
                                                          ("service", "eks")))] == 2
    assert merged[("kubegate_snapshot_revision", (("cluster", "mp"),))] == 7  # livemax, no pid label
    assert merged[("kubegate_snapshot_built_timestamp_seconds", (("cluster", "mp"),))] == 200
    assert merged[("kubegate_snapshot_revision", (("cluster", "gone"),))] == 0  # forgotten: 0, no warning
    assert merged[("kubegate_database_up", ())] == 0  # livemostrecent: the last report, by any worker
    assert merged[("kubegate_database_stale_since_timestamp_seconds", ())] == 50

    after = samples(run(SCRAPE, env, last))  # the last worker exited: its live gauges go, its counts stay
    assert after[reviews] == 12
    assert after[("kubegate_database_up", ())] == 1
    assert after[("kubegate_database_stale_since_timestamp_seconds", ())] == 0
    assert after[("kubegate_snapshot_revision", (("cluster", "mp"),))] == 7


# --- the call sites, through kubegate composed in this process ---


@dataclasses.dataclass
class InProcess:
    kubegate: Kubegate
    client: Client
    key: tuple[str, str]
    account: str


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.body


def aws_client(kg: InProcess, service: str, key: tuple[str, str]) -> Any:
    """A botocore client whose requests go to the in-process app instead of the network."""
    session = botocore.session.get_session()
    session.set_credentials(*key)
    client = session.create_client(service, region_name=REGION, endpoint_url="https://testserver")

    def send(request: Any, **kwargs: Any) -> AWSResponse:
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        response = kg.client.request(request.method, request.url, headers=dict(request.headers), content=body)
        return AWSResponse(request.url, response.status_code, dict(response.headers), _Raw(response.content))

    client.meta.events.register("before-send", send)
    return client


@pytest.fixture(scope="module")
def kg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    data_dir = DataDir(tmp_path_factory.mktemp("metrics") / "data")
    config = data_dir.initialize(region=REGION, host="127.0.0.1", port=PORT)
    kubegate = build(data_dir, config, database_url=None, settle_seconds=0, aws_sts=False)
    kubegate.service.create_cluster(
        Caller.root(config.account_id), name="m", role_arn=f"arn:aws:iam::{config.account_id}:role/eks",
        spec={"resourcesVpcConfig": {"subnetIds": ["s"]}}, access_config={"authenticationMode": "API"},
    )
    snapshot = kubegate.registry.snapshot("m")
    assert snapshot is not None
    certificate = ClientCertificate({"commonName": "m", "organizationName": WEBHOOK_ORGANIZATION},
                                    (snapshot.webhook_identity,))
    bootstrap = data_dir.bootstrap_key()
    client = Client(_WithClientCertificate(kubegate.app, certificate))
    yield InProcess(kubegate, client, (bootstrap.access_key_id, bootstrap.secret_access_key), config.account_id)
    kubegate.store.close()


def token_review(kg: InProcess, cluster: str, token: str) -> dict[str, Any]:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    response = kg.client.post(f"/k8s/clusters/{cluster}/authenticate", content=json.dumps(body))
    return {"status_code": response.status_code, **response.json()["status"]}


def reviews(kind: str, cluster: str, outcome: str) -> float:
    return value("kubegate_webhook_requests_total", kind=kind, cluster=cluster, outcome=outcome)


def test_token_webhook_counts_outcomes_and_cache(kg: InProcess) -> None:
    session = botocore.session.get_session()
    session.set_credentials(*kg.key)
    sts = token_maker.new_sts_client(region=REGION, endpoint_url=f"https://127.0.0.1:{PORT}", session=session)
    token = token_maker.make_token(sts, "m")
    before = {outcome: reviews("authentication", "m", outcome) for outcome in ("authenticated", "unauthenticated")}
    hits, misses = value("kubegate_token_cache_total", result="hit"), value("kubegate_token_cache_total", result="miss")
    stranger = reviews("authentication", "unknown", "forbidden")
    calls = value("kubegate_management_requests_total", service="sts", operation="GetCallerIdentity", code="OK")
    count = value("kubegate_webhook_duration_seconds_count", kind="authentication")

    assert token_review(kg, "m", token)["authenticated"] is True  # verified by the embedded STS: a miss
    assert token_review(kg, "m", token)["authenticated"] is True  # then from the cache: a hit
    assert token_review(kg, "m", "k8s-aws-v1.bm90IGEgdXJs")["authenticated"] is False  # a miss, refused
    assert token_review(kg, "no-such-cluster", token)["status_code"] == 403

    assert reviews("authentication", "m", "authenticated") == before["authenticated"] + 2
    assert reviews("authentication", "m", "unauthenticated") == before["unauthenticated"] + 1
    assert reviews("authentication", "unknown", "forbidden") == stranger + 1  # no series per made-up name
    assert value("kubegate_token_cache_total", result="hit") == hits + 1
    assert value("kubegate_token_cache_total", result="miss") == misses + 2
    assert value("kubegate_webhook_duration_seconds_count", kind="authentication") == count + 4
    # the embedded STS's in-process GetCallerIdentity is part of the review, not a management call
    assert value("kubegate_management_requests_total", service="sts", operation="GetCallerIdentity",
                 code="OK") == calls


def test_authorization_webhook_counts_outcomes(kg: InProcess) -> None:
    def sar(spec: dict[str, Any]) -> int:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}, **spec}}
        return kg.client.post("/k8s/clusters/m/authorize", content=json.dumps(body)).status_code

    before = {outcome: reviews("authorization", "m", outcome) for outcome in ("no-opinion", "invalid", "error")}
    assert sar({"user": "someone"}) == 200  # no IAM extra: no opinion
    assert kg.client.post("/k8s/clusters/m/authorize", content=b"{").status_code == 400
    assert sar({"user": "someone", "groups": 5}) == 500  # a review kubegate cannot read: fails closed
    assert reviews("authorization", "m", "no-opinion") == before["no-opinion"] + 1
    assert reviews("authorization", "m", "invalid") == before["invalid"] + 1
    assert reviews("authorization", "m", "error") == before["error"] + 1

    stranger = reviews("authorization", "unknown", "forbidden")
    assert kg.client.post("/k8s/clusters/nope/authorize", content=b"{}").status_code == 403
    assert reviews("authorization", "unknown", "forbidden") == stranger + 1


def test_management_calls_count_operation_and_code(kg: InProcess) -> None:
    def calls(service: str, operation: str, code: str) -> float:
        return value("kubegate_management_requests_total", service=service, operation=operation, code=code)

    before = {
        "ok": calls("eks", "ListClusters", "OK"),
        "missing": calls("eks", "DescribeCluster", "ResourceNotFoundException"),
        "signature": calls("eks", "unknown", "InvalidSignatureException"),
        "iam": calls("iam", "GetUser", "OK"),
    }
    eks = aws_client(kg, "eks", kg.key)
    assert "m" in eks.list_clusters()["clusters"]
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_cluster(name="absent")
    forged = aws_client(kg, "eks", (kg.key[0], "not-the-secret"))
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        forged.list_clusters()
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    aws_client(kg, "iam", kg.key).get_user()

    assert calls("eks", "ListClusters", "OK") == before["ok"] + 1
    assert calls("eks", "DescribeCluster", "ResourceNotFoundException") == before["missing"] + 1
    assert calls("eks", "unknown", "InvalidSignatureException") == before["signature"] + 1  # never decoded
    assert calls("iam", "GetUser", "OK") == before["iam"] + 1


def test_internal_errors_are_counted_with_their_code() -> None:
    """A handler that raises (written here to raise; kubegate's own do not on any input the tests send)."""

    def boom(*args: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    api = dataclasses.replace(sts_api(None), run=boom)  # type: ignore[arg-type]  # the service is never reached
    endpoint = AwsEndpoint([api], None, lambda: datetime.now(timezone.utc), region=REGION)  # type: ignore[arg-type]
    client = Client(Starlette(routes=[Route("/", endpoint.endpoint, methods=["POST"])]))
    before = value("kubegate_management_requests_total", service="sts", operation="AssumeRoleWithWebIdentity",
                   code="InternalFailure")
    form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleSessionName": "session",
            "RoleArn": "arn:aws:iam::111122223333:role/r", "WebIdentityToken": "t" * 10}
    assert client.post("/", data=form).status_code == 500
    assert value("kubegate_management_requests_total", service="sts", operation="AssumeRoleWithWebIdentity",
                 code="InternalFailure") == before + 1
