"""Running kubegate as several processes: workers on one port, replicas sharing a data dir and a
database, health and metrics for whoever runs them. Real processes, real HTTP."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BIN, Server, ensure_role, free_port, trust_policy
from test_authz_webhook import sar
from test_token_webhook import Apiserver, assume, token_for, user_key

VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
READ_PODS = {"namespace": "dev", "verb": "get", "group": "", "resource": "pods"}


def get(server: Server, path: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca), **kwargs) as client:
        return client.get(server.endpoint + path)


def fresh_review(apiserver: Apiserver, body: dict[str, Any]) -> dict[str, Any]:
    """One SubjectAccessReview on a new connection, so the kernel may hand it to any worker."""
    response = apiserver.client.post(apiserver.authz_url + "?timeout=30s", content=json.dumps(body),
                                     headers={"Content-Type": "application/json", "Connection": "close"})
    assert response.status_code == 200, response.text
    return dict(response.json()["status"])


def viewer(server: Server, cluster: str, tmp_path: Path) -> tuple[Apiserver, dict[str, Any], str]:
    """A cluster in API mode, a role whose entry has View, and its user as the token webhook names it."""
    eks = server.client("eks")
    eks.create_cluster(name=cluster, roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API"})
    access_key, secret, user_arn = user_key(server, f"{cluster}-user")
    role = server.client("iam").create_role(RoleName=f"{cluster}-viewer",
                                            AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]["Arn"]
    eks.create_access_entry(clusterName=cluster, principalArn=role)
    apiserver = at(Apiserver(server, cluster, tmp_path / cluster), server)
    status = apiserver.status(token_for(server, assume(server, (access_key, secret), role, "s1"), cluster))
    assert status["authenticated"], status
    return apiserver, status["user"], role


def at(apiserver: Apiserver, server: Server) -> Apiserver:
    """The webhook client pointed at one replica's own address (a shared data dir names one for all)."""
    path = apiserver.url[apiserver.url.index("/k8s/"):]
    apiserver.url = server.endpoint + path
    apiserver.authz_url = apiserver.url.replace("/authenticate", "/authorize")
    return apiserver


def decisions_within(apiserver: Apiserver, user: dict[str, Any], allowed: bool, seconds: float) -> float:
    """How long after now until 10 reviews in a row (each on a new connection) answer ``allowed``."""
    started = time.monotonic()
    streak = 0
    while time.monotonic() - started < seconds + 5:
        streak = streak + 1 if bool(fresh_review(apiserver, sar(user, READ_PODS)).get("allowed")) is allowed else 0
        if streak == 10:
            return time.monotonic() - started
    raise AssertionError(f"decisions did not become allowed={allowed} within {seconds + 5} s")


def grant_and_revoke(eks: Any, cluster: str, role: str, apiserver: Apiserver, user: dict[str, Any]) -> tuple[float, float]:
    """Associate View, then disassociate it: how long each took to decide 10 fresh reviews in a row."""
    eks.associate_access_policy(clusterName=cluster, principalArn=role, policyArn=VIEW, accessScope={"type": "cluster"})
    granted = decisions_within(apiserver, user, True, 1.0)
    eks.disassociate_access_policy(clusterName=cluster, principalArn=role, policyArn=VIEW)
    return granted, decisions_within(apiserver, user, False, 1.0)


def test_health_readiness_and_metrics(server: Server, tmp_path: Path) -> None:
    assert get(server, "/healthz").text == "ok"
    apiserver, user, role = viewer(server, "ops-metrics", tmp_path)
    eks = server.client("eks")
    eks.associate_access_policy(clusterName="ops-metrics", principalArn=role, policyArn=VIEW,
                                accessScope={"type": "cluster"})
    decisions_within(apiserver, user, True, 1.0)
    ready = get(server, "/readyz")
    assert ready.status_code == 200
    health = ready.json()
    assert health["ready"] is True and health["database"] == "reachable" and health["staleSince"] is None
    assert health["clusters"]["ops-metrics"]["revision"] >= 3
    text = get(server, "/metrics").text  # no signature, no certificate needed by default
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    allowed = samples[("kubegate_webhook_requests_total",
                       (("cluster", "ops-metrics"), ("kind", "authorization"), ("outcome", "allowed")))]
    assert allowed >= 10
    assert samples[("kubegate_management_requests_total",
                    (("code", "OK"), ("operation", "AssociateAccessPolicy"), ("service", "eks")))] >= 1
    assert samples[("kubegate_database_up", ())] == 1
    assert samples[("kubegate_snapshot_revision", (("cluster", "ops-metrics"),))] >= 1  # set by the half-second poll
    assert "secret" not in text.lower() and "aws_secret" not in text.lower()


