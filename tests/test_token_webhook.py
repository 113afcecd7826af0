"""The TokenReview webhook, posted exactly as a kube-apiserver posts it, with real tokens.

Tokens come from `kubegate token`, from the AWS CLI's `aws eks get-token`, and from
botocore directly; the embedded STS verifies them. The webhook's client certificate
comes from `kubegate webhook-config`, as a kube-apiserver's would.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest
import yaml

from conftest import BIN, SAMPLES, Server, ensure_role, eventually, trust_policy
from kubegate.identity import token_maker


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


class Apiserver:
    """Posts TokenReviews the way kube-apiserver does, with the webhook kubeconfig's certificate."""

    def __init__(self, server: Server, cluster: str, out: Path) -> None:
        subprocess.run([str(BIN / "kubegate"), "webhook-config", "--data-dir", str(server.data_dir),
                        "--cluster", cluster, "--out", str(out)], check=True, capture_output=True)
        config = yaml.safe_load((out / "authn.kubeconfig").read_text())
        self.url = config["clusters"][0]["cluster"]["server"]
        user = config["users"][0]["user"]
        (out / "client.crt").write_bytes(base64.b64decode(user["client-certificate-data"]))
        (out / "client.key").write_bytes(base64.b64decode(user["client-key-data"]))
        (out / "ca.crt").write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
        context = ssl.create_default_context(cafile=str(out / "ca.crt"))
        context.load_cert_chain(str(out / "client.crt"), str(out / "client.key"))
        self.client = httpx.Client(verify=context, timeout=30)  # as long as the ?timeout=30s a kube-apiserver asks for

    def review(self, token: str, *, version: str = "v1", url: str | None = None) -> httpx.Response:
        body = sample("v1.36-tokenreview-request.json")
        body["apiVersion"] = f"authentication.k8s.io/{version}"
        body["spec"]["token"] = token
        headers = {"Content-Type": "application/json", "Accept": "application/json, */*",
                   "User-Agent": "Go-http-client/1.1"}
        return self.client.post((url or self.url) + "?timeout=30s", content=json.dumps(body), headers=headers)

    def status(self, token: str, **kwargs: Any) -> dict[str, Any]:
        response = self.review(token, **kwargs)
        assert response.status_code == 200, response.text
        assert response.json()["kind"] == "TokenReview"
        return dict(response.json()["status"])


def token_for(server: Server, key: tuple[str, ...], cluster: str) -> str:
    session = botocore.session.get_session()
    session.set_credentials(*key)
    sts = token_maker.new_sts_client(region="us-east-1", endpoint_url=server.endpoint, verify=server.ca, session=session)
    return token_maker.make_token(sts, cluster)


def user_key(server: Server, name: str) -> tuple[str, str, str]:
    iam = server.client("iam")
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"], user["Arn"]


def assume(server: Server, key: tuple[str, str], role_arn: str, session_name: str) -> tuple[str, str, str]:
    creds = server.client("sts", key=key).assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]


