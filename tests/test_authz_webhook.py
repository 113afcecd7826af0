"""The SubjectAccessReview webhook: EKS access policies and scopes, with reasons.

The user in each review is what kubegate's token webhook answered for a real token, as a
kube-apiserver would pass it on.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES, Server, ensure_role, trust_policy
from test_token_webhook import Apiserver, assume, sample, token_for, user_key

POLICY = "arn:aws:eks::aws:cluster-access-policy/"


@pytest.fixture(scope="module")
def authz(server: Server) -> Any:
    eks = server.client("eks")
    eks.create_cluster(name="az", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API"})
    with tempfile.TemporaryDirectory() as out:
        apiserver = Apiserver(server, "az", Path(out))
        apiserver.authz_url = apiserver.url.replace("/authenticate", "/authorize")
        yield apiserver
    eks.delete_cluster(name="az")


def sar(user: dict[str, Any], attributes: dict[str, Any], *, non_resource: bool = False,
        version: str = "v1") -> dict[str, Any]:
    body = copy.deepcopy(sample("v1.36-sar-request-resource-create.json"))
    body["apiVersion"] = f"authorization.k8s.io/{version}"
    spec = body["spec"]
    spec.pop("resourceAttributes")
    spec["nonResourceAttributes" if non_resource else "resourceAttributes"] = attributes
    spec.update(user=user["username"], uid=user["uid"], extra=user["extra"])
    spec["group" if version == "v1beta1" else "groups"] = [*user.get("groups", []), "system:authenticated"]
    return body


def review(apiserver: Apiserver, body: dict[str, Any]) -> dict[str, Any]:
    response = apiserver.client.post(apiserver.authz_url + "?timeout=30s", content=json.dumps(body),
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["kind"] == "SubjectAccessReview" and "denied" not in document["status"]
    return dict(document["status"])


@pytest.fixture(scope="module")
def editor(server: Server, authz: Apiserver) -> dict[str, Any]:
    """A role session whose entry has Edit on team-a and dev-*, View on the cluster."""
    access_key, secret, user_arn = user_key(server, "az-user")
    role = server.client("iam").create_role(RoleName="az-dev", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]
    eks = server.client("eks")
    eks.create_access_entry(clusterName="az", principalArn=role["Arn"], kubernetesGroups=["devs"])
    eks.associate_access_policy(clusterName="az", principalArn=role["Arn"], policyArn=POLICY + "AmazonEKSEditPolicy",
                                accessScope={"type": "namespace", "namespaces": ["team-a", "dev-*"]})
    token = token_for(server, assume(server, (access_key, secret), role["Arn"], "alice"), "az")
    status = authz.status(token)
    assert status["authenticated"] is True
    return {**status["user"], "role_arn": role["Arn"]}


def test_namespace_scoped_edit(authz: Apiserver, editor: dict[str, Any]) -> None:
    create = review(authz, sar(editor, {"namespace": "team-a", "verb": "create", "group": "apps",
                                        "version": "v1", "resource": "deployments"}))
    assert create["allowed"] is True and "AmazonEKSEditPolicy" in create["reason"]
    wildcard = review(authz, sar(editor, {"namespace": "dev-7", "verb": "delete", "version": "v1",
                                          "resource": "configmaps", "name": "x"}))
    assert wildcard["allowed"] is True and "dev-*" in wildcard["reason"]
    secrets = review(authz, sar(editor, {"namespace": "kube-system", "verb": "get", "version": "v1",
                                         "resource": "secrets"}))
    assert secrets["allowed"] is False and secrets["reason"]
    across = review(authz, sar(editor, {"namespace": "", "verb": "list", "version": "v1", "resource": "pods"}))
    assert across["allowed"] is False
    nodes = review(authz, sar(editor, {"verb": "list", "version": "v1", "resource": "nodes"}))
    assert nodes["allowed"] is False
    healthz = review(authz, sar(editor, {"path": "/healthz", "verb": "get"}, non_resource=True))
    assert healthz["allowed"] is False
    beta = review(authz, sar(editor, {"namespace": "team-a", "verb": "create", "group": "apps", "version": "v1",
                                      "resource": "deployments"}, version="v1beta1"))
    assert beta["allowed"] is True


def test_forged_identity_gets_no_policy(authz: Apiserver, editor: dict[str, Any]) -> None:
    attributes = {"namespace": "team-a", "verb": "create", "group": "apps", "version": "v1", "resource": "deployments"}
    impersonated = review(authz, sar({**editor, "username": "mallory"}, attributes))
    assert impersonated["allowed"] is False and "impersonated" in impersonated["reason"]
    wrong_uid = review(authz, sar({**editor, "uid": "uid-mallory"}, attributes))
    assert wrong_uid["allowed"] is False
    no_extra = review(authz, sar({**editor, "extra": {}}, attributes))
    assert no_extra["allowed"] is False and "not authenticated by kubegate" in no_extra["reason"]


def test_principal_id_is_read_from_either_extra_key(authz: Apiserver, editor: dict[str, Any]) -> None:
    """aws-iam-authenticator sets both keys; a review carrying only the short one still finds the entry,
    and the namespaced key, when present, is the one that counts."""
    attributes = {"namespace": "team-a", "verb": "get", "version": "v1", "resource": "pods"}
    aia_key = "sigs.k8s.io/aws-iam-authenticator/principalId"
    short_only = {key: value for key, value in editor["extra"].items() if key != aia_key}
    assert review(authz, sar({**editor, "extra": short_only}, attributes))["allowed"] is True
    other = {**editor["extra"], aia_key: ["AROAOTHERPRINCIPAL"]}
    assert review(authz, sar({**editor, "extra": other}, attributes))["allowed"] is False


def test_cluster_admin_bootstrap_entry(server: Server, authz: Apiserver) -> None:
    root = authz.status(token_for(server, server.credentials(), "az"))["user"]
    for attributes, non_resource in (
        ({"verb": "delete", "version": "v1", "resource": "nodes", "name": "n1"}, False),
        ({"namespace": "", "verb": "list", "version": "v1", "resource": "secrets"}, False),
        ({"path": "/metrics", "verb": "get"}, True),
    ):
        status = review(authz, sar(root, attributes, non_resource=non_resource))
        assert status["allowed"] is True and "AmazonEKSClusterAdminPolicy" in status["reason"]


def test_disassociating_removes_the_permission(server: Server, authz: Apiserver, editor: dict[str, Any]) -> None:
    eks = server.client("eks")
    attributes = {"namespace": "team-a", "verb": "get", "version": "v1", "resource": "pods"}
    assert review(authz, sar(editor, attributes))["allowed"] is True
    eks.disassociate_access_policy(clusterName="az", principalArn=editor["role_arn"], policyArn=POLICY + "AmazonEKSEditPolicy")
    status = review(authz, sar(editor, attributes))
    assert status["allowed"] is False
    eks.associate_access_policy(clusterName="az", principalArn=editor["role_arn"], policyArn=POLICY + "AmazonEKSEditPolicy",
                                accessScope={"type": "namespace", "namespaces": ["team-a", "dev-*"]})


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*sar-request*.json")))
def test_every_sample_gets_a_well_formed_answer(authz: Apiserver, name: str) -> None:
    """The samples' users are not kubegate's: no opinion, with a reason."""
    status = review(authz, json.loads((SAMPLES / name).read_text()))
    assert status["allowed"] is False and status["reason"]


def test_malformed_reviews(authz: Apiserver) -> None:
    for body in (b"{nope", b'{"kind": "TokenReview"}', b'{"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1"}',
                 b'{"kind": "SubjectAccessReview\xff"}', b"[]", b""):
        response = authz.client.post(authz.authz_url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
        document = response.json()
        assert document["kind"] == "SubjectAccessReview" and document["status"]["allowed"] is False, body
        assert document["status"]["reason"] and "denied" not in document["status"]


def test_oversized_reviews_are_refused_in_the_callers_format(authz: Apiserver) -> None:
    padding = {"padding": "x" * 70_000}
    for url, status_key in ((authz.authz_url, "allowed"), (authz.url, "authenticated")):
        response = authz.client.post(url, json={**sample("v1.36-sar-request-resource-create.json"), **padding})
        assert response.status_code == 400
        assert response.json()["status"][status_key] is False and "over 65536 bytes" in response.text


def test_odd_extra_values_get_no_policy(authz: Apiserver, editor: dict[str, Any]) -> None:
    """Extras that are not lists of strings never select an entry (and never crash the webhook)."""
    attributes = {"namespace": "team-a", "verb": "get", "version": "v1", "resource": "pods"}
    numbers = {**editor, "extra": {key: [7] for key in editor["extra"]}}
    assert review(authz, sar(numbers, attributes))["allowed"] is False
    not_lists = sar(editor, attributes)
    not_lists["spec"]["extra"] = {"arn": "x"}
    response = authz.client.post(authz.authz_url, json=not_lists)
    assert response.status_code == 400 and "extra" in response.json()["status"]["reason"]


def test_audit_log_records_decisions_without_tokens(server: Server, authz: Apiserver, editor: dict[str, Any]) -> None:
    review(authz, sar(editor, {"namespace": "team-a", "verb": "get", "version": "v1", "resource": "pods"}))
    lines = [json.loads(line) for line in (server.data_dir / "audit.log").read_text().splitlines()]
    kinds = {line["kind"] for line in lines}
    assert {"authentication", "authorization"} <= kinds
    last = [line for line in lines if line["kind"] == "authorization"][-1]
    assert last["cluster"] == "az" and last["allowed"] is True and last["latency_ms"] >= 0
    assert "k8s-aws-v1." not in (server.data_dir / "audit.log").read_text()


def test_explain_and_who_can(server: Server, authz: Apiserver, editor: dict[str, Any]) -> None:
    import subprocess

    from conftest import BIN

    env = server.cli_env()
    run = lambda *args: subprocess.run([str(BIN / "kubegate"), *args], env=env, capture_output=True, text=True)  # noqa: E731
    allowed = run("explain", "--cluster", "az", "--principal-arn", editor["role_arn"], "--session", "alice",
                  "--verb", "create", "--resource", "deployments", "--group", "apps", "--namespace", "dev-7", "--json")
    assert allowed.returncode == 0, allowed.stderr
    answer = json.loads(allowed.stdout)
    assert answer["allowed"] is True
    assert answer["username"].endswith("assumed-role/az-dev/alice") and answer["groups"] == ["devs"]
    assert any("API" in step for step in answer["steps"])
    assert any("dev-*" in step and "AmazonEKSEditPolicy" in step for step in answer["steps"])
    denied = run("explain", "--cluster", "az", "--principal-arn", editor["role_arn"], "--verb", "get",
                 "--resource", "secrets", "--namespace", "kube-system")
    assert denied.returncode == 0 and "left to RBAC for groups ['devs']" in denied.stdout
    assert "OIDC identity providers are authorized by Kubernetes RBAC only" in denied.stdout
    who = run("who-can", "--cluster", "az", "--verb", "delete", "--resource", "configmaps", "--namespace", "team-a",
              "--json")
    holders = {h["principalArn"] for h in json.loads(who.stdout)["holders"]}
    assert editor["role_arn"] in holders and f"arn:aws:iam::{server.account()}:root" in holders
    nobody = run("who-can", "--cluster", "az", "--verb", "delete", "--resource", "configmaps", "--namespace", "elsewhere",
                 "--json")
    assert {h["principalArn"] for h in json.loads(nobody.stdout)["holders"]} == {f"arn:aws:iam::{server.account()}:root"}
    stranger = server.client("iam").create_access_key(UserName="az-user")["AccessKey"]
    refused = subprocess.run([str(BIN / "kubegate"), "who-can", "--cluster", "az", "--verb", "get", "--resource", "pods"],
                             env={**env, "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                                  "AWS_ACCESS_KEY_ID": stranger["AccessKeyId"],
                                  "AWS_SECRET_ACCESS_KEY": stranger["SecretAccessKey"]},
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "not authorized to perform: eks:ListAccessEntries" in refused.stderr