def test_metrics_can_require_the_webhook_certificate(tmp_path: Path) -> None:
    strict = Server(tmp_path / "data", extra_args=("--metrics-require-client-cert", "--log-format", "json"))
    strict.start()
    try:
        refused = get(strict, "/metrics")
        assert refused.status_code == 403
        apiserver, _, _ = viewer(strict, "ops-strict", tmp_path)
        allowed = apiserver.client.get(strict.endpoint + "/metrics")
        assert allowed.status_code == 200 and "kubegate_webhook_requests_total" in allowed.text
    finally:
        strict.stop()
    lines = [json.loads(line) for line in strict.log().splitlines() if line.startswith("{")]  # --log-format json
    assert any(line["logger"] == "kubegate.api" and "CreateAccessEntry" in line["message"] for line in lines)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)


def test_workers_all_see_a_change_within_a_second(tmp_path: Path) -> None:
    pooled = Server(tmp_path / "data", extra_args=("--workers", "2"))
    pooled.start()
    try:
        pids = subprocess.run(["pgrep", "-P", str(pooled.process.pid)], capture_output=True, text=True)  # type: ignore[union-attr]
        assert len(pids.stdout.split()) == 2  # two workers under the supervisor
        apiserver, user, role = viewer(pooled, "ops-workers", tmp_path)
        granted, revoked = grant_and_revoke(pooled.client("eks"), "ops-workers", role, apiserver, user)
        assert granted < 1.0 and revoked < 1.0, (granted, revoked)
        text = get(pooled, "/metrics").text  # either worker answers with both workers' counts
        reviews = sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                      if s.name == "kubegate_webhook_requests_total" and s.labels.get("cluster") == "ops-workers")
        assert reviews >= 21  # the token review and at least 20 SubjectAccessReviews, whichever worker took them
    finally:
        assert pooled.stop() == 0  # both workers drained and the supervisor exited cleanly


def test_replicas_share_an_initialized_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port_a, port_b = free_port(), free_port()
    public = f"https://localhost:{port_a}"
    init = subprocess.run([str(BIN / "kubegate"), "init", "--data-dir", str(data), "--public-url", public],
                          capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    config = (data / "config.json").read_text()
    a = Server(data, port=port_a)
    b = Server(data, port=port_b)
    a.start()
    b.start()
    try:
        assert (data / "config.json").read_text() == config  # replicas only read the shared data dir
        env = subprocess.run([str(BIN / "kubegate"), "env", "--data-dir", str(data)], capture_output=True, text=True)
        assert f"export AWS_ENDPOINT_URL={public}" in env.stdout
        eks = a.client("eks")
        eks.create_cluster(name="shared", roleArn=ensure_role(a, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                           accessConfig={"authenticationMode": "API"})
        access_key, secret, user_arn = user_key(a, "shared-user")
        eks.create_access_entry(clusterName="shared", principalArn=user_arn)
        apiserver_b = Apiserver(b, "shared", tmp_path / "b")
        # a token presigned for the public URL (replica A's address), reviewed by replica B
        token = token_for(a, (access_key, secret), "shared")
        deadline = time.monotonic() + 2
        while not (status := apiserver_b.status(token))["authenticated"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status["authenticated"] and status["user"]["username"] == user_arn
        context = ssl.create_default_context(cafile=str(data / "ca.crt"))
        with urllib.request.urlopen(f"https://localhost:{port_b}/readyz", context=context) as answer:
            assert json.loads(answer.read())["clusters"]["shared"]["revision"] >= 2
    finally:
        a.stop()
        b.stop()
    refused = subprocess.run([str(BIN / "kubegate"), "up", "--data-dir", str(data), "--public-url",
                              "https://elsewhere:443"], capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1 and "kubegate init --public-url" in refused.stderr


@pytest.mark.parametrize("url", ["http://lb:8443", "https://lb:8443/path", "lb:8443"])
def test_a_public_url_must_be_https_host_port(tmp_path: Path, url: str) -> None:
    result = subprocess.run([str(BIN / "kubegate"), "init", "--data-dir", str(tmp_path / "d"), "--public-url", url],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "--public-url must be https://HOST[:PORT]" in result.stderr