@pytest.fixture(scope="module")
def wh(server: Server) -> Any:
    eks = server.client("eks")
    eks.create_cluster(name="wh", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    with tempfile.TemporaryDirectory() as out:
        yield Apiserver(server, "wh", Path(out))
    eks.delete_cluster(name="wh")


def test_iam_user_entry(server: Server, wh: Apiserver) -> None:
    access_key, secret, arn = user_key(server, "wh-alice")
    server.client("eks").create_access_entry(clusterName="wh", principalArn=arn, kubernetesGroups=["devs"])
    status = wh.status(token_for(server, (access_key, secret), "wh"))
    user_id = server.client("iam").get_user(UserName="wh-alice")["User"]["UserId"]
    assert status["authenticated"] is True
    assert status["user"] == {
        "username": arn,
        "uid": f"aws-iam-authenticator:{server.account()}:{user_id}",
        "groups": ["devs"],
        "extra": {
            "arn": [arn], "canonicalArn": [arn], "sessionName": [""], "accessKeyId": [access_key],
            "principalId": [user_id], "sigs.k8s.io/aws-iam-authenticator/principalId": [user_id],
        },
    }
    assert status["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    assert wh.status(token_for(server, (access_key, secret), "wh"), version="v1beta1")["authenticated"] is True


def test_assumed_role_with_path_and_session_name(server: Server, wh: Apiserver) -> None:
    access_key, secret, user_arn = user_key(server, "wh-bob")
    iam = server.client("iam")
    role = iam.create_role(RoleName="wh-dev", Path="/teams/a/", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]
    server.client("eks").create_access_entry(clusterName="wh", principalArn=role["Arn"])
    session = assume(server, (access_key, secret), role["Arn"], "bob@example.com")
    status = wh.status(token_for(server, session, "wh"))
    acct = server.account()
    assert status["user"]["username"] == f"arn:aws:sts::{acct}:assumed-role/wh-dev/bob-example.com"
    assert status["user"]["uid"] == f"aws-iam-authenticator:{acct}:{role['RoleId']}"
    assert status["user"]["extra"]["canonicalArn"] == [f"arn:aws:iam::{acct}:role/wh-dev"]
    assert status["user"]["extra"]["sessionName"] == ["bob@example.com"]
    assert "groups" not in status["user"]


def test_recreated_role_does_not_inherit_the_entry(server: Server, wh: Apiserver) -> None:
    access_key, secret, user_arn = user_key(server, "wh-carol")
    iam = server.client("iam")
    role = iam.create_role(RoleName="wh-gone", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]
    server.client("eks").create_access_entry(clusterName="wh", principalArn=role["Arn"])
    iam.delete_role(RoleName="wh-gone")
    iam.create_role(RoleName="wh-gone", AssumeRolePolicyDocument=trust_policy(user_arn))
    status = wh.status(token_for(server, assume(server, (access_key, secret), role["Arn"], "carol"), "wh"))
    assert status["authenticated"] is False and "is not mapped" in status["error"]


def test_node_entry_resolves_the_private_dns_name(server: Server, wh: Apiserver) -> None:
    access_key, secret, user_arn = user_key(server, "wh-ec2")
    iam = server.client("iam")
    role = iam.create_role(RoleName="wh-nodes", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]
    server.client("eks").create_access_entry(clusterName="wh", principalArn=role["Arn"], type="EC2_LINUX")
    node = assume(server, (access_key, secret), role["Arn"], "i-0123456789abcdef0")
    refused = wh.status(token_for(server, node, "wh"))
    assert refused["authenticated"] is False and "i-0123456789abcdef0 is not registered" in refused["error"]
    subprocess.run([str(BIN / "kubegate"), "nodes", "register", "--data-dir", str(server.data_dir),
                    "--instance-id", "i-0123456789abcdef0", "--private-dns-name", "ip-10-0-0-1.ec2.internal"],
                   check=True, capture_output=True)
    def registered() -> dict[str, Any] | None:
        answer = wh.status(token_for(server, node, "wh"))
        return answer if answer["authenticated"] else None

    status = eventually(registered)  # the CLI wrote the database; the server's sync picks it up
    assert status["user"]["username"] == "system:node:ip-10-0-0-1.ec2.internal"
    assert status["user"]["groups"] == ["system:nodes"]


def test_aws_auth_and_modes(server: Server, wh: Apiserver, tmp_path: Path) -> None:
    access_key, secret, user_arn = user_key(server, "wh-dave")
    iam = server.client("iam")
    mapped = iam.create_role(RoleName="wh-mapped", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]
    both = iam.create_role(RoleName="wh-both", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]
    mapped_user_key = user_key(server, "wh-mapped-user")
    config_map = {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": {
            "mapRoles": yaml.safe_dump([
                {"rolearn": mapped["Arn"], "username": "mapped:{{SessionName}}", "groups": ["viewers"]},
                {"rolearn": both["Arn"], "username": "from-aws-auth", "groups": ["system:masters"]},
            ]),
            "mapUsers": yaml.safe_dump([
                {"userarn": mapped_user_key[2], "username": "erin", "groups": ["editors"]},
            ]),
            "mapAccounts": yaml.safe_dump([server.account()]),
        },
    }
    path = tmp_path / "aws-auth.yaml"
    path.write_text(yaml.safe_dump(config_map))
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\n"
                   "data:\n  mapRoles: |\n    - rolearn: [unclosed\n")
    kubegate = [str(BIN / "kubegate"), "awsauth", "set", "--data-dir", str(server.data_dir), "--cluster", "wh"]
    subprocess.run([*kubegate, "-f", str(path)], check=True, capture_output=True)
    server.client("eks").create_access_entry(clusterName="wh", principalArn=both["Arn"], kubernetesGroups=["readers"])

    def status(role_arn: str) -> dict[str, Any]:
        token = token_for(server, assume(server, (access_key, secret), role_arn, "dave"), "wh")

        def settled() -> dict[str, Any] | None:
            answer = wh.status(token)
            return answer if answer["authenticated"] or "not mapped" not in answer["error"] else None

        return eventually(settled) or wh.status(token)

    assert status(mapped["Arn"])["user"]["username"] == "mapped:dave"
    # An invalid version is refused with its line and reason; the stored one keeps serving.
    refused = subprocess.run([*kubegate, "-f", str(bad)], capture_output=True, text=True)
    assert refused.returncode != 0 and "mapRoles" in refused.stderr and "line" in refused.stderr
    assert status(mapped["Arn"])["user"]["username"] == "mapped:dave"
    by_user = wh.status(token_for(server, mapped_user_key[:2], "wh"))
    assert (by_user["user"]["username"], by_user["user"]["groups"]) == ("erin", ["editors"])
    # mapAccounts: any principal of the account, as its canonical ARN and no groups.
    unlisted = iam.create_role(RoleName="wh-unlisted", AssumeRolePolicyDocument=trust_policy(user_arn))["Role"]
    by_account = status(unlisted["Arn"])["user"]
    assert by_account["username"] == unlisted["Arn"] and "groups" not in by_account
    assert status(mapped["Arn"])["user"]["groups"] == ["viewers"]
    # Both sources know wh-both: the access entry wins, wholly (no system:masters).
    assert status(both["Arn"])["user"]["groups"] == ["readers"]
    server.client("eks").update_cluster_config(name="wh", accessConfig={"authenticationMode": "API"})
    gone = status(mapped["Arn"])
    assert gone["authenticated"] is False and "API" in gone["error"]


