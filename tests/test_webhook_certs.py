"""Webhook client certificates belong to one cluster as it now is (security review finding 12).

`kubegate webhook-config` binds the certificate to the cluster's identity (its name and creation
time) and certificate generation; `--rotate` starts a new generation. The webhooks compare both
with the live snapshot: a rotated-out certificate, or one issued for a deleted cluster of the
same name, gets a 403 and no answer about the token.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from conftest import BIN, Server, ensure_role, eventually
from test_token_webhook import sample, token_for


class Kubeconfigs:
    """The certificate of one `kubegate webhook-config` run, posting reviews as kube-apiserver would."""

    def __init__(self, server: Server, cluster: str, out: Path, *extra: str) -> None:
        run = subprocess.run([str(BIN / "kubegate"), "webhook-config", "--data-dir", str(server.data_dir),
                              "--cluster", cluster, "--out", str(out), *extra], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        self.stdout = run.stdout
        authn = yaml.safe_load((out / "authn.kubeconfig").read_text())
        self.authn_url = authn["clusters"][0]["cluster"]["server"]
        self.authz_url = yaml.safe_load((out / "authz.kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
        user = authn["users"][0]["user"]
        self.certificate = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
        (out / "client.crt").write_bytes(base64.b64decode(user["client-certificate-data"]))
        (out / "client.key").write_bytes(base64.b64decode(user["client-key-data"]))
        context = ssl.create_default_context(cafile=server.ca)
        context.load_cert_chain(str(out / "client.crt"), str(out / "client.key"))
        self.http = httpx.Client(verify=context)

    def authenticate(self, token: str) -> httpx.Response:
        return self.http.post(self.authn_url, json={**sample("v1.36-tokenreview-request.json"), "spec": {"token": token}})

    def authorize(self, user: str) -> httpx.Response:
        review = sample("v1.36-sar-request-resource-create.json")
        review["spec"]["user"] = user
        return self.http.post(self.authz_url, json=review)


def create(server: Server, name: str) -> None:
    server.client("eks").create_cluster(name=name, roleArn=ensure_role(server, "eks"),
                                        resourcesVpcConfig={"subnetIds": ["s"]})


def accepted(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json()["status"]["authenticated"] is True


def refused(response: httpx.Response) -> bool:
    """403, and nothing about the token: not who it is, not whether it is any good."""
    if response.status_code != 403:
        return False
    status = response.json()["status"]
    return status == {"authenticated": False, "error": status["error"]} and "certificate" in status["error"]


def test_certificate_names_the_cluster_and_its_identity(server: Server, tmp_path: Path) -> None:
    create(server, "wc-id")
    certificate = Kubeconfigs(server, "wc-id", tmp_path).certificate
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "wc-id"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "kubegate:webhook"
    uris = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier)
    created = server.client("eks").describe_cluster(name="wc-id")["cluster"]["createdAt"]
    prefix, name, created_ms, generation = uris[0].rsplit(":", 3)
    assert (prefix, name, generation) == ("kubegate:cluster", "wc-id", "0")
    assert abs(int(created_ms) - created.timestamp() * 1000) < 1000


def test_rotate_revokes_earlier_certificates(server: Server, tmp_path: Path) -> None:
    create(server, "wc-rot")
    token = token_for(server, server.credentials(), "wc-rot")  # the root created it: its bootstrap entry maps it
    first = Kubeconfigs(server, "wc-rot", tmp_path / "first")
    second = Kubeconfigs(server, "wc-rot", tmp_path / "second")  # without --rotate: both are good
    assert accepted(first.authenticate(token)) and accepted(second.authenticate(token))
    assert first.authorize("kubernetes-admin").status_code == 200
    rotated = Kubeconfigs(server, "wc-rot", tmp_path / "rotated", "--rotate")
    assert "certificate generation 1: earlier certificates for wc-rot are revoked" in rotated.stdout
    assert eventually(lambda: refused(first.authenticate(token)))  # the server's next sync (2 s)
    assert refused(second.authenticate(token))
    assert first.authorize("kubernetes-admin").status_code == 403
    assert accepted(rotated.authenticate(token))
    assert rotated.authorize("kubernetes-admin").status_code == 200
    again = Kubeconfigs(server, "wc-rot", tmp_path / "again", "--rotate")
    assert eventually(lambda: refused(rotated.authenticate(token)))
    assert accepted(again.authenticate(token))


def test_certificate_of_a_deleted_and_recreated_cluster_is_refused(server: Server, tmp_path: Path) -> None:
    create(server, "wc-phoenix")
    token = token_for(server, server.credentials(), "wc-phoenix")
    old = Kubeconfigs(server, "wc-phoenix", tmp_path / "old")
    assert accepted(old.authenticate(token))
    server.client("eks").delete_cluster(name="wc-phoenix")
    create(server, "wc-phoenix")  # the same name and ARN, another cluster
    assert eventually(lambda: refused(old.authenticate(token)))
    assert old.authorize("kubernetes-admin").status_code == 403
    new = Kubeconfigs(server, "wc-phoenix", tmp_path / "new")
    assert accepted(new.authenticate(token))


def test_no_certificate_for_a_cluster_that_does_not_exist(server: Server, tmp_path: Path) -> None:
    for extra in ((), ("--rotate",)):
        run = subprocess.run([str(BIN / "kubegate"), "webhook-config", "--data-dir", str(server.data_dir),
                              "--cluster", "wc-nowhere", "--out", str(tmp_path), *extra], capture_output=True, text=True)
        assert run.returncode != 0 and "No cluster found for name: wc-nowhere." in run.stderr
        assert not (tmp_path / "authn.kubeconfig").exists()


def test_generation_is_not_shown_by_describe_cluster(server: Server, tmp_path: Path) -> None:
    create(server, "wc-quiet")
    Kubeconfigs(server, "wc-quiet", tmp_path, "--rotate")
    described: dict[str, Any] = server.client("eks").describe_cluster(name="wc-quiet")["cluster"]
    assert "webhook" not in json.dumps(described, default=str).lower()


@pytest.mark.parametrize("verb", ["authenticate", "authorize"])
def test_a_certificate_for_another_cluster_is_refused(server: Server, tmp_path: Path, verb: str) -> None:
    create(server, f"wc-mine-{verb}")
    create(server, f"wc-theirs-{verb}")
    theirs = Kubeconfigs(server, f"wc-theirs-{verb}", tmp_path)
    url = (theirs.authn_url if verb == "authenticate" else theirs.authz_url).replace("wc-theirs", "wc-mine")
    body = sample("v1.36-tokenreview-request.json" if verb == "authenticate" else "v1.36-sar-request-resource-create.json")
    assert theirs.http.post(url, json=body).status_code == 403