def test_config_map_creator_is_system_masters(server: Server, tmp_path: Path) -> None:
    eks = server.client("eks")
    eks.create_cluster(name="wh-legacy", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]})
    try:
        apiserver = Apiserver(server, "wh-legacy", tmp_path)
        status = apiserver.status(token_for(server, server.credentials(), "wh-legacy"))
        assert status["user"]["username"] == "kubernetes-admin"
        assert status["user"]["groups"] == ["system:masters"]
    finally:
        eks.delete_cluster(name="wh-legacy")


def test_tokens_from_kubegate_token_and_aws_eks_get_token(server: Server, wh: Apiserver) -> None:
    env = server.cli_env()
    out = subprocess.run([str(BIN / "kubegate"), "token", "--cluster", "wh"], env=env, capture_output=True, text=True,
                         check=True).stdout
    credential = json.loads(out)
    assert credential["kind"] == "ExecCredential" and credential["status"]["expirationTimestamp"].endswith("Z")
    status = wh.status(credential["status"]["token"])
    assert status["authenticated"] is True  # the root is the creator: its bootstrap entry maps it
    aws = subprocess.run([str(BIN / "aws"), "eks", "get-token", "--cluster-name", "wh", "--output", "json"],
                         env={**env, "AWS_ENDPOINT_URL_STS": server.endpoint}, capture_output=True, text=True)
    assert aws.returncode == 0, aws.stderr
    assert wh.status(json.loads(aws.stdout)["status"]["token"])["authenticated"] is True


def test_refusals(server: Server, wh: Apiserver, tmp_path: Path) -> None:
    good = token_for(server, server.credentials(), "wh")
    assert wh.status(token_for(server, server.credentials(), "other"))["authenticated"] is False  # bound to a cluster
    status = wh.status("k8s-aws-v1.not-base64!")
    assert status["authenticated"] is False and "not properly formatted" in status["error"]
    nope = subprocess.run([str(BIN / "kubegate"), "webhook-config", "--data-dir", str(server.data_dir),
                           "--cluster", "nope", "--out", str(tmp_path / "nope")], capture_output=True, text=True)
    assert nope.returncode != 0 and "No cluster found for name: nope." in nope.stderr  # no certificate to begin with
    # Without the issued client certificate, no answer about tokens at all.
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca)) as anonymous:
        response = anonymous.post(wh.url, json={**sample("v1.36-tokenreview-request.json"),
                                               "spec": {"token": good}})
    assert response.status_code == 403 and response.json()["status"]["authenticated"] is False
    server.client("eks").create_cluster(name="someone-else", roleArn=ensure_role(server, "eks"),
                                        resourcesVpcConfig={"subnetIds": ["s"]})
    other = Apiserver(server, "someone-else", tmp_path)
    assert other.review(good, url=wh.url).status_code == 403
    malformed = wh.client.post(wh.url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["status"]["authenticated"] is False
    wrong_kind = wh.client.post(wh.url, json={"kind": "SubjectAccessReview", "apiVersion": "v1"})
    assert wrong_kind.status_code == 400


def test_kubectl_runs_the_exec_plugin_from_kubegate_kubeconfig(server: Server, tmp_path: Path) -> None:
    """Real kubectl, real `kubegate kubeconfig` and `kubegate token`; a stand-in apiserver calls the webhook."""
    from standin_apiserver import StandInApiserver

    eks = server.client("eks")
    eks.create_cluster(name="wh-kubectl", roleArn=ensure_role(server, "eks"), resourcesVpcConfig={"subnetIds": ["s"]},
                       accessConfig={"authenticationMode": "API"})
    subprocess.run([str(BIN / "kubegate"), "webhook-config", "--data-dir", str(server.data_dir),
                    "--cluster", "wh-kubectl", "--out", str(tmp_path)], check=True, capture_output=True)
    apiserver = StandInApiserver(tmp_path / "authn.kubeconfig")
    try:
        (tmp_path / "apiserver-ca.crt").write_bytes(apiserver.ca_pem)
        env = server.cli_env()
        subprocess.run([str(BIN / "kubegate"), "cluster", "set-endpoint", "--data-dir", str(server.data_dir),
                        "--name", "wh-kubectl", "--server", apiserver.url,
                        "--certificate-authority", str(tmp_path / "apiserver-ca.crt")], check=True, capture_output=True)
        kubeconfig = subprocess.run([str(BIN / "kubegate"), "kubeconfig", "--cluster", "wh-kubectl"], env=env,
                                    capture_output=True, text=True, check=True).stdout
        (tmp_path / "kubeconfig").write_text(kubeconfig)
        whoami = subprocess.run(["kubectl", "auth", "whoami", "-o", "json"], capture_output=True, text=True,
                                env={**env, "KUBECONFIG": str(tmp_path / "kubeconfig")}, timeout=60)
        assert whoami.returncode == 0, whoami.stderr
        user = json.loads(whoami.stdout)["status"]["userInfo"]
        assert user["username"] == f"arn:aws:iam::{server.account()}:root"  # the creator's bootstrap entry
        assert "system:authenticated" in user["groups"]
        assert apiserver.reviews[-1]["status"]["authenticated"] is True
        # The same kubeconfig with the AWS CLI as the plugin.
        aws_config = subprocess.run([str(BIN / "kubegate"), "kubeconfig", "--cluster", "wh-kubectl", "--aws-cli",
                                     "--user-env", f"AWS_ENDPOINT_URL_STS={server.endpoint}"], env=env,
                                    capture_output=True, text=True, check=True).stdout
        (tmp_path / "kubeconfig-aws").write_text(aws_config)
        whoami = subprocess.run(["kubectl", "auth", "whoami", "-o", "json"], capture_output=True, text=True,
                                env={**env, "KUBECONFIG": str(tmp_path / "kubeconfig-aws")}, timeout=60)
        assert whoami.returncode == 0, whoami.stderr
        # A principal with no entry is Unauthorized, as kubectl shows it.
        iam = server.client("iam")
        iam.create_user(UserName="wh-stranger")
        key = iam.create_access_key(UserName="wh-stranger")["AccessKey"]
        stranger = {**env, "KUBECONFIG": str(tmp_path / "kubeconfig"), "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                    "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        refused = subprocess.run(["kubectl", "auth", "whoami"], capture_output=True, text=True, env=stranger, timeout=60)
        assert refused.returncode != 0 and "Unauthorized" in refused.stderr
    finally:
        apiserver.close()
        eks.delete_cluster(name="wh-kubectl")
